"""``verify_runs``: every live run (or exported journal) replayed, every divergence named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowgen
from flowgen.testing import NonDeterminismError, verify_runs
from tests.apps import cli_apps


def test_verify_runs_names_every_live_run_the_new_code_breaks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with flowgen.Engine("memory://") as engine:
        for number in range(2):
            engine.start(cli_apps.evolving, run_id=f"v{number}")
        engine.start(cli_apps.waits, run_id="other")
        engine.start(cli_apps.steps, 1, run_id="done")
        for run_id in ("v0", "v1", "other"):
            engine.wait_for_status(run_id, ["waiting"], 30)
        engine.result("done", timeout=30)
        (tmp_path / "v0.json").write_text(json.dumps(engine.export("v0")))

        same = verify_runs(engine)
        assert sorted(check.run_id for check in same) == ["other", "v0", "v1"]  # in flight only
        assert all(check.ok for check in same)
        assert len(verify_runs(engine, include_finished=True)) == 4

        monkeypatch.setenv("CLI_APPS_VARIANT", "2")
        changed = verify_runs(engine)
        failing = {check.run_id: check.error for check in changed if not check.ok}
        assert sorted(failing) == ["v0", "v1"]
        assert all(
            isinstance(error, NonDeterminismError) and error.position == 0 for error in failing.values()
        )
        (from_file,) = verify_runs(files=[tmp_path / "v0.json"])
        assert not from_file.ok and from_file.source.endswith("v0.json")
        with pytest.raises(ValueError, match="needs an engine"):
            verify_runs()
