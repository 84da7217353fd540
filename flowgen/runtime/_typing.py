"""``assert_never`` on every supported Python (``typing`` has it from 3.11)."""

from __future__ import annotations

import sys
from typing import NoReturn

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover - Python 3.10

    def assert_never(value: NoReturn) -> NoReturn:
        """Fail type checking where a value can still reach this call (and at run time, if it does)."""
        raise AssertionError(f"unhandled value {value!r}")


__all__ = ["assert_never"]
