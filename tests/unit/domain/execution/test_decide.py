"""The pure reconcile decision for every situation a Run can be in."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from taskops.domain.execution.decide import POD_GRACE
from taskops.domain.execution.decide import decide as decide_at
from taskops.domain.execution.decision import Context
from taskops.domain.resources.phases import EndReason, Phase
from taskops.domain.resources.run import Run, RunInputs
from tests.builders import T0, job, pod
from tests.unit.decisions import RUNNING, decide, make_run, make_task, version_of


def test_new_run_writes_status_then_creates_attempt_one() -> None:
    d = decide(make_run(), make_task(), None, [], T0)
    assert d.status is not None and d.create_job is not None
    assert d.status.phase == Phase.RUNNING
    assert d.status.attempt == 1
    assert d.status.job_name == d.create_job["metadata"]["name"] == "r-1"
    assert d.status.start_time == T0
    assert d.owner is None
    assert d.events == [], "the first attempt's start is told by the Event that ends the Run"
    job_obj = d.create_job
    assert job_obj["spec"]["backoffLimit"] == 0
    assert job_obj["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    pod_spec = job_obj["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    env = {e["name"]: e["value"] for e in pod_spec["containers"][0]["env"]}
    assert env == {
        "TASKOPS_TASK": "t",
        "TASKOPS_RUN": "r",
        "TASKOPS_ATTEMPT": "1",
        "TASKOPS_PARAMS_FILE": "/etc/taskops/params.json",
    }


def test_unowned_run_gets_its_task_as_owner() -> None:
    d = decide(make_run(owned=False), make_task(), None, [], T0)
    assert d.owner is not None and d.owner["uid"] == "task-uid" and d.owner["kind"] == "Task"


def test_missing_task_makes_the_run_invalid() -> None:
    d = decide(make_run(), None, None, [], T0)
    assert d.status is not None and d.create_job is None
    assert d.status.phase == Phase.INVALID
    assert d.status.end_reason == EndReason.INVALID
    conds = {c.type: c for c in d.status.conditions or []}
    assert conds["Valid"].status == "False" and conds["Valid"].reason == "TaskNotFound"
    assert conds["Ended"].status == "True"
    assert d.events[0].type == "Warning"


def test_running_run_with_job_missing_from_cache_recreates_the_same_name() -> None:
    d = decide(make_run(RUNNING), make_task(), None, [], T0)
    assert d.status is None
    assert d.create_job is not None and d.create_job["metadata"]["name"] == "r-1"


def test_running_job_changes_nothing() -> None:
    assert decide(make_run(RUNNING), make_task(), job(), [pod(None)], T0).empty


def test_completed_job_ends_the_run_successfully() -> None:
    d = decide(make_run(RUNNING), make_task(), job(condition="Complete"), [pod(0)], T0)
    assert d.status is not None
    assert (d.status.phase, d.status.end_reason, d.status.exit_code) == (Phase.SUCCEEDED, EndReason.SUCCESS, 0)
    assert d.status.end_time == T0
    assert d.status.start_time == dt.datetime(2026, 3, 1, 11, 59, tzinfo=dt.UTC)
    assert [e.reason for e in d.events] == ["Succeeded"]


def test_failed_job_ends_the_run_failed_with_exit_code() -> None:
    d = decide(make_run(RUNNING), make_task(), job(condition="Failed"), [pod(3, "Error")], T0)
    assert d.status is not None
    assert (d.status.phase, d.status.end_reason, d.status.exit_code) == (Phase.FAILED, EndReason.FAILED, 3)
    assert d.events[0].type == "Warning" and "exited with code 3" in d.events[0].message


def test_failed_job_waits_briefly_for_its_pod() -> None:
    d = decide(make_run(RUNNING), make_task(), job(condition="Failed", at=T0), [], T0 + POD_GRACE / 2)
    assert d.status is None and d.requeue_after
    late = decide(make_run(RUNNING), make_task(), job(condition="Failed", at=T0), [], T0 + POD_GRACE * 2)
    assert late.status is not None and late.status.phase == Phase.FAILED and late.status.exit_code is None


def test_terminal_runs_are_left_alone() -> None:
    done = {**RUNNING, "phase": "SUCCEEDED", "endReason": "success"}
    assert decide(make_run(done), make_task(), None, [], T0).empty
    assert decide(make_run(done), None, None, [], T0).empty


def test_condition_transition_time_moves_only_on_change() -> None:
    first = decide(make_run(), make_task(), None, [], T0)
    assert first.status is not None
    status = first.status.to_k8s()
    later = T0 + dt.timedelta(seconds=30)
    d = decide(make_run(status), make_task(), job(condition="Complete", at=later), [pod(0)], later)
    assert d.status is not None
    conds = {c.type: c for c in d.status.conditions or []}
    assert conds["Valid"].last_transition_time == T0
    assert conds["Succeeded"].last_transition_time == later


# -- issue 5: params, retries, failure taxonomy, results, history -----------------------------------------

PARAMS = [{"name": "order_id", "type": "string", "required": True}, {"name": "limit", "type": "integer", "default": 5}]


def make_run_with(spec: dict[str, Any], status: dict[str, Any] | None = None) -> Run:
    run = make_run(status)
    return run.model_copy(update={"spec": run.spec.model_copy(update=spec)})


def test_invalid_params_make_the_run_invalid_with_every_error() -> None:
    run = make_run_with({"params": {"limit": "x", "colour": 1}})
    d = decide(run, make_task(params=PARAMS), None, [], T0)
    assert d.create_job is None and d.status is not None
    assert (d.status.phase, d.status.end_reason) == (Phase.INVALID, EndReason.INVALID)
    valid = next(c for c in d.status.conditions or [] if c.type == "Valid")
    assert valid.reason == "InvalidParams"
    for part in (
        "spec.params.colour: unknown parameter",
        "spec.params.order_id: required parameter is missing",
        'spec.params.limit: must be of type integer (got "x")',
    ):
        assert part in valid.message


def test_params_reach_the_job_as_env_and_file() -> None:
    run = make_run_with({"params": {"order_id": "", "limit": None}})
    d = decide(run, make_task(params=PARAMS), None, [], T0)
    assert d.status is not None and d.status.params == {"order_id": ""}
    assert d.create_job is not None
    pod = d.create_job["spec"]["template"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["TASKOPS_PARAM_ORDER_ID"] == "" and "TASKOPS_PARAM_LIMIT" not in env
    assert pod["metadata"]["annotations"]["taskops.dev/params"] == '{"overrides": {}, "params": {"order_id": ""}}'
    assert pod["spec"]["volumes"][-1]["downwardAPI"]["items"][0]["path"] == "params.json"
    assert pod["spec"]["containers"][0]["volumeMounts"][-1]["mountPath"] == "/etc/taskops"


def test_failed_attempt_is_retried_after_its_backoff_then_runs_attempt_two() -> None:
    task = make_task(maxRetries=2, backoffStrategy="fixed", backoffSeconds=7)
    d = decide(make_run(RUNNING), task, job(condition="Failed"), [pod(1)], T0)
    assert d.status is not None and d.create_job is None
    assert d.status.phase == Phase.SCHEDULED
    assert d.status.next_attempt_at == T0 + dt.timedelta(seconds=7)
    assert d.requeue_after == 7
    assert [(a.number, a.end_reason, a.exit_code) for a in d.status.attempts or []] == [(1, EndReason.FAILED, 1)]
    waiting = d.status.to_k8s()
    early = decide(make_run(waiting), task, None, [], T0 + dt.timedelta(seconds=3))
    assert early.status is None and early.requeue_after == 4
    due = decide(make_run(waiting), task, None, [], T0 + dt.timedelta(seconds=7))
    assert due.create_job is not None and due.create_job["metadata"]["name"] == "r-2"
    assert due.status is not None and due.status.attempt == 2 and due.status.retry_of == "r-1"
    assert [s.step for s in due.status.history or []][-3:] == ["attempt_ended", "retry_scheduled", "job_created"]


def test_last_attempt_ends_the_run_and_success_is_never_retried() -> None:
    task = make_task(maxRetries=1, backoffStrategy="fixed", backoffSeconds=1)
    second = {**RUNNING, "attempt": 2, "jobName": "r-2"}
    d = decide(make_run(second), task, job("r-2", condition="Failed"), [pod(4)], T0)
    assert d.status is not None and (d.status.phase, d.status.exit_code) == (Phase.FAILED, 4)
    ok = decide(make_run(RUNNING), task, job(condition="Complete"), [pod(0)], T0)
    assert ok.status is not None and ok.status.phase == Phase.SUCCEEDED


def test_retry_on_decides_which_reasons_retry() -> None:
    task = make_task(maxRetries=3, retryOn=["crashed"])
    d = decide(make_run(RUNNING), task, job(condition="Failed"), [pod(1)], T0)
    assert d.status is not None and d.status.phase == Phase.FAILED
    d = decide(make_run(RUNNING), task, job(condition="Failed"), [pod(137, "OOMKilled")], T0)
    assert d.status is not None and d.status.phase == Phase.SCHEDULED


def test_a_container_that_cannot_start_ends_start_failed_and_its_job_is_removed() -> None:
    waiting = pod(waiting="ErrImagePull", message="no such image")
    d = decide(make_run(RUNNING), make_task(), job(), [waiting], T0)
    assert d.delete_job == "r-1"
    assert d.status is not None and d.status.end_reason == EndReason.START_FAILED
    assert "ErrImagePull: no such image" in (d.status.message or "")


def test_evicted_pod_is_crashed() -> None:
    evicted = pod(None)
    evicted["status"].update(reason="Evicted", message="The node was low on memory.")
    d = decide(make_run(RUNNING), make_task(), job(condition="Failed"), [evicted], T0)
    assert d.status is not None and d.status.end_reason == EndReason.CRASHED
    assert "Evicted" in (d.status.message or "")


SCHEMA = {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}


def test_a_valid_result_is_stored() -> None:
    d = decide(
        make_run(RUNNING),
        make_task(resultSchema=SCHEMA),
        job(condition="Complete"),
        [pod(0, message='{"count": 2}')],
        T0,
    )
    assert d.status is not None and d.status.phase == Phase.SUCCEEDED and d.status.result == {"count": 2}
    cond = next(c for c in d.status.conditions or [] if c.type == "ResultValid")
    assert cond.status == "True"


def test_an_invalid_result_fails_the_run_without_retry() -> None:
    d = decide(
        make_run(RUNNING),
        make_task(resultSchema=SCHEMA, maxRetries=3),
        job(condition="Complete"),
        [pod(0, message='{"count": "two"}')],
        T0,
    )
    assert d.status is not None and (d.status.phase, d.status.end_reason) == (Phase.FAILED, EndReason.FAILED)
    cond = next(c for c in d.status.conditions or [] if c.type == "ResultValid")
    assert cond.status == "False" and "count" in cond.message


def test_stop_deletes_the_running_job_first() -> None:
    run = make_run_with({"stop": True}, RUNNING)
    d = decide(run, make_task(), job(), [pod(None)], T0)
    assert d.delete_job == "r-1"
    assert d.status is not None and (d.status.phase, d.status.end_reason) == (Phase.STOPPED, EndReason.STOPPED)


def test_timeout_sets_the_jobs_deadline() -> None:
    d = decide(make_run(), make_task(timeoutSeconds=30), None, [], T0)
    assert d.create_job is not None and d.create_job["spec"]["activeDeadlineSeconds"] == 30


def test_versions_pin_the_template_of_the_run() -> None:
    v1 = make_task(payload={"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "app:1"}]}}}})
    v2 = make_task(payload={"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "app:2"}]}}}})
    versions = [version_of(v1, 1), version_of(v2, 2)]
    current = decide_at(make_run(), v2, None, [], T0, Context(versions))
    assert current.status is not None and current.status.version is not None
    assert current.status.version.number == 2
    pinned = decide_at(make_run_with({"version": "1"}), v2, None, [], T0, Context(versions))
    assert pinned.create_job is not None
    assert pinned.create_job["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"
    by_id = decide_at(make_run_with({"version": "t-v1"}), v2, None, [], T0, Context(versions))
    assert by_id.status is not None and by_id.status.version is not None and by_id.status.version.number == 1
    # A retry of a version-1 run keeps version 1's template after the task moved on.
    waiting = {**RUNNING, "phase": "SCHEDULED", "nextAttemptAt": T0.isoformat()}
    retry = decide_at(make_run(waiting), v2, None, [], T0, Context(versions))
    assert retry.create_job is not None
    assert retry.create_job["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"


def test_unknown_version_is_invalid_and_unwritten_current_waits() -> None:
    task = make_task()
    d = decide_at(make_run_with({"version": "9"}), task, None, [], T0, Context([version_of(task)]))
    assert d.status is not None and d.status.phase == Phase.INVALID
    assert 'version "9" of task "t" does not exist (versions 1 to 1)' in (d.status.message or "")
    for pin in (None, "1", "9"):  # no version written yet: every pin waits for the first
        wait = decide_at(make_run_with({"version": pin} if pin else {}), task, None, [], T0, Context([]))
        assert wait.status is None and wait.create_job is None and wait.requeue_after


def test_overrides_reach_the_job_and_decide_the_result() -> None:
    schema = {"type": "object", "required": ["n"]}
    run = make_run_with({"overrides": {"model": "m1", "json_schema": json.dumps(schema), "use_cached_workflow": True}})
    d = decide(run, make_task(), None, [], T0)
    assert d.status is not None and d.status.overrides is not None and d.status.overrides["json_schema"] == schema
    assert d.create_job is not None
    pod_spec = d.create_job["spec"]["template"]
    env = {e["name"]: e["value"] for e in pod_spec["spec"]["containers"][0]["env"]}
    assert env["TASKOPS_OVERRIDE_MODEL"] == "m1" and env["TASKOPS_OVERRIDE_USE_CACHED_WORKFLOW"] == "true"
    assert json.loads(pod_spec["metadata"]["annotations"]["taskops.dev/params"])["overrides"]["model"] == "m1"
    # The run's json_schema, not the task's (it has none), judges the result.
    running = RUNNING | {"overrides": d.status.overrides}
    ended = decide(make_run(running), make_task(), job(condition="Complete"), [pod(0, message='{"m": 1}')], T0)
    assert ended.status is not None and ended.status.end_reason == EndReason.FAILED
    assert "does not match resultSchema" in (ended.status.message or "")
    as_text = RUNNING | {"overrides": {"response_format": "text"}}
    ok = decide(make_run(as_text), make_task(), job(condition="Complete"), [pod(0, message='{"m": 1}')], T0)
    assert ok.status is not None and ok.status.result == '{"m": 1}' and ok.status.end_reason == EndReason.SUCCESS


def test_a_batch_runs_own_params_need_not_carry_the_required_ones() -> None:
    inputs = RunInputs(count=2, chunk_size=2, config_maps=["r-inputs-0"])
    d = decide(make_run_with({"inputs": inputs}), make_task(params=PARAMS), None, [], T0)
    assert d.status is not None and d.status.phase != Phase.INVALID, d.status.message
