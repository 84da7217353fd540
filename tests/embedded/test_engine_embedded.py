"""The embedded engine in this process: URL selection, the ``with`` block, the in-process worker."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import flowgen
from flowgen.errors import ConfigurationError, StoreUnavailableError
from flowgen.stores.sqlite import SQLiteStore
from flowgen.transports.local import LocalTransport
from tests.apps import embedded_apps as apps


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory with no ``FLOWGEN_URL``; steps' ledger there too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWGEN_URL", raising=False)
    monkeypatch.setenv("FLOWGEN_TEST_LEDGER", str(tmp_path / "ledger.db"))
    return tmp_path


def test_engine_without_url_uses_a_sqlite_file_in_the_current_directory(in_tmp: Path) -> None:
    with flowgen.Engine(start_workers=False) as engine:
        assert engine.url == "sqlite:///flowgen.sqlite3"
        assert engine.embedded
        assert isinstance(engine.store, SQLiteStore) and isinstance(engine.transport, LocalTransport)
        assert Path(engine.store.path).resolve() == in_tmp / "flowgen.sqlite3"
    assert (in_tmp / "flowgen.sqlite3").is_file()


def test_engine_without_url_prefers_flowgen_url(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWGEN_URL", "sqlite:///from-env.db")

    with flowgen.Engine(start_workers=False) as engine:
        assert engine.url == "sqlite:///from-env.db"

    assert (in_tmp / "from-env.db").is_file()
    assert not (in_tmp / "flowgen.sqlite3").exists()


def test_engine_sqlite_url_with_an_absolute_path(
    in_tmp: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = tmp_path_factory.mktemp("elsewhere") / "runs.db"

    with flowgen.Engine(f"sqlite:///{target}", start_workers=False) as engine:
        assert Path(engine.store.path) == target  # type: ignore[attr-defined]

    assert target.is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://localhost/db", "unsupported engine URL"),
        ("flowgen.sqlite3", "unsupported engine URL"),
        ("sqlite://", "malformed SQLite URL"),
        ("sqlite://host/runs.db", "no host"),
        ("sqlite:///runs.db?mode=ro", "no query string"),
        ("redis://localhost:notaport/0", "malformed Redis URL"),
        ("sqlite:///:memory:", "memory://"),
        ("sqlite:///no/such/directory/runs.db", "does not exist"),
    ],
)
def test_engine_rejects_unsupported_or_malformed_urls_clearly(in_tmp: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        flowgen.Engine(url, start_workers=False)


def test_with_engine_runs_a_workflow_on_its_own_threads_and_stops_them(in_tmp: Path) -> None:
    before = set(threading.enumerate())

    with flowgen.Engine(timer_interval=0.05) as engine:
        ours = [t for t in set(threading.enumerate()) - before if t.name.startswith("flowgen-")]
        assert {t.name for t in ours} >= {
            "flowgen-worker-0",
            "flowgen-timers",
            "flowgen-reconciler",
            "flowgen-leases",
        }
        run = engine.start(apps.order, "o-2", 10.0, 0.2, run_id="o-2")
        # sent before the run waits for it: buffered in the inbox, never lost
        assert run.send_event("shipped", {"carrier": "fedex"}) is True
        result = run.result(timeout=30)
        info = run.status()

    assert result == {
        "payment": "pay-o-2-10.00",
        "tracking": "fedex:box-o-2",
        "notice": "mailed o-2 fedex:box-o-2",
    }
    assert info.status == "completed" and info.journal_length == 7
    assert [row["step"] for row in apps.executions(in_tmp / "ledger.db", "o-2")] == [
        "reserve",
        "charge",
        "pack",
        "label",
        "notify",
    ]
    assert not [t.name for t in ours if t.is_alive()], "the engine's threads outlived the with block"
    with pytest.raises(StoreUnavailableError):
        engine.store.get_run("o-2")


def test_embedded_runs_survive_the_engine_and_are_read_back_by_the_next_one(in_tmp: Path) -> None:
    with flowgen.Engine() as engine:
        run = engine.start(apps.ten_steps, run_id="ten")
        assert run.result(timeout=30) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

    with flowgen.Engine() as engine:
        again = engine.start(apps.ten_steps, run_id="ten")  # idempotent: the finished run
        assert again.result(timeout=5) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        assert [info.run_id for info in engine.runs(status="completed")] == ["ten"]
        assert len(engine.journal("ten")) == 10

    assert len(apps.executions(in_tmp / "ledger.db", "ten")) == 10
