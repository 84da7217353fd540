"""The stores: the contract (``base.py``), its rules (``logic.py``) and the memory, SQLite and Redis stores.

A regular package (not a namespace one), so that ``packages = find:`` puts it, and its Lua
scripts, in the wheel (tests/test_packaging.py).
"""
