"""The manual-runs web page (/ui) in headless Chromium: sign-in, tasks, the params form with its agent picker, live
executions in seed 000's words, a live log across a retry, abort."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.api import ApiProcess, Caller, full_access, make_task, service_account
from tests.integration.controlplane import api_server
from tests.integration.kube import Kube
from tests.paths import OUTPUT

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = OUTPUT / "screenshots"
PARAMS = [
    {"name": "order_id", "type": "string", "required": True, "description": "The order to process."},
    {"name": "limit", "type": "integer", "default": 10},
    {"name": "region", "type": "string", "enum": ["eu", "us"], "default": "eu"},
    {"name": "dry_run", "type": "boolean", "description": "Only report what would change."},
    {
        "name": "profile",
        "type": "json",
        "enum": [{"mode": "fast"}, {"mode": "safe"}],
        "default": {"mode": "safe"},
        "description": "Processing profile.",
    },
]


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Chromium is not installed: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.implicitly_wait(0)
    try:
        yield browser
    finally:
        browser.quit()


def wait(driver: WebDriver, seconds: float = 15) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds, poll_frequency=0.1)


def find(driver: WebDriver, css: str, seconds: float = 15) -> WebElement:
    return wait(driver, seconds).until(lambda d: d.find_element(By.CSS_SELECTOR, css), f"no {css}")


def text_of(driver: WebDriver, css: str) -> str:
    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except Exception:
        return ""


def sign_in(driver: WebDriver, api: Caller, token: str | None = None) -> None:
    # Cleared from a page of the origin that is not the app: the app would connect with an earlier test's session.
    driver.get(api.base + "/readyz")
    driver.execute_script("sessionStorage.clear()")
    driver.get(api.base + "/ui/#/tasks")
    sign_in_here(driver, api, token)


def sign_in_here(driver: WebDriver, api: Caller, token: str | None = None) -> None:
    """Fills and sends the sign-in form the page shows."""
    find(driver, "#token").send_keys(token or api.token or "")
    ns = find(driver, "#namespace")
    ns.clear()
    ns.send_keys(api.namespace)
    find(driver, "#signin-submit").click()


def console_errors(driver: WebDriver, expected: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """SEVERE browser-log entries, except the failed requests a test provoked on purpose (Chromium logs every 4xx)."""
    entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
    expected += (r"/favicon\.ico .* 404",)  # sign_in's visit to /readyz, which is no HTML page naming an icon
    return [
        e
        for e in entries
        if e["level"] == "SEVERE" and not any(re.search(pattern, e["message"]) for pattern in expected)
    ]


def agent_options(driver: WebDriver) -> list[tuple[str, str, bool]]:
    """(value, text, selected) of the run form's agent picker, read in one go (the page replaces it once loaded)."""
    script = "const s = document.getElementById('agent'); return s && s.options ? "
    script += "[...s.options].map((o) => [o.value, o.text, o.selected]) : [];"
    return [tuple(o) for o in driver.execute_script(script)]


