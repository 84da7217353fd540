"""asyncio support: the step loop that runs ``async def`` steps, and :class:`AsyncEngine`.

* :mod:`.loop`: one event loop per process, in its own thread;
* :mod:`.attempts`: one async step attempt (context, timeout that cancels);
* :mod:`.runner`: async step attempts started by worker threads that do not wait for them;
* :mod:`.engine`, :mod:`.handles`, :mod:`.waiting`: the async client (``flowgen.AsyncEngine``).

See docs/asyncio.md.
"""
