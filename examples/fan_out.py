"""A parent run fanning out to child runs and gathering their results.

Run it from the repository root (embedded SQLite, no server)::

    python examples/fan_out.py

``yield flowgen.child(workflow, ...)`` starts a durable child run with its own journal and waits
for its result without holding a worker; ``all_of`` gathers several children, returning their
results in declared order. A child that fails raises ``flowgen.ChildWorkflowError`` (with the
child's error as its cause) into the parent. Cancelling the parent cancels its children.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

import flowgen


@flowgen.step(name="fan_out.resize")
def resize(image: str, width: int) -> str:
    print(f"  step: resize {image} to {width}px")
    return f"{image.rsplit('.', 1)[0]}-{width}.jpg"


@flowgen.step(name="fan_out.publish")
def publish(album: str, files: list[str]) -> str:
    print(f"  step: publish {len(files)} files to {album}")
    return f"https://example.com/{album}"


@flowgen.workflow(name="fan_out.thumbnails")
def thumbnails(image: str) -> Generator[Any, Any, list[str]]:
    """One child run: the sizes of one image, resized in parallel."""
    files = yield flowgen.all_of(resize(image, 320), resize(image, 1280))
    return files


@flowgen.workflow(name="fan_out.album")
def album(name: str, images: list[str]) -> Generator[Any, Any, dict[str, Any]]:
    """The parent: one child run per image, then publish everything they produced."""
    per_image = yield flowgen.all_of(*(flowgen.child(thumbnails, image) for image in images))
    files = [file for files in per_image for file in files]
    url = yield publish(name, files)
    return {"url": url, "files": files}


def main() -> None:
    with flowgen.Engine() as engine:
        run = engine.start(album, f"holiday-{uuid.uuid4().hex[:6]}", ["beach.png", "hills.png", "city.png"])
        print(f"{run.run_id} -> {run.result(timeout=60)}")
        children = engine.runs(workflow=thumbnails)
        print(f"child runs: {len([c for c in children if c.parent == run.run_id])}")


if __name__ == "__main__":
    main()