def statuses_until(driver: WebDriver, wanted: str, seconds: float) -> list[str]:
    """Every status the execution page showed until `wanted` (polling the DOM, never reloading)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = text_of(driver, "#execution-status")
        if status and (not seen or seen[-1] != status):
            seen.append(status)
        if status == wanted:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"never {wanted}; saw {seen}")


def test_static_files_are_served_without_auth_and_nothing_else(api: Caller) -> None:
    for path in ("/ui", "/ui/"):
        page = requests.get(api.base + path, timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "/ui/app.js" in page.text and "Content-Security-Policy" in page.headers
    assert requests.get(api.base + "/ui/app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    assert requests.get(api.base + "/ui/style.css", timeout=10).headers["Content-Type"].startswith("text/css")
    for bad in ("/ui/..%2Fapp.py", "/ui/%2e%2e%2fui.py", "/ui/.hidden", "/ui/nope.js", "/ui/ui.py"):
        assert requests.get(api.base + bad, timeout=10).status_code == 404, bad
    # The data is not: the versions endpoint and the event stream want a token.
    anonymous = requests.get(api.base + "/api/v1/runs/events", params={"namespace": api.namespace}, timeout=10)
    assert anonymous.status_code == 401
    # The token goes in the Authorization header (the page reads the stream with fetch()), never in the URL.
    in_url = requests.get(
        api.base + "/api/v1/runs/events", params={"namespace": api.namespace, "access_token": api.token}, timeout=10
    )
    assert in_url.status_code == 400
    stream = api.get("/api/v1/runs/events", stream=True)
    assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    stream.close()


def test_sign_in_list_run_with_params_watch_and_abort(driver: WebDriver, api: Caller, kube: Kube, ns: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    make_task(api, "orders", pods=builders.pod_behaviour(duration="3s"), params=PARAMS, agent="agent-1",
              schedule_kind="cron", schedule_expr="0 3 * * *")  # fmt: skip
    make_task(api, "long", pods=builders.pod_behaviour(duration="120s"), max_retries=0)
    kube.create(ns, builders.agent("agent-1", 2))
    kube.create(ns, builders.agent("agent-2", 3))
    driver.get_log("browser")  # type: ignore[no-untyped-call]  # start with a clean console

    # A token the API server does not accept: the problem's detail, and no way in.
    sign_in(driver, api, token="not-a-token")
    wait(driver).until(lambda d: "TokenReview" in text_of(d, "#signin-error"))
    sign_in(driver, api)

    # The task list, its schedule and the state filter.
    rows = wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tasks tbody tr a")) == 2 or None)
    assert rows
    table = text_of(driver, "#tasks")
    assert "orders" in table and "cron 0 3 * * *" in table and "active" in table
    driver.save_screenshot(str(SCREENSHOTS / "ui-tasks.png"))
    Select(find(driver, "#state-filter")).select_by_value("paused")
    wait(driver).until(lambda d: "No tasks." in text_of(d, "#tasks"))
    Select(find(driver, "#state-filter")).select_by_value("")
    wait(driver).until(lambda d: "orders" in text_of(d, "#tasks"))

    # The task page: details, versions, and the form generated from the params schema.
    driver.find_element(By.LINK_TEXT, "orders").click()
    wait(driver).until(lambda d: "agent-1" in text_of(d, "#task-facts"))
    wait(driver).until(lambda d: "1" in text_of(d, "#versions tbody"), "no version 1")
    find(driver, "#run-task").click()
    form = find(driver, "#run-form")
    # The agent is picked from GET /api/v1/agents (those this token may use), the task's agent chosen first.
    options = wait(driver).until(lambda d: len(agent_options(d)) == 2 and agent_options(d))
    assert [value for value, _, _ in options] == ["agent-1", "agent-2"]
    assert [text for _, text, chosen in options if chosen] == ["agent-1 — running 0/2, queued 0"]
    assert find(driver, "#agent").get_attribute("value") == "agent-1"
    assert find(driver, "#param-limit").get_attribute("type") == "number"
    assert find(driver, "#param-limit").get_attribute("value") == "10"
    assert find(driver, "#param-region").tag_name == "select"
    assert find(driver, "#param-dry_run").get_attribute("type") == "checkbox"
    assert find(driver, "#param-order_id").get_attribute("required") is not None
    assert "The order to process." in form.text and "order_id *" in form.text
    fields = form.find_elements(By.CSS_SELECTOR, "input, select, textarea")
    assert len(fields) >= 4, "the form lost its parameter fields"
    for field in fields:
        assert form.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']"), field

    # Client-side: the required param is missing and the limit is not a whole number; nothing is sent.
    find(driver, "#param-limit").clear()
    find(driver, "#param-limit").send_keys("2.5")
    find(driver, "#run-submit").click()
    wait(driver).until(lambda d: text_of(d, "#param-order_id-error") == "required")
    assert text_of(driver, "#param-limit-error") == "must be a whole number"
    assert find(driver, "#param-order_id").get_attribute("aria-invalid") == "true"
    assert not kube.runs(ns)

    # Server-side: a profile that is valid JSON but not one of the allowed values.
    find(driver, "#param-order_id").send_keys("ORD-1")
    find(driver, "#param-limit").clear()
    find(driver, "#param-limit").send_keys("3")
    profile = find(driver, "#param-profile")
    profile.clear()
    profile.send_keys('{"mode": "turbo"}')
    find(driver, "#run-submit").click()
    wait(driver).until(lambda d: "must be one of" in text_of(d, "#param-profile-error"))
    assert text_of(driver, "#param-order_id-error") == "" and "must be one of" in text_of(driver, "#run-error")
    assert not kube.runs(ns)

    # Corrected: queued, and the page follows the execution to SUCCEEDED without a reload.
    profile.clear()
    profile.send_keys('{"mode": "fast"}')
    Select(find(driver, "#param-region")).select_by_visible_text("us")
    find(driver, "#param-dry_run").click()
    Select(find(driver, "#agent")).select_by_value("agent-2")
    driver.save_screenshot(str(SCREENSHOTS / "ui-run-form-agent.png"))
    find(driver, "#run-submit").click()
    wait(driver).until(lambda d: "#/executions/orders" in d.current_url)
    driver.execute_script("window.__noReload = true")
    # Seed 000's words: pending, queued, running, succeeded.
    seen = statuses_until(driver, "succeeded", 45)
    assert len(seen) >= 2 and set(seen[:-1]) & {"pending", "queued", "running"}, seen
    assert text_of(driver, "#execution-agent") == "agent-2"
    assert text_of(driver, "#execution-triggered-by") == "manual"
    assert driver.execute_script("return window.__noReload") is True
    assert text_of(driver, "#execution-exit-code") == "0"
    assert find(driver, "#abort").is_displayed() is False
    run = kube.runs(ns)[0]
    assert run["spec"]["params"] == {"order_id": "ORD-1", "limit": 3, "region": "us", "dry_run": True,
                                     "profile": {"mode": "fast"}}  # fmt: skip
    assert "callbackUrl" not in run["spec"], "manual runs send no webhook"
    assert (run["spec"]["agent"], run["spec"]["triggeredBy"]) == ("agent-2", "manual")
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history tbody tr")) >= 2)
    driver.save_screenshot(str(SCREENSHOTS / "ui-execution.png"))

    # The executions list shows it; then a long run is aborted from its page.
    driver.find_element(By.ID, "nav-executions").click()
    wait(driver).until(lambda d: "succeeded" in text_of(d, "#executions") and "agent-2" in text_of(d, "#executions"))
    Select(find(driver, "#status-filter")).select_by_value("aborted")
    wait(driver).until(lambda d: "status=aborted" in d.current_url and d.find_elements(By.CSS_SELECTOR, "#executions"))
    assert "orders" not in text_of(driver, "#executions")

    # A live log: the first attempt fails, its retry's pod continues the same log, and it ends with the execution.
    make_task(api, "flaky", pods={"kwok.taskops.dev/fail-attempts": "1", "kwok.taskops.dev/duration": "3s"},
              max_retries=2, backoff_strategy="fixed", backoff_seconds=2)  # fmt: skip
    driver.get(api.base + "/ui/#/tasks/flaky")
    find(driver, "#run-task").click()
    wait(driver).until(lambda d: [text for _, text, _ in agent_options(d)][:1] == ["No agent"])
    find(driver, "#run-submit").click()
    wait(driver).until(lambda d: "#/executions/flaky" in d.current_url)
    driver.execute_script("window.__noReload = true")
    # The first attempt's lines arrive while it still runs, before the retry exists.
    wait(driver, 45).until(lambda d: "taskops fake pod: done" in text_of(d, "#execution-log"))
    assert text_of(driver, "#execution-attempt") == "1" and "attempt 2" not in text_of(driver, "#execution-log")
    assert "following" in text_of(driver, "#log-state")
    wait(driver, 60).until(lambda d: "--- taskops: attempt 2, pod flaky-" in text_of(d, "#execution-log"))
    driver.execute_script("document.getElementById('execution-log').scrollIntoView()")
    driver.save_screenshot(str(SCREENSHOTS / "ui-execution-live-log.png"))
    statuses_until(driver, "succeeded", 45)
    wait(driver, 30).until(lambda d: "End of log" in text_of(d, "#log-state"))
    log_lines = text_of(driver, "#execution-log").splitlines()
    assert log_lines.count("taskops fake pod: done") == 2, log_lines
    assert log_lines[3].startswith("--- taskops: attempt 2"), log_lines
    assert driver.execute_script("return window.__noReload") is True
    driver.execute_script("document.getElementById('execution-log').scrollIntoView()")
    driver.save_screenshot(str(SCREENSHOTS / "ui-execution-log-ended.png"))

    driver.get(api.base + "/ui/#/tasks/long")
    find(driver, "#run-task").click()
    find(driver, "#run-submit").click()
    wait(driver).until(lambda d: "#/executions/long" in d.current_url)
    driver.execute_script("window.__noReload = true")
    statuses_until(driver, "running", 30)
    wait(driver).until(lambda d: d.find_element(By.ID, "abort").is_displayed())
    driver.find_element(By.ID, "abort").click()
    statuses_until(driver, "aborted", 45)
    assert driver.execute_script("return window.__noReload") is True
    assert not driver.find_element(By.ID, "abort").is_displayed()
    driver.save_screenshot(str(SCREENSHOTS / "ui-execution-stopped.png"))

    # The page went back to its list: the live row of the stopped run.
    driver.find_element(By.ID, "nav-executions").click()
    wait(driver).until(lambda d: "aborted" in text_of(d, "#executions"))

    # Failed requests the page handled: the bad token, the rejected params, and logs of kwok's fake pods (no kubelet).
    expected = (r"/api/v1/tasks\?.* 401", r"/api/v1/integrations/executions\?.* 422", r"/logs\?.* (404|409)")
    assert console_errors(driver, expected) == []


@pytest.fixture
def short_streams(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    """An API whose event streams end after 3 s: a page on it reconnects again and again."""
    yield from api_server(identities["api"], OUTPUT / "logs", "api-short-streams", "--max-stream-seconds", "3")


# Makes the page's fetch of the event stream fail while window.__blockEvents is set (its other requests go on).
BLOCK_EVENTS = """
if (!window.__realFetch) {
  window.__realFetch = window.fetch;
  window.fetch = (url, opts) => window.__blockEvents && String(url).includes("/api/v1/runs/events")
    ? Promise.reject(new TypeError("blocked by the test")) : window.__realFetch(url, opts);
}
window.__blockEvents = true;
"""


def status_of(api: Caller, run_id: str) -> str:
    return str(api.get(f"/api/v1/integrations/executions/{run_id}").json()["status"])


def stream_down(driver: WebDriver) -> None:
    """Holds off the page's reconnects; returns once its stream has ended (the API ends it after 3 s)."""
    driver.execute_script(BLOCK_EVENTS)
    wait(driver, 20).until(lambda d: "reconnecting" in text_of(d, "#live"), "the stream never ended")


