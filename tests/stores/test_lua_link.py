"""Each Redis script carries what it uses of the Lua library, and nothing else (stores/lua_link.py)."""

from __future__ import annotations

from importlib import resources

import pytest

from flowgen.stores.lua_link import _code_identifiers, definitions, link
from flowgen.stores.redis import SCRIPTS
from flowgen.stores.redis_flow import FLOW_SCRIPTS

LUA = resources.files("flowgen.stores").joinpath("lua")
LIBRARY = definitions(LUA.joinpath("_lib.lua").read_text() + "\n" + LUA.joinpath("_flow.lua").read_text())
NAMES = frozenset().union(*(definition.names for definition in LIBRARY))


def test_the_library_is_cut_into_its_definitions_with_their_comments() -> None:
    library = definitions(
        "local P\nif #KEYS > 0 then\n  P = KEYS[1]\nend\n\n-- the base\nlocal function base(rid) return P .. rid end\n"
        "local A, B = 1, 2\nlocal function uses_a() return A end\n"
    )
    assert [sorted(definition.names) for definition in library] == [["P"], ["base"], ["A", "B"], ["uses_a"]]
    assert library[0].text.endswith("end")  # the statements after `local P` belong to it
    assert library[1].text.startswith("\n-- the base\n")
    assert link(library, "return 1") == library[0].text + "\nreturn 1"  # the first one always
    assert link(library, "return uses_a()").split("\n")[-3:] == [
        "local A, B = 1, 2",
        "local function uses_a() return A end",
        "return uses_a()",
    ]
    assert library[1].text not in link(library, "-- base is not used here\nreturn uses_a()")


def test_code_before_the_first_definition_is_refused() -> None:
    with pytest.raises(ValueError, match="before its first definition"):
        definitions("redis.call('PING')\nlocal P\n")


@pytest.mark.parametrize("name", [*SCRIPTS, *FLOW_SCRIPTS])
def test_every_script_defines_each_library_name_it_refers_to_and_drops_the_rest(name: str) -> None:
    script = LUA.joinpath(f"{name}.lua").read_text()
    linked = link(LIBRARY, script)
    kept = [definition for definition in LIBRARY if definition.text in linked]
    defined = frozenset().union(*(definition.names for definition in kept))
    assert (_code_identifiers(linked) & NAMES) <= defined
    # order kept: each definition after the ones it follows in the library
    positions = [linked.index(definition.text) for definition in kept]
    assert positions == sorted(positions)
    if name in ("commit", "acquire", "create"):  # the hot scripts leave out the step gates' code
        assert "flow_take" not in defined and "flow_note_parked" not in defined
