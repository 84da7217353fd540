"""Schedules on the testing Runner: virtual days in milliseconds, DST, overlap and catch-up policies."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import flowgen
from flowgen.schedules import Declarations, ScheduleError, ScheduleExistsError, ScheduleNotFoundError
from flowgen.status import RunStatus
from flowgen.testing import Runner
from tests.apps import schedule_apps as apps

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def _ids(runner: Runner) -> list[str]:
    return sorted(info.run_id for info in runner.runs())


def test_30_virtual_days_of_a_nightly_schedule_give_30_runs_with_the_expected_ids() -> None:
    started = time.perf_counter()
    with Runner(start=datetime(2026, 12, 1, 12, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("nightly-report", apps.nightly, cron="0 2 * * *", timezone="Europe/Paris")
        runner.advance("30 days")
        expected = [f"schedule:nightly-report:2026-12-{day:02d}T02:00:00+01:00" for day in range(2, 32)]
        assert _ids(runner) == expected
        assert all(info.status == RunStatus.COMPLETED for info in runner.runs())
        info = runner.schedules.get("nightly-report")
        assert (info.started, info.skipped, info.missed) == (30, 0, 0)
        assert info.next_ticks[0] == datetime(2027, 1, 1, 2, tzinfo=PARIS)
    assert time.perf_counter() - started < 2.0


def test_a_scheduled_run_knows_its_schedule_and_tick_in_steps_arguments_and_run_info() -> None:
    with Runner(start=datetime(2026, 12, 1, 12, tzinfo=timezone.utc)) as runner:
        runner.schedules.create(
            "nightly", apps.nightly, cron="0 2 * * *", timezone="Europe/Paris", args=("us",), tick_arg="tick"
        )
        runner.advance("1 day")
        (info,) = runner.runs()
        assert info.schedule == "nightly"
        assert info.tick == datetime(2026, 12, 2, 2, tzinfo=PARIS)
        assert info.output == {
            "region": "us",
            "tick": "2026-12-02T02:00:00+01:00",
            "seen": {"schedule": "nightly", "tick": "2026-12-02T02:00:00+01:00", "manual": False},
        }
        assert runner.engine.status(info.run_id).tick == info.tick


def test_a_daily_0230_job_runs_once_at_0300_on_the_night_clocks_jump_forward() -> None:
    # Europe/Paris, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    with Runner(start=datetime(2026, 3, 27, 12, tzinfo=PARIS)) as runner:
        runner.schedules.create("early", apps.quick, cron="30 2 * * *", timezone="Europe/Paris")
        runner.advance("3 days")
        assert _ids(runner) == [
            "schedule:early:2026-03-28T02:30:00+01:00",
            "schedule:early:2026-03-29T03:00:00+02:00",
            "schedule:early:2026-03-30T02:30:00+02:00",
        ]
        jump = runner.engine.status("schedule:early:2026-03-29T03:00:00+02:00")
        assert jump.output == "2026-03-29T03:00:00+02:00"
        assert jump.created == datetime(2026, 3, 29, 1, tzinfo=timezone.utc)


def test_a_daily_0130_job_runs_once_on_the_night_0100_to_0200_repeats() -> None:
    # America/New_York, 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    with Runner(start=datetime(2026, 10, 31, 12, tzinfo=NEW_YORK)) as runner:
        runner.schedules.create("late", apps.quick, cron="30 1 * * *", timezone="America/New_York")
        runner.advance("2 days")
        assert _ids(runner) == [
            "schedule:late:2026-11-01T01:30:00-04:00",
            "schedule:late:2026-11-02T01:30:00-05:00",
        ]


def test_an_hourly_job_runs_in_both_occurrences_of_the_repeated_hour() -> None:
    with Runner(start=datetime(2026, 11, 1, 0, 45, tzinfo=NEW_YORK)) as runner:
        runner.schedules.create("hourly", apps.quick, cron="30 * * * *", timezone="America/New_York")
        runner.advance("3 hours")
        assert _ids(runner) == [
            "schedule:hourly:2026-11-01T01:30:00-04:00",
            "schedule:hourly:2026-11-01T01:30:00-05:00",
            "schedule:hourly:2026-11-01T02:30:00-05:00",
        ]


def test_intervals_are_aligned_to_the_epoch_and_ignore_daylight_saving() -> None:
    with Runner(start=datetime(2026, 3, 29, 0, 10, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("quarter", apps.quick, every="15 minutes", timezone="Europe/Paris")
        runner.advance("1 hour")
        ticks = sorted(info.tick for info in runner.runs() if info.tick is not None)
        assert [tick.astimezone(timezone.utc).strftime("%H:%M") for tick in ticks] == [
            "00:15", "00:30", "00:45", "01:00",
        ]  # fmt: skip
        assert [tick.isoformat() for tick in ticks][-1] == "2026-03-29T03:00:00+02:00"


@pytest.mark.parametrize(
    ("overlap", "expected_runs", "skipped", "buffered"),
    [
        ("skip", ["01", "03"], 2, 0),
        ("allow_all", ["01", "02", "03", "04"], 0, 0),
        ("buffer_one", ["01", "02", "03"], 1, 0),
        ("buffer_all", ["01", "02", "03"], 0, 1),
    ],
)
def test_overlap_policies_when_a_tick_comes_while_the_previous_run_is_in_progress(
    overlap: str, expected_runs: list[str], skipped: int, buffered: int
) -> None:
    # Hourly ticks from 01:00 to 04:00; each run sleeps 90 minutes, so every tick finds the
    # previous run in progress (under skip, the 03:00 tick finds the 01:00 run finished).
    with Runner(start=datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("sync", apps.slow, every="1 hour", args=(90,), overlap=overlap)
        runner.advance(timedelta(hours=4))
        ticks = sorted(info.tick.strftime("%H") for info in runner.runs() if info.tick is not None)
        assert ticks == expected_runs
        info = runner.schedules.get("sync")
        assert (info.skipped, len(info.buffered)) == (skipped, buffered)
        if overlap.startswith("buffer"):
            # The 02:00 tick waited for the 01:00 run to finish (at 02:30), and started then.
            started = runner.engine.status("schedule:sync:2026-12-01T02:00:00+00:00").created
            assert datetime(2026, 12, 1, 2, 30, tzinfo=timezone.utc) <= started
            assert started <= datetime(2026, 12, 1, 2, 31, tzinfo=timezone.utc)


def test_buffer_all_runs_every_tick_one_after_the_other() -> None:
    with Runner(start=datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("sync", apps.slow, every="1 hour", args=(90,), overlap="buffer_all")
        runner.advance(timedelta(hours=4))
        runs = sorted(runner.runs(), key=lambda info: info.created)
        for before, after in itertools.pairwise(runs):
            assert before.finished is not None and before.finished <= after.created
        assert runner.schedules.get("sync").buffered  # still behind: each run takes 1.5 ticks


def test_cancel_other_cancels_the_run_in_progress_and_starts_the_new_tick() -> None:
    with Runner(start=datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("sync", apps.slow, every="1 hour", args=(90,), overlap="cancel_other")
        runner.advance(timedelta(hours=2))
        first = runner.engine.status("schedule:sync:2026-12-01T01:00:00+00:00")
        second = runner.engine.status("schedule:sync:2026-12-01T02:00:00+00:00")
        assert first.status == RunStatus.CANCELLED
        assert second.status == RunStatus.WAITING


def test_catchup_after_downtime_skip_latest_and_all_with_max_lateness() -> None:
    outcomes = {}
    for catchup in ("skip", "latest", "all"):
        with Runner(start=datetime(2026, 12, 1, 0, 0, 30, tzinfo=timezone.utc)) as runner:
            runner.schedules.create(
                "hourly",
                apps.quick,
                every="1 hour",
                catchup=catchup,
                max_lateness="10 minutes",
                overlap="allow_all",
            )
            # No worker for 5 hours and 20 minutes: ticks 01:00..05:00 are late when fired.
            runner.clock.move_to(datetime(2026, 12, 1, 5, 20, tzinfo=timezone.utc).timestamp())
            runner.advance(0)
            info = runner.schedules.get("hourly")
            ticks = sorted(i.tick.strftime("%H") for i in runner.runs() if i.tick is not None)
            outcomes[catchup] = (ticks, info.missed)
            runner.advance("40 minutes")  # the 06:00 tick is on time again
            assert (
                runner.engine.status("schedule:hourly:2026-12-01T06:00:00+00:00").status
                == RunStatus.COMPLETED
            )
    assert outcomes == {
        "skip": ([], 5),
        "latest": (["05"], 4),
        "all": (["01", "02", "03", "04", "05"], 0),
    }


def test_a_schedule_whose_runs_fail_keeps_ticking_and_shows_the_failures() -> None:
    with Runner(start=datetime(2026, 12, 1, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("broken", apps.failing, every="1 hour")
        runner.advance("3 hours")
        info = runner.schedules.get("broken")
        assert info.started == 3 and info.failed == 3
        assert [run.status for run in info.runs] == [RunStatus.FAILED] * 3
        assert info.runs[0].error == "builtins.RuntimeError: the report server is down"
        assert info.next_ticks[0] == datetime(2026, 12, 1, 4, tzinfo=ZoneInfo("UTC"))


def test_pause_resume_update_trigger_and_delete() -> None:
    with Runner(start=datetime(2026, 12, 1, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("s", apps.quick, every="1 hour")
        runner.advance("1 hour")
        paused = runner.schedules.pause("s", note="maintenance")
        assert paused.paused and paused.note == "maintenance" and paused.next_ticks == ()
        runner.advance("3 hours")
        assert len(runner.runs()) == 1
        runner.schedules.resume("s")
        runner.advance("1 hour")
        assert len(runner.runs()) == 2  # ticks during the pause are not run
        updated = runner.schedules.update("s", cron="15 * * * *")
        assert updated.every is None and updated.cron == "15 * * * *"
        assert updated.next_ticks[0] == datetime(2026, 12, 1, 5, 15, tzinfo=ZoneInfo("UTC"))
        manual = runner.schedules.trigger("s")
        runner.run_until_idle()
        assert manual.run_id == "schedule:s:2026-12-01T05:00:00+00:00:manual"
        assert runner.engine.status(manual.run_id).schedule == "s"
        assert runner.schedules.get("s").runs[0].manual
        runner.schedules.delete("s")
        with pytest.raises(ScheduleNotFoundError, match="'s'"):
            runner.schedules.get("s")
        runner.advance("2 hours")
        assert len(runner.runs()) == 3
        with pytest.raises(ScheduleNotFoundError):
            runner.schedules.pause("s")


def test_create_refuses_an_existing_name_and_update_keeps_the_next_tick_for_other_settings() -> None:
    with Runner(start=datetime(2026, 12, 1, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("s", apps.nightly, cron="0 2 * * *")
        with pytest.raises(ScheduleExistsError, match="'s' already exists"):
            runner.schedules.create("s", apps.quick, every="1 hour")
        before = runner.schedules.get("s").next_ticks[0]
        after = runner.schedules.update("s", args=("us",), overlap="allow_all")
        assert after.next_ticks[0] == before and after.overlap == "allow_all"
        assert runner.schedules.current_settings("s")["args"] == ("us",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression '61 \\* \\* \\* \\*'"),
        ({"cron": "0 2 * *"}, "invalid cron expression '0 2 \\* \\*'"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"every": 0}, "every must be at least 1 second"),
        ({"every": -5}, "every"),
        ({"every": "soon"}, "'soon'"),
        ({}, "exactly one of cron"),
        ({"cron": "0 2 * * *", "every": "1h"}, "exactly one of cron"),
        (
            {"every": "1h", "args": (1, 2, 3, 4)},
            "do not fit: workflow 'schedules.nightly' cannot be called with",
        ),
        ({"every": "1h", "kwargs": {"colour": "red"}}, "colour"),
        ({"every": "1h", "tick_arg": "when"}, "do not fit"),
        ({"every": "1h", "overlap": "queue"}, "overlap must be one of skip, buffer_one"),
        ({"every": "1h", "catchup": "some"}, "catchup must be one of skip, latest, all"),
        ({"every": "1h", "max_lateness": "forever"}, "'forever'"),
        ({"every": "1h", "args": (object(),)}, "cannot encode the arguments of schedule 'bad'"),
    ],
)
def test_bad_settings_are_refused_naming_the_value_and_nothing_is_stored(
    settings: dict, message: str
) -> None:
    with Runner() as runner:
        with pytest.raises(flowgen.FlowgenError, match=message):
            runner.schedules.create("bad", apps.nightly, **settings)
        assert runner.schedules.list() == []


def test_an_unregistered_workflow_or_a_bad_name_is_refused() -> None:
    with Runner() as runner:
        with pytest.raises(ScheduleError, match=r"'no\.such\.workflow', which is not registered"):
            runner.schedules.create("x", "no.such.workflow", every="1h")
        with pytest.raises(ScheduleError, match="invalid schedule name 'a:b'"):
            runner.schedules.create("a:b", apps.quick, every="1h")
        assert runner.schedules.list() == []


def test_flowgen_schedule_checks_at_declaration_and_nothing_is_declared() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone 'Europe/Pariss'"):
        flowgen.schedule("typo", apps.quick, cron="0 2 * * *", timezone="Europe/Pariss")
    assert all(d.name != "typo" for d in flowgen.schedules.declarations.all())


def test_declared_schedules_are_created_updated_and_undeclared_ones_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Runner(start=datetime(2026, 12, 1, tzinfo=timezone.utc)) as runner:
        code = Declarations()
        code.schedule("a", apps.quick, every="1 hour")
        code.schedule("b", apps.quick, every="1 hour")
        report = runner.schedules.register_declared(code)
        assert (report.created, report.updated) == (["a", "b"], [])
        assert runner.schedules.register_declared(code).unchanged == ["a", "b"]

        changed = Declarations()
        changed.schedule("a", apps.quick, every="2 hours")
        with caplog.at_level("WARNING", logger="flowgen.schedules"):
            report = runner.schedules.register_declared(changed)
        assert report.updated == ["a"] and report.undeclared == ["b"]
        assert runner.schedules.get("a").every == 7200
        assert runner.schedules.get("b").undeclared
        assert "'b' was declared in code but is not declared" in caplog.text
        runner.schedules.create("api-made", apps.quick, every="1 hour")
        report = runner.schedules.register_declared(changed, prune=True)
        assert report.deleted == ["b"]
        assert [info.name for info in runner.schedules.list()] == ["a", "api-made"]


def test_a_declaration_this_engine_cannot_register_is_reported_and_the_others_are_registered() -> None:
    def elsewhere():  # type: ignore[no-untyped-def]
        yield from ()

    declared_with = flowgen.Registry()  # the registry of the code that declares them
    declared_with.add_workflow(apps.quick)
    declared_with.add_workflow(flowgen.Workflow(elsewhere, name="schedules.elsewhere"))
    code = Declarations()
    code.schedule("here", apps.quick, every="1 hour", registry=declared_with)
    code.schedule("there", "schedules.elsewhere", every="1 hour", registry=declared_with)
    engine_registry = flowgen.Registry()  # this engine's: it knows only schedules.quick
    engine_registry.add_workflow(apps.quick)
    with Runner(registry=engine_registry) as runner:
        report = runner.schedules.register_declared(code)
        assert (report.created, report.failed) == (["here"], ["there"])
        assert [info.name for info in runner.schedules.list()] == ["here"]


def test_declaring_one_name_twice_with_other_settings_is_an_error() -> None:
    code = Declarations()
    code.schedule("twice", apps.quick, every="1 hour")
    code.schedule("twice", apps.quick, every="1 hour")  # the same again: a module imported twice
    with pytest.raises(ScheduleError, match="'twice' is declared twice"):
        code.schedule("twice", apps.quick, every="2 hours")


def test_a_fire_whose_state_write_was_lost_starts_no_second_run() -> None:
    with Runner(start=datetime(2026, 12, 1, 0, 59, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("s", apps.quick, every="1 hour")
        store = runner.schedules.store
        real_put = store.put
        lost: list[str] = []

        def put_lost_once(
            name: str, expected: int, spec: str | None, state: str, due: float | None, now: float
        ) -> int | None:
            if not lost and spec is not None:
                lost.append(name)
                return None  # as if the worker died after starting the run, before writing
            return real_put(name, expected, spec, state, due, now)

        store.put = put_lost_once  # type: ignore[method-assign]
        runner.advance("1 minute")
        assert lost == ["s"] and _ids(runner) == ["schedule:s:2026-12-01T01:00:00+00:00"]
        runner.advance("10 seconds")  # the claim lease (5 s) ended: fired again
        assert _ids(runner) == ["schedule:s:2026-12-01T01:00:00+00:00"]
        info = runner.schedules.get("s")
        assert info.started == 1 and info.next_ticks[0] == datetime(2026, 12, 1, 2, tzinfo=ZoneInfo("UTC"))


def test_run_ids_of_schedules_are_reserved() -> None:
    with (
        Runner() as runner,
        pytest.raises(flowgen.InvalidRunIdError, match="reserved for the runs schedules start"),
    ):
        runner.start(apps.quick, run_id="schedule:nightly:2026-12-02T02:00:00+01:00")


def test_runner_advance_across_dst_fires_ticks_at_their_utc_instants() -> None:
    with Runner(start=datetime(2026, 10, 24, 12, tzinfo=PARIS)) as runner:
        runner.schedules.create("nine", apps.quick, cron="0 9 * * *", timezone="Europe/Paris")
        runner.advance("2 days")  # Paris leaves summer time on 2026-10-25 at 03:00
        created = sorted(info.created for info in runner.runs())
        assert created == [
            datetime(2026, 10, 25, 8, tzinfo=timezone.utc),  # 09:00 CET (+01:00)
            datetime(2026, 10, 26, 8, tzinfo=timezone.utc),
        ]
        assert runner.next_timer() == datetime(2026, 10, 27, 8, tzinfo=timezone.utc)


def test_catch_up_all_runs_at_most_1000_ticks_per_fire_and_counts_the_older_ones_missed() -> None:
    with Runner(start=datetime(2026, 12, 1, tzinfo=timezone.utc)) as runner:
        runner.schedules.create("fast", apps.quick, every="1s", catchup="all", overlap="allow_all")
        runner.clock.move_to(datetime(2026, 12, 1, 0, 25, tzinfo=timezone.utc).timestamp())  # 1,500 ticks
        runner.advance(0)
        info = runner.schedules.get("fast", runs=1)
        assert (info.started, info.missed) == (1000, 500)
        assert len(runner.runs()) == 1000
        assert runner.engine.status("schedule:fast:2026-12-01T00:08:21+00:00").status == RunStatus.COMPLETED
        with pytest.raises(flowgen.RunNotFoundError):
            runner.engine.status("schedule:fast:2026-12-01T00:08:20+00:00")


@pytest.mark.parametrize("serializer", ["json", "pickle"])
def test_schedules_work_on_sealed_engines(serializer: str) -> None:
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with Runner(start=start, serializer=serializer, secret_key="k" * 32) as runner:
        runner.schedules.create("sealed", apps.nightly, every="1 hour", args=("us",), tick_arg="tick")
        assert runner.schedules.current_settings("sealed")["args"] == ("us",)
        runner.advance("1 hour")
        (info,) = runner.runs()
        assert info.output["region"] == "us" and info.output["tick"] == "2026-12-01T01:00:00+00:00"


def test_schedule_info_is_none_in_a_run_no_schedule_started() -> None:
    with Runner() as runner:
        run = runner.start(apps.quick)
        assert run.result() == ""
        assert runner.engine.status(run.run_id).schedule is None


def test_a_cron_schedule_idle_for_over_100000_ticks_fires_in_bounded_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flowgen.schedules import ticks

    spec = flowgen.schedules.ScheduleSpec(
        name="m", workflow="w", args="{}", cron="* * * * *", max_lateness=60.0
    )
    first = datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc).timestamp()
    now = first + 200_000 * 60 + 30
    with caplog.at_level("WARNING", logger="flowgen.schedules"):
        due = ticks.due_ticks(spec, first, now)
    assert due.run == [now - 30]  # the one on-time tick
    assert due.missed >= ticks.MAX_SCAN - 1
    assert due.following == now + 30
    assert "more than 100000 ticks were due" in caplog.text