def test_what_changed_while_the_stream_was_down_is_read_again_when_it_reconnects(
    driver: WebDriver, api: Caller, short_streams: ApiProcess
) -> None:
    """A stream carries only what changes after it connects. While the page cannot reconnect, a run is created
    and another aborted; once it connects again, the executions list and the execution page show both without
    a reload (the CI failure of 2026-12-02: a page stuck on "pending" for a run long since running)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    caller = Caller(short_streams.url, api.namespace, api.token)
    make_task(caller, "long", pods=builders.pod_behaviour(duration="120s"), max_retries=0)
    first = caller.post("/api/v1/integrations/executions", json={"task_id": "long"}).json()["id"]
    sign_in(driver, caller)
    find(driver, "#tasks")
    driver.get(caller.base + "/ui/#/executions")
    find(driver, f"#executions tr[data-run='{first}']")
    driver.execute_script("window.__noReload = true")

    # The list: created and aborted while its stream was down.
    stream_down(driver)
    second = caller.post("/api/v1/integrations/executions", json={"task_id": "long"}).json()["id"]
    assert caller.post(f"/api/v1/integrations/executions/{first}/cancel").status_code == 200
    wait(driver, 60).until(lambda _: status_of(caller, first) == "aborted")
    time.sleep(1)
    assert not driver.find_elements(By.CSS_SELECTOR, f"#executions tr[data-run='{second}']"), "the stream was up"
    driver.execute_script("window.__blockEvents = false")
    wait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#executions tr[data-run='{second}']"))
    badge = f"#executions tr[data-run='{first}'] td.status .badge"
    wait(driver, 15).until(lambda d: text_of(d, badge) == "aborted", "the list missed the abort")

    # The execution page: aborted while its stream was down.
    driver.get(caller.base + f"/ui/#/executions/{second}")
    wait(driver).until(lambda d: text_of(d, "#execution-status") in ("pending", "queued", "running"))
    stream_down(driver)
    assert caller.post(f"/api/v1/integrations/executions/{second}/cancel").status_code == 200
    wait(driver, 60).until(lambda _: status_of(caller, second) == "aborted")
    assert text_of(driver, "#execution-status") != "aborted", "the stream was up"
    driver.execute_script("window.__blockEvents = false")
    statuses_until(driver, "aborted", 60)
    assert driver.execute_script("return window.__noReload") is True
    assert console_errors(driver, (r"/logs\?.* (404|409)",)) == []  # kwok's fake pods have no log


def test_signing_in_again_follows_the_new_namespace(driver: WebDriver, api: Caller, cluster: Cluster) -> None:
    """The session ends without a sign-out (its storage cleared) and another one starts in the same tab, without a
    reload: the page's live updates then come from the new namespace, with the new token."""
    other = api.namespace[:40] + "-other"
    cluster.kubectl("create", "namespace", other)
    try:
        cluster.wait_namespace_ready(other)
        caller = Caller(api.base, other, service_account(cluster, other, "caller", full_access()))
        make_task(caller, "report", pods=builders.pod_behaviour(duration="2s"))
        sign_in(driver, api)
        find(driver, "#tasks")
        driver.execute_script("window.__noReload = true; sessionStorage.clear(); location.hash = '#/executions';")
        find(driver, "#signin")
        sign_in_here(driver, caller)
        driver.get(caller.base + "/ui/#/executions")
        find(driver, "#executions")
        run = caller.post("/api/v1/integrations/executions", json={"task_id": "report"}).json()["id"]
        wait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#executions tr[data-run='{run}']"))
        assert driver.execute_script("return window.__noReload") is True
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def run_ended(api: Caller, run_id: str) -> bool:
    return bool(api.get(f"/api/v1/runs/{run_id}").json()["is_done"])


