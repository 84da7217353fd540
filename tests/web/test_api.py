"""The JSON API of a real ``flowgen dashboard`` process, on SQLite and on Redis.

Each test talks HTTP to the served app (``httpx``, no cookies, like a script), while workers
(an embedded engine on SQLite, a ``flowgen worker`` process on Redis) advance the runs.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import wait_until

from .conftest import Site


def test_start_is_idempotent_and_the_run_completes_after_its_event(site: Site) -> None:
    with site.api() as api:
        first = api.post("/runs", json={"workflow": "web.approval", "args": ["o-1"], "run_id": "api-1"})
        assert first.status_code == 201, first.text
        again = api.post("/runs", json={"workflow": "web.approval", "args": ["o-1"], "run_id": "api-1"})
        assert again.status_code == 201 and again.json()["created"] == first.json()["created"]

        site.wait_status("api-1", "waiting")
        waiting = api.get("/runs/api-1").json()
        assert waiting["waiting_for"] == ["approved"]

        pending = api.get("/runs/api-1/result", params={"timeout": "0.2"})
        assert pending.status_code == 202 and pending.json()["status"] == "waiting"

        sent = api.post(
            "/runs/api-1/events", json={"type": "approved", "payload": {"by": "ada"}, "event_id": "e1"}
        )
        assert sent.json() == {"delivered": True}
        done = api.get("/runs/api-1/result", params={"timeout": "30"})
        assert done.status_code == 200, done.text
        assert done.json()["output"] == {"order": "o-1", "approval": {"by": "ada"}}

        journal = api.get("/runs/api-1/journal").json()["entries"]
        assert [entry["name"] for entry in journal] == ["web.reserve", "approved", "web.ship"]


def test_listing_counts_and_cursor_pages(site: Site) -> None:
    for n in range(7):
        site.engine.start("web.approval", f"o-{n}", run_id=f"list-{n}")
    with site.api() as api:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"workflow": "web.approval", "limit": "3", **({"cursor": cursor} if cursor else {})}
            page = api.get("/runs", params=params).json()
            seen += [run["run_id"] for run in page["runs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(f"list-{n}" for n in range(7))
        assert len(seen) == len(set(seen))
        counts = api.get("/counts", params={"workflow": "web.approval"}).json()
        assert counts["total"] == 7
        assert api.get("/runs", params={"q": "list-3"}).json()["runs"][0]["run_id"] == "list-3"


def test_control_actions(site: Site) -> None:
    site.engine.start("web.approval", "o-c", run_id="ctl-1")
    site.wait_status("ctl-1", "waiting")
    with site.api() as api:
        assert api.post("/runs/ctl-1/pause", json={}).json()["status"] in ("paused", "waiting")
        site.wait_status("ctl-1", "paused")
        assert api.post("/runs/ctl-1/resume", json={}).status_code == 200
        site.wait_status("ctl-1", "waiting")
        cancelled = api.post("/runs/ctl-1/cancel", json={"force": True})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        refused = api.post("/runs/ctl-1/pause", json={})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] in ("run_finished", "invalid_state")
        restarted = api.post("/runs/ctl-1/restart", json={})
        assert restarted.status_code == 200 and restarted.json()["generation"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/runs/no-such-run", None, 404, "run_not_found"),
        ("get", "/runs?status=sleeping", None, 400, "invalid_input"),
        ("get", "/runs?limit=0", None, 400, "invalid_input"),
        ("get", "/runs?cursor=garbage", None, 400, "invalid_input"),
        ("get", "/runs/x/result?timeout=-1", None, 400, "invalid_input"),
        ("post", "/runs", {"args": []}, 400, "invalid_input"),
        ("post", "/runs", {"workflow": "web.approval", "args": {"not": "a list"}}, 400, "invalid_input"),
        ("post", "/runs", {"workflow": "web.approval", "run_id": "bad id with spaces"}, 400, "invalid_input"),
        ("post", "/runs/no-such-run/events", {"type": "x"}, 404, "run_not_found"),
        ("post", "/runs/no-such-run/events", {"payload": 1}, 400, "invalid_input"),
        ("post", "/runs/no-such-run/teleport", {}, 404, "not_found"),
    ],
)
def test_bad_input_is_a_json_error_with_a_stable_code(
    sqlite_site: Site, method: str, path: str, body: object, status: int, code: str
) -> None:
    with sqlite_site.api() as api:
        response = (
            api.request(method.upper(), path, json=body)
            if body is not None
            else api.request(method.upper(), path)
        )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_a_conflicting_start_is_refused_and_changes_nothing(sqlite_site: Site) -> None:
    with sqlite_site.api() as api:
        api.post("/runs", json={"workflow": "web.approval", "args": ["a"], "run_id": "conflict"})
        clash = api.post("/runs", json={"workflow": "web.approval", "args": ["b"], "run_id": "conflict"})
        assert clash.status_code == 409 and clash.json()["error"]["code"] == "run_id_conflict"
    assert sqlite_site.engine.status("conflict").workflow == "web.approval"


def test_a_start_with_arguments_the_workflow_cannot_take_is_refused_naming_them(sqlite_site: Site) -> None:
    # The dashboard runs with -m tests.apps.web_apps: it has the code, so it binds the call.
    with sqlite_site.api() as api:
        refused = api.post("/runs", json={"workflow": "web.approval", "kwargs": {"order": "o-1"}})
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"].startswith(
            "workflow 'web.approval' cannot be called with (order='o-1'): missing a required argument: 'order_id'"
        )
    assert sqlite_site.engine.runs() == []


def test_state_changes_need_a_json_body(sqlite_site: Site) -> None:
    with sqlite_site.api() as api:
        form = api.post(
            "/runs",
            content="workflow=web.approval",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 415 and form.json()["error"]["code"] == "json_required"
        plain = api.post(
            "/runs", content='{"workflow": "web.approval"}', headers={"content-type": "text/plain"}
        )
        assert plain.status_code == 415
    assert sqlite_site.engine.runs() == []


def test_the_openapi_document_describes_every_route(sqlite_site: Site) -> None:
    from flowgen.web import api as api_module

    with sqlite_site.api() as api:
        document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    described = {path.replace("{run_id}", "{run_id:path}") for path in document["paths"]}
    served = {route.path for route in api_module.routes if route.path != "/openapi.json"}
    actions = {f"/runs/{{run_id:path}}/{action}" for action in api_module.ACTIONS}
    assert served - {"/runs/{run_id:path}/{action:str}"} <= described
    assert actions <= described


def test_a_scheduled_run_names_its_schedule_and_tick(sqlite_site: Site) -> None:
    sqlite_site.engine.schedules.create("web-nightly", "web.approval", cron="0 2 * * *", args=("o-s",))
    run_id = sqlite_site.engine.schedules.trigger("web-nightly").run_id
    with sqlite_site.api() as api:
        run = api.get(f"/runs/{run_id}").json()
        assert run["schedule"] == "web-nightly"
        assert run_id == f"schedule:web-nightly:{run['tick']}:manual"


def test_schedules_api(site: Site) -> None:
    site.engine.schedules.create("api-every-hour", "web.approval", every="1 hour", args=("o-h",))
    with site.api() as api:
        listed = api.get("/schedules").json()["schedules"]
        assert [schedule["name"] for schedule in listed] == ["api-every-hour"]
        paused = api.post("/schedules/api-every-hour/pause", json={})
        assert paused.status_code == 200 and paused.json()["paused"] is True
        missing = api.get("/schedules/no-such-schedule")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "schedule_not_found"
        unknown = api.post("/schedules/api-every-hour/explode", json={})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert site.engine.schedules.get("api-every-hour").paused


def test_the_run_page_says_a_run_waits_in_line_for_a_limit(sqlite_site: Site) -> None:
    sqlite_site.engine.start("web.one_at_a_time", "first", run_id="line-1")
    sqlite_site.wait_status("line-1", "waiting")
    sqlite_site.engine.start("web.one_at_a_time", "second", run_id="line-2")
    # Queued at once; blocked_by is known once a worker has tried to admit it and found the slot taken.
    wait_until(lambda: sqlite_site.engine.status("line-2").blocked_by, 30, "line-2 to wait for the limit")
    assert sqlite_site.engine.status("line-2").status == "queued"
    page = httpx.get(f"{sqlite_site.base}/runs/line-2", timeout=30).text
    assert "queued behind concurrency limit run:web.one_at_a_time" in page
    assert "place 1 in line" in page
    assert "waiting for a worker to take it" not in page


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https://evil.example"])
def test_sign_in_never_redirects_off_the_site(target: str) -> None:
    from starlette.testclient import TestClient

    import flowgen.web

    with flowgen.Engine("memory://") as engine:
        security = flowgen.web.WebSecurity(token="t" * 20)
        client = TestClient(flowgen.web.app(engine, security=security), follow_redirects=False)
        response = client.post("/login", params={"next": target}, data={"token": "t" * 20})
    assert response.status_code == 303
    assert response.headers["location"] == "/runs"
