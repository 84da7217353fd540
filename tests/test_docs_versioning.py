"""docs/versioning.md shows tested code: each block it says comes from a file is in that file.

The stories themselves run in tests/testing/test_versioning.py and tests/e2e/test_versioning_workers.py.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "versioning.md"
BLOCK = re.compile(r"^From `(?P<path>[^`]+)`:\n\n```python\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def test_every_block_of_the_page_is_code_of_the_file_it_names() -> None:
    text = PAGE.read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 5
    for block in blocks:
        source = (ROOT / block.group("path")).read_text(encoding="utf-8")
        assert block.group("body") in source, (
            f"this block is not in {block.group('path')}:\n{block.group('body')}"
        )


def test_the_page_tells_each_change_story() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for heading in (
        "### Add a step",
        "### Remove a step",
        "### Change arguments",
        "### Rename",
        "### Retiring a patch",
    ):
        assert heading in text
