"""The Lua scripts and the Python stores speak one vocabulary.

Run statuses, failure reasons and commit operations are defined once in Python
(``flowgen/status.py``, ``flowgen/stores/base.py``); the Redis store's Lua scripts spell the same
words. These tests fail when the two drift apart: a status Lua treats as finished that Python
does not (or the reverse), a status word in a script that is no :class:`RunStatus`, or a commit
operation without its Lua function.
"""

from __future__ import annotations

import re
import typing
from importlib import resources

import pytest
import redis

from flowgen.journal import OpenEntry
from flowgen.status import FINISHED, RunStatus
from flowgen.stores import base
from flowgen.stores.base import CONTROL_ACTIONS, Operation
from flowgen.stores.failures import Reason
from flowgen.stores.flow_logic import FLOW_WORDS
from flowgen.stores.redis import SCRIPTS
from flowgen.stores.redis_flow import PLAIN_FIELD
from flowgen.stores.redis_gates import GATE_WORDS
from flowgen.stores.redis_search import TAGS_FIELD
from flowgen.stores.redis_wire import encode_operation

LUA = resources.files("flowgen.stores").joinpath("lua")


def _script(name: str) -> str:
    return LUA.joinpath(f"{name}.lua").read_text()


@pytest.mark.redis
def test_lua_is_finished_agrees_with_the_finished_statuses(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        probe = _script("_lib") + "\nif is_finished(ARGV[2]) then return 1 end\nreturn 0"
        finished_in_lua = {
            status for status in RunStatus if client.eval(probe, 1, "flowgen", status.value) == 1
        }
    finally:
        client.close()
    assert finished_in_lua == FINISHED


def test_every_quoted_word_of_the_lua_scripts_belongs_to_the_vocabulary() -> None:
    meta_fields = set(
        base.RunRecord(
            "r",
            "wf",
            RunStatus.QUEUED,
            0.0,
            0.0,
            "",
            "",
            output="",
            error={},
            parent="",
            finished=0.0,
            open="",
            trace="",
        ).to_fields()
    )
    vocabulary = (
        {status.value for status in RunStatus}
        | {reason.value for reason in Reason}
        | meta_fields
        | {base.CANCEL_REQUESTED, base.CANCEL_DELIVERED}
        | set(CONTROL_ACTIONS)
        | {"restart", "retry"}  # reset modes
        | _operation_kinds()
        | {"ok", "busy", "duplicate"}  # replies that are no failure
        | {"null"}  # JSON that reset.lua assembles by hand
        | FLOW_WORDS  # flow control (stores/flow_logic.py)
        | GATE_WORDS  # step limits on a cluster (stores/redis_gates.py)
        | {TAGS_FIELD}  # the meta field tag.lua writes (flowgen/stores/redis_search.py)
        | {PLAIN_FIELD}  # no flow document, no branch record (create.lua, _flow.lua; redis_flow.py)
    )
    words = {word for name in ("_lib", *SCRIPTS) for word in re.findall(r"'([a-z_]+)'", _script(name))}
    assert words - vocabulary == set()
    # and the statuses Lua writes or compares are all there, spelled as in Python
    assert {"queued", "running", "waiting", "paused", "cancelled"} <= words


def _samples() -> list[Operation]:
    opened = OpenEntry(0, "step", "s", 0.0, {})
    return [
        base.AppendEntries(()),
        base.ConsumeEvent("go", "e1"),
        base.SetOpen(None),
        base.StartAttempt(opened),
        base.WriteBranch("0/0", None),
        base.SetStatus(RunStatus.RUNNING),
        base.DeliverCancel(),
        base.NewGeneration("{}"),
        base.Park(0),
        base.Finish(RunStatus.COMPLETED),
    ]


def _operation_kinds() -> set[str]:
    return {encode_operation(op, ["", ""])[0] for op in _samples()}


def _arities(commit: str) -> dict[str, int]:
    # the parse loop's chain: ``if kind == 'park' then arity = 4`` (append: 1 + its count)
    return {kind: int(count) for kind, count in re.findall(r"kind == '(\w+)' then arity = (\d+)", commit)}


def test_every_commit_operation_has_a_lua_branch_and_nothing_else_does() -> None:
    assert {type(op) for op in _samples()} == set(typing.get_args(Operation))
    commit = _script("commit")
    branches = set(re.findall(r"if kind == '(\w+)' then", commit))
    assert branches == set(_arities(commit)) == _operation_kinds()


def test_each_encoded_operation_has_the_argument_count_the_lua_script_reads() -> None:
    arities = _arities(_script("commit"))
    for op in _samples():
        kind, *args = encode_operation(op, ["604800.0", "1.0"])
        assert all(isinstance(arg, str) for arg in args), (kind, args)
        expected = 1 + int(args[0]) if kind == "append" else arities[kind]
        assert len(args) == expected, (kind, args)
