"""A real local HTTP server that answers every request after a fixed delay (200 ms by default).

``python -m benchmarks.slow_http --port P --delay 0.2`` serves ``GET /`` with ``200 ok`` after
``delay`` seconds, HTTP/1.1 keep-alive, on asyncio (so 1,000 requests in flight cost it nothing
but 1,000 sockets). It prints ``ready`` once it listens. The asyncio benchmark calls it from
async steps (``benchmarks.apps.fetch``).
"""

from __future__ import annotations

import argparse
import asyncio

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            await asyncio.sleep(delay)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, delay: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, delay), "127.0.0.1", port, backlog=4096
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    options = parser.parse_args()
    asyncio.run(main(options.port, options.delay))