@pytest.mark.timeout(600)  # runs of three versions and a batch, on a shared machine
def test_the_task_chart_and_a_batch_runs_progress_bar(driver: WebDriver, api: Caller, ns: str) -> None:
    """Issue 24 §3: a task's last runs as a chart (duration, outcome, retries) with its success rate, live; a
    batch run's progress as a bar in the executions list."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Three versions of one task: v1 succeeds, v2 fails its first attempt and succeeds on the retry, v3 fails twice.
    retry = {"max_retries": 1, "backoff_strategy": "fixed", "backoff_seconds": 1}
    make_task(api, "report", pods=builders.pod_behaviour(duration="2s"), **retry)
    for version, pods in ((2, {"kwok.taskops.dev/fail-attempts": "1"}), (3, builders.pod_behaviour(exit_code=3))):
        # One change at a time: the operator writes a version for each spec it sees, not for each write.
        wait(driver, 60).until(lambda _, v=version: api.get("/api/v1/tasks/report/versions").json()["total"] == v - 1)
        payload = builders.task("x", pod_annotations={"kwok.taskops.dev/duration": "2s", **pods})["spec"]["payload"]
        assert api.put("/api/v1/tasks/report", json={"payload": payload}).status_code == 200
    wait(driver, 60).until(lambda _: api.get("/api/v1/tasks/report/versions").json()["total"] == 3, "no version 3")
    make_task(api, "resize", pods={"kwok.taskops.dev/fail-indexes": "1", "kwok.taskops.dev/duration": "3s"},
              batch={"parallelism": 2}, max_retries=0)  # fmt: skip
    batch = api.post("/api/v1/actions/resize/async", json={"inputs": [{"image": i} for i in range(6)]}).json()
    runs = []
    for version in ("1", "1", "2", "3"):
        resp = api.post("/api/v1/integrations/executions", json={"task_id": "report", "version": version})
        assert resp.status_code == 201, resp.text
        runs.append(resp.json()["id"])

    # The executions list: the batch run's bar moves while it runs, then shows 5 of 6 succeeded, 1 failed.
    sign_in(driver, api)
    find(driver, "#tasks")
    driver.get(api.base + "/ui/#/executions")
    row = f"#executions tr[data-run='{batch['id']}'] .batch-progress"
    wait(driver, 30).until(lambda d: int(find(d, row).get_attribute("data-running") or 0) > 0, "no running inputs")
    assert find(driver, row).get_attribute("aria-valuemax") == "6"
    driver.save_screenshot(str(SCREENSHOTS / "ui-batch-progress-running.png"))
    wait(driver, 150).until(lambda _: run_ended(api, batch["id"]), "the batch never ended")
    final = api.get(f"/api/v1/runs/{batch['id']}").json()["batch"]
    # Read afresh: on this shared machine the page's event stream may have been reconnecting at the end (the
    # page keeps no backlog of what it missed meanwhile), and the bar is what is checked here.
    driver.refresh()
    wait(driver, 30).until(lambda d: find(d, row).get_attribute("aria-valuenow") == "6", f"the bar missed {final}")
    bar = find(driver, row)
    assert (bar.get_attribute("data-succeeded"), bar.get_attribute("data-failed")) == ("5", "1")
    assert "6/6 done, 1 failed" in bar.text
    assert len(bar.find_elements(By.CSS_SELECTOR, "rect.progress-failed")) == 1
    # Seed 000 has no partial success: one failed input makes the execution "failed" (the run: PARTIAL_SUCCEEDED).
    badge = f"#executions tr[data-run='{batch['id']}'] td.status .badge"
    wait(driver).until(lambda d: text_of(d, badge) == "failed")
    driver.save_screenshot(str(SCREENSHOTS / "ui-batch-progress.png"))
    assert not driver.find_elements(By.CSS_SELECTOR, f"#executions tr[data-run='{runs[0]}'] .batch-progress")

    # The task page: one bar per run, coloured by outcome, the retried runs marked, and the success rate.
    wait(driver, 90).until(lambda _: all(run_ended(api, r) for r in runs), "the runs never ended")
    driver.get(api.base + "/ui/#/tasks/report")
    bars = wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#run-chart .bar-link")) == 4 or None)
    assert bars
    found = {
        b.get_attribute("data-run"): (b.get_attribute("data-status"), b.get_attribute("data-retries"))
        for b in driver.find_elements(By.CSS_SELECTOR, "#run-chart .bar-link")
    }
    assert found == {
        runs[0]: ("SUCCEEDED", "0"),
        runs[1]: ("SUCCEEDED", "0"),
        runs[2]: ("SUCCEEDED", "1"),
        runs[3]: ("FAILED", "1"),
    }
    assert len(driver.find_elements(By.CSS_SELECTOR, "#run-chart .retry-mark")) == 2 + 1  # two runs, the legend
    assert len(driver.find_elements(By.CSS_SELECTOR, "#run-chart-svg rect.bar.FAILED")) == 1
    seconds = [float(b.get_attribute("data-seconds") or 0) for b in driver.find_elements(By.CSS_SELECTOR, ".bar-link")]
    assert all(s >= 1 for s in seconds), seconds  # each attempt's pod ran 2 s
    rate = find(driver, "#success-rate")
    assert rate.get_attribute("data-rate") == "75" and "3 of 4 finished runs" in rate.text
    driver.save_screenshot(str(SCREENSHOTS / "ui-task-chart.png"))

    # A new run appears in the chart as it happens, without a reload; a bar is a link to its run.
    driver.execute_script("window.__noReload = true")
    fresh = api.post("/api/v1/tasks/report/run_now").json()["id"]
    wait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#run-chart .bar-link[data-run='{fresh}']"))
    assert driver.execute_script("return window.__noReload") is True
    driver.find_element(By.CSS_SELECTOR, f"#run-chart .bar-link[data-run='{runs[3]}']").click()
    wait(driver).until(lambda d: d.current_url.endswith("#/executions/" + runs[3]))
    expected = (r"/logs\?.* (404|409)",)
    assert console_errors(driver, expected) == []
