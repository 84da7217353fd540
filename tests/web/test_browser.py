"""The dashboard in a real headless Chromium, end to end against a real ``flowgen dashboard``.

Scenarios as an operator lives them: find a run, open its timeline, cancel it from the page,
watch a run change state without reloading, retry every failed run at once, send an event from
the form; and the guarantees: markup in names, payloads and errors never runs, read-only mode
offers no action, a token-protected dashboard asks to sign in.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import wait_until

from .conftest import TOKEN, Site, screenshot

pytestmark = pytest.mark.timeout(300)


def _accept_dialogs(page: Any) -> list[str]:
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return questions


def test_find_a_run_open_its_timeline_and_cancel_it(sqlite_site: Site, page: Any) -> None:
    for n in range(3):
        sqlite_site.engine.start(
            "web.approval", f"o-{n}", run_id=f"find-{n}", tags={"customer": f"c{n}", "region": "eu"}
        )
    for n in range(3):
        sqlite_site.wait_status(f"find-{n}", "waiting")

    page.goto(f"{sqlite_site.base}/runs")
    assert page.locator("[data-count=waiting]").inner_text() == "3"
    screenshot(page, "runs")
    page.fill("input[name=tag]", "customer=c1")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"tag=customer"))
    links = page.locator("a.run-link")
    assert links.all_inner_texts() == ["find-1"]
    assert "customer=c1" in page.locator("table.runs").inner_text()
    links.first.click()

    page.wait_for_url(re.compile(r"/runs/find-1$"))
    rows = page.locator(".tl-row")
    assert rows.count() == 2  # the reserve step, then the open wait
    assert "web.reserve" in rows.nth(0).inner_text()
    assert "approved" in rows.nth(1).inner_text()
    assert "waiting for event 'approved'" in page.locator("#reasons").inner_text()
    screenshot(page, "run-waiting")

    questions = _accept_dialogs(page)
    page.click("form[data-confirm] button[value=cancel]")
    page.wait_for_url(re.compile(r"message="))
    assert questions == ["cancel run find-1?"]
    sqlite_site.wait_status("find-1", "cancelled")
    wait_until(
        lambda: page.locator("#run-status").inner_text() == "cancelled", 30, "the page to show cancelled"
    )
    assert sqlite_site.engine.status("find-0").status == "waiting"


def test_a_run_page_follows_the_run_without_reloading(site: Site, page: Any) -> None:
    site.engine.start("web.approval", "o-live", run_id="live-1")
    site.wait_status("live-1", "waiting")
    page.goto(f"{site.base}/runs/live-1")
    assert page.locator("#run-status").inner_text() == "waiting"
    page.evaluate("window.__sameDocument = true")

    site.engine.send_event("live-1", "approved", {"by": "ops"})

    wait_until(
        lambda: page.locator("#run-status").inner_text() == "completed", 30, "the status to turn completed"
    )
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert '"approval"' in page.locator("#run-output").inner_text()


def test_bulk_retry_of_the_failed_runs(sqlite_site: Site, page: Any) -> None:
    for n in range(3):
        sqlite_site.engine.start("web.flaky", f"job-{n}", run_id=f"flaky-{n}")
    sqlite_site.engine.start("web.approval", "o-keep", run_id="keep")
    for n in range(3):
        sqlite_site.wait_status(f"flaky-{n}", "failed")
    sqlite_site.wait_status("keep", "waiting")

    page.goto(f"{sqlite_site.base}/runs?status=failed")
    assert sorted(page.locator("a.run-link").all_inner_texts()) == ["flaky-0", "flaky-1", "flaky-2"]
    page.select_option("form.bulk select[name=action]", "retry")
    page.click("form.bulk button[type=submit]")
    assert page.locator("#bulk-count").inner_text() == "3"
    screenshot(page, "bulk-confirm")
    page.click("button.danger")
    page.wait_for_url(re.compile(r"/runs\?"))
    assert "retry: 3 runs done" in page.locator(".flash").inner_text()

    for n in range(3):
        assert sqlite_site.wait_status(f"flaky-{n}", "completed").output == f"job-{n}: ok"
    assert sqlite_site.engine.status("keep").status == "waiting"


def test_send_an_event_from_the_form(sqlite_site: Site, page: Any) -> None:
    sqlite_site.engine.start("web.approval", "o-ev", run_id="event-1")
    sqlite_site.wait_status("event-1", "waiting")
    page.goto(f"{sqlite_site.base}/runs/event-1")
    assert page.input_value("form.send-event input[name=type]") == "approved"

    page.fill("form.send-event textarea[name=payload]", "{not json")
    page.click("form.send-event button[type=submit]")
    assert "not valid JSON" in page.locator(".json-error").inner_text()
    assert sqlite_site.engine.status("event-1").status == "waiting"

    page.fill("form.send-event textarea[name=payload]", '{"by": "<b>ada</b>"}')
    page.click("form.send-event button[type=submit]")
    page.wait_for_url(re.compile(r"message="))
    assert "delivered" in page.locator(".flash").inner_text()
    info = sqlite_site.wait_status("event-1", "completed")
    assert info.output == {"order": "o-ev", "approval": {"by": "<b>ada</b>"}}
    wait_until(
        lambda: page.locator("#run-status").inner_text() == "completed", 30, "the page to show completed"
    )
    screenshot(page, "run-completed")


def test_markup_in_names_payloads_and_errors_is_shown_not_run(sqlite_site: Site, page: Any) -> None:
    attack = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"
    sqlite_site.engine.start("web.<script>", attack, run_id="xss-1")
    sqlite_site.wait_status("xss-1", "failed")

    page.goto(f"{sqlite_site.base}/runs")
    assert page.evaluate("window.__pwned") is None
    assert "web.<script>" in page.locator("table.runs").inner_text()

    page.goto(f"{sqlite_site.base}/runs/xss-1")
    assert page.evaluate("window.__pwned") is None
    assert attack in page.locator("#run-inputs").inner_text()
    assert attack in page.locator("section.error").inner_text()
    assert page.locator("script:not([src])").count() == 0
    assert "web.<b>evil</b>" in page.locator(".timeline").inner_text()


def test_read_only_mode_offers_no_action_and_refuses_them(make_sqlite_site: Any, page: Any) -> None:
    site: Site = make_sqlite_site("--read-only")
    site.engine.start("web.approval", "o-ro", run_id="ro-1")
    site.wait_status("ro-1", "waiting")
    page.goto(f"{site.base}/runs/ro-1")
    assert page.locator(".read-only").inner_text() == "read-only"
    assert page.locator("section.actions").count() == 0
    page.goto(f"{site.base}/runs")
    assert page.locator("form.bulk").count() == 0
    with site.api() as api:
        refused = api.post("/runs/ro-1/cancel", json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only"
    assert site.engine.status("ro-1").status == "waiting"


def test_a_token_protects_pages_and_api(make_sqlite_site: Any, page: Any) -> None:
    site: Site = make_sqlite_site(env={"FLOWGEN_DASHBOARD_TOKEN": TOKEN})
    site.engine.start("web.approval", "o-tok", run_id="tok-1")
    with site.api() as api:
        assert api.get("/runs").status_code == 401
        assert api.get("/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    page.goto(f"{site.base}/runs/tok-1")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=token]", "wrong-token-0000000000")
    page.click("button[type=submit]")
    assert "not the dashboard's token" in page.locator(".error-message").inner_text()
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/tok-1$"))
    assert page.locator("#run-id").inner_text() == "tok-1"
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert TOKEN not in cookies["flowgen_auth"]["value"] and cookies["flowgen_auth"]["httpOnly"]


def test_a_form_without_the_csrf_value_is_refused(sqlite_site: Site, page: Any) -> None:
    sqlite_site.engine.start("web.approval", "o-csrf", run_id="csrf-1")
    sqlite_site.wait_status("csrf-1", "waiting")
    page.goto(f"{sqlite_site.base}/runs/csrf-1")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')")
    _accept_dialogs(page)
    page.click("form[data-confirm] button[value=cancel]")
    assert "did not come from this dashboard" in page.locator(".error-message").inner_text()
    assert sqlite_site.engine.status("csrf-1").status == "waiting"


def test_workers_and_summary_pages(site: Site, page: Any) -> None:
    site.engine.start("web.approval", "o-w", run_id="w-1")
    site.wait_status("w-1", "waiting")
    page.goto(f"{site.base}/workers")
    if site.kind == "redis":
        wait_until(
            lambda: (
                page.reload() or "live" in page.locator("section[aria-label='worker processes']").inner_text()
            ),
            30,
            "a live worker on the workers page",
        )
    else:
        assert "Embedded store" in page.locator("main").inner_text()
    screenshot(page, f"workers-{site.kind}")
    page.goto(f"{site.base}/summary")
    assert page.locator("svg.chart").count() == 2
    screenshot(page, "summary")


def test_schedules_page_pause_and_trigger(sqlite_site: Site, page: Any) -> None:
    sqlite_site.engine.schedules.create("nightly-report", "web.approval", cron="0 2 * * *", args=("o-s",))
    page.goto(f"{sqlite_site.base}/schedules")
    assert page.locator("a.schedule-link").all_inner_texts() == ["nightly-report"]
    page.locator("a.schedule-link").first.click()
    page.wait_for_url(re.compile(r"/schedules/"))
    assert page.locator("#next-ticks li").count() == 5
    questions = _accept_dialogs(page)

    page.click("form[data-confirm] button[value=pause]")
    page.wait_for_url(re.compile(r"message=paused"))
    assert page.locator("#schedule-state").inner_text().startswith("paused")
    assert sqlite_site.engine.schedules.get("nightly-report").paused

    page.click("form[data-confirm] button[value=trigger]")
    page.wait_for_url(re.compile(r"message=triggered"))
    run_id = page.locator("table a[href*='/runs/']").first.inner_text()
    assert sqlite_site.wait_status(run_id, "waiting").workflow == "web.approval"
    assert questions == ["pause schedule nightly-report?", "trigger schedule nightly-report?"]
    screenshot(page, "schedule")
