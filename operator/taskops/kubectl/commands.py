"""The commands of `kubectl taskops`: each one the same CR write the REST API makes for it (docs/api.md), built
and checked by the same code (taskops.api.trigger_build, the domain), sent with the user's own credentials."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

import pydantic

from taskops.api.schemas import SnoozeRequest
from taskops.api.trigger_build import Trigger, build_run, check, listens, resume_of
from taskops.clients import batchinputs
from taskops.clients.errors import ApiError, NotFound
from taskops.clients.resources import AGENTS, EVENTS, PODS, REVISIONS, RUNS, TASKS
from taskops.clients.reviews import who_am_i
from taskops.domain.execution import batch
from taskops.domain.execution.versions import Version, from_revision, resolve
from taskops.domain.resources import apinames, names, numericids, raw, timefmt
from taskops.domain.resources.params import FieldError, ParamSpec
from taskops.domain.resources.phases import RESUMABLE_PHASES, Phase, is_terminal, raw_phase
from taskops.domain.resources.task import Task
from taskops.domain.scheduling import firedruns, recurrence
from taskops.kubectl import exits, output, watching
from taskops.kubectl.session import CliError, Session

# Where the shared checks (written for the REST API) point, in the words of this command line.
_FLAG_OF = {"body.version": "--version", "body.agent_id": "--agent", "path.task": "TASK", "body.inputs": "--inputs"}


def _say_errors(errors: list[FieldError]) -> int:
    for e in errors:
        where = _FLAG_OF.get(e.location, e.location)
        print(f"error: {where}: {e.message} (got {json.dumps(e.value, default=str)})", file=sys.stderr)
    return exits.INVALID


# --- params on the command line ----------------------------------------------------------------------------


def parse_params(pairs: list[str], schema: list[ParamSpec]) -> dict[str, Any]:
    """`-p name=value` (typed by the Task's declaration: text for a string, JSON for the others) and
    `-p name:=JSON` (any JSON, `null` included: null omits the param). The values are then checked like
    the API's, so an error names the param."""
    declared = {p.name: p.type for p in schema}
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.rstrip(":"):
            raise CliError(f'-p "{pair}": expected name=value or name:=JSON', exits.USAGE)
        if key.endswith(":"):
            key = key[:-1]
            try:
                params[key] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CliError(f"param.{key}: not JSON ({exc.msg}): {text}", exits.INVALID) from None
        elif declared.get(key, "string") == "string":
            params[key] = text
        else:
            try:
                params[key] = json.loads(text)
            except json.JSONDecodeError:
                params[key] = text  # the check says "must be of type ..." with the value
    return params


def _inputs(path: str) -> list[Any]:
    """A batch's inputs: a JSON array, or JSON lines (one input a line); `-` reads stdin."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--inputs {path}: {exc.strerror}", exits.USAGE) from None
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            values = json.loads(stripped)
            if isinstance(values, list):
                return values
        return [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise CliError(f"--inputs {path}: not a JSON array or JSON lines ({exc.msg}, line {exc.lineno})") from None


# --- run ---------------------------------------------------------------------------------------------------


async def _versions(s: Session, task: Task, pin: str | None) -> list[Version]:
    if (pin or "current").strip() == "current":
        return []  # the Task's spec as it is now; the history is not needed
    items = await s.client.list(REVISIONS, s.namespace, label_selector=f"{names.LABEL_TASK}={task.metadata.name}")
    return [from_revision(obj) for obj in items]


async def _agent_errors(s: Session, agent: str | None) -> list[FieldError]:
    if not agent:
        return []
    try:
        await s.client.get(AGENTS, s.namespace, agent)
    except NotFound:
        return [FieldError("body.agent_id", f'agent "{agent}" not found in namespace "{s.namespace}"', agent)]
    return []


async def _user(s: Session) -> str | None:
    """Who runs it (the Run's spec.user, as the API writes its caller's name); unknown on an old API server."""
    with contextlib.suppress(ApiError):
        return await who_am_i(s.client)
    return None


async def run(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    task = Task.model_validate(await s.task(a.task))
    versions = await _versions(s, task, a.version)
    found = resolve(a.version, task, versions)
    spec = found.spec if isinstance(found, Version) else task.spec
    trigger = Trigger(
        task,
        "manual",
        params=parse_params(a.param, spec.params or []) or None,
        params_location="param",
        version=a.version,
        priority=a.priority,
        agent=a.agent,
        user=await _user(s),
    )
    checked = check(trigger, versions, s.now())
    errors = checked.errors + await _agent_errors(s, a.agent or task.spec.agent)
    chunk_size, chunks, name = 0, list[str](), None
    inputs = _inputs(a.inputs) if a.inputs else None
    if inputs is not None:
        try:
            chunk_size, chunks = batch.plan_chunks(inputs)
        except ValueError as exc:
            errors.append(FieldError("body.inputs", str(exc), len(inputs)))
        # The chunks' names derive from the Run's, so a batch Run is named here (as the API does).
        name = apinames.run_name_prefix(task.metadata.name) + secrets.token_hex(3)[:5]
    if errors:
        return _say_errors(errors)
    body = build_run(trigger, s.now(), name)
    if inputs is not None and name is not None:
        body["spec"]["inputs"] = {
            "count": len(inputs),
            "chunkSize": chunk_size,
            "configMaps": batch.chunk_names(name, len(chunks)),
        }
    created = await s.client.create(RUNS, s.namespace, body)
    if chunks:
        await batchinputs.write_chunks(s.client, created, chunks)
    run_name = created["metadata"]["name"]
    waiting = a.wait or a.follow
    if a.output in ("json", "yaml"):
        # The object once: as created, or (waiting) as it ended.
        if not waiting:
            print(output.render("runs", [created], a.output, s.now(), single=True), file=out)
    else:
        print(output.name("runs", created) if a.output == "name" else run_name, file=out, flush=True)
    return await _await(s, run_name, a, out) if waiting else exits.OK


async def _await(s: Session, name: str, a: argparse.Namespace, out: TextIO) -> int:
    """Wait for (or follow) the run to its end; the exit code says how it ended (exits.of_run)."""
    deadline = asyncio.get_running_loop().time() + a.timeout if a.timeout else None
    structured = a.output in ("json", "yaml")
    if a.follow:
        final, ended = await watching.follow_run(s, name, deadline, out)
    else:
        reporter = watching.Reporter(s, out, quiet=structured)
        try:
            final, ended = await watching.wait_run(s, name, deadline, reporter)
        finally:
            reporter.close()
    if structured:
        print(output.render("runs", [final], a.output, s.now(), single=True), file=out)
    status = final.get("status") or {}
    if not ended:
        print(f"error: timed out after {a.timeout:g}s waiting for run {name} ({raw_phase(final)})", file=sys.stderr)
        return exits.WAIT_TIMEOUT
    summary = f"{name}: {raw_phase(final)}"
    if status.get("endReason"):
        summary += f" ({status['endReason']}"
        summary += f", exit code {status['exitCode']})" if status.get("exitCode") is not None else ")"
    if status.get("message") and raw_phase(final) != Phase.SUCCEEDED:
        summary += f": {status['message']}"
    print(summary, file=sys.stderr if structured or a.follow else out, flush=True)
    return exits.of_run(final)


async def wait(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    run_ = await s.run(a.name)  # RUN may be its integer id: the rest goes by its name
    return await _await(s, run_["metadata"]["name"], a, out)


# --- get, describe, versions ----------------------------------------------------------------------------------


PLURALS = {"run": "runs", "runs": "runs", "trun": "runs", "task": "tasks", "tasks": "tasks", "tsk": "tasks"}
PLURALS |= {"agent": "agents", "agents": "agents", "agt": "agents"}
_RESOURCES = {"runs": RUNS, "tasks": TASKS, "agents": AGENTS}


async def get(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    plural = PLURALS[a.kind]
    res = _RESOURCES[plural]
    if (a.task or a.phase) and plural != "runs":
        raise CliError("--task and --phase filter runs only", exits.USAGE)
    if a.phase and a.phase.upper() not in Phase.__members__:
        raise CliError(f"--phase: must be one of {', '.join(Phase)} (got {a.phase!r})", exits.USAGE)
    if a.names:
        objects = []
        for n in a.names:
            if plural == "tasks":  # by the API name too (etl:nightly), as completion offers them
                objects.append(await s.task(n))
                continue
            try:
                objects.append(await s.client.get(res, s.namespace, n))
            except NotFound:
                raise CliError(f'{plural.removesuffix("s")} "{n}" not found in namespace "{s.namespace}"') from None
    else:
        selector = None
        if a.task:
            selector = f"{names.LABEL_TASK}={apinames.task_object_name(a.task)}"
        objects = await s.client.list(res, s.namespace, label_selector=selector)
        objects.sort(key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]))
    if a.phase:
        objects = [o for o in objects if raw_phase(o) == a.phase.upper()]
    if not objects and a.output in ("table", "wide"):
        print(f"No resources found in {s.namespace} namespace.", file=sys.stderr)
        return exits.OK
    print(output.render(plural, objects, a.output, s.now(), single=len(a.names) == 1), file=out)
    return exits.OK


async def versions(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    task = await s.task(a.task)
    items = await s.client.list(REVISIONS, s.namespace, label_selector=f"{names.LABEL_TASK}={task['metadata']['name']}")
    items.sort(key=lambda r: int(r.get("revision") or 0), reverse=True)
    if a.output in ("json", "yaml"):
        print(output.document(items, a.output, single=False), file=out)
        return exits.OK
    if a.output == "name":
        print("\n".join(f"controllerrevision.apps/{r['metadata']['name']}" for r in items), file=out)
        return exits.OK
    active = (task.get("status") or {}).get("activeVersion")
    rows: list[tuple[str, ...]] = [("VERSION", "ID", "CURRENT", "AGE")]
    for r in items:
        number = int(r.get("revision") or 0)
        mark = "*" if number == active else ""
        rows.append(
            (str(number), r["metadata"]["name"], mark, output.age(r["metadata"].get("creationTimestamp"), s.now()))
        )
    print(output.aligned(rows), file=out)
    return exits.OK


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


async def describe(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    """A Run as `kubectl describe` would show it, plus what it lacks: attempts, history, result, webhook."""
    run_ = await s.run(a.name)
    meta, spec, status = run_["metadata"], run_.get("spec") or {}, run_.get("status") or {}
    version = status.get("version") or {}
    lines = [
        f"Name:          {meta['name']}",
        # The integer id the REST API takes and answers (seed 003's task_run_id), for a user holding only that.
        f"ID:            {numericids.of(run_)}",
        f"Namespace:     {meta.get('namespace')}",
        f"Task:          {spec.get('taskRef', {}).get('name')}",
        f"Version:       {version.get('number', spec.get('version', 'current'))}"
        + (f" ({version['id']})" if version.get("id") else ""),
        f"Triggered by:  {spec.get('triggeredBy', 'manual')}" + (f" ({spec['user']})" if spec.get("user") else ""),
        f"Created:       {meta.get('creationTimestamp')}",
        f"Phase:         {raw_phase(run_)}",
    ]
    optional = [
        ("End reason", status.get("endReason")),
        ("Exit code", status.get("exitCode")),
        ("Message", status.get("message")),
        ("Started", status.get("startTime")),
        ("Ended", status.get("endTime")),
        ("Priority", status.get("priority", spec.get("priority"))),
        ("Agent", status.get("agent") or spec.get("agent")),
        ("Concurrency", status.get("concurrencyKey")),
        ("Queue position", status.get("queuePosition")),
        ("Next attempt", status.get("nextAttemptAt")),
        ("Params", _json(status["params"]) if status.get("params") is not None else None),
        ("Result", _json(status["result"]) if status.get("result") is not None else None),
    ]
    lines += [f"{(k + ':').ljust(15)}{v}" for k, v in optional if v is not None]
    if status.get("batch"):
        b = status["batch"]
        lines.append(
            f"Batch:         {b.get('succeeded', 0)} succeeded, {b.get('failed', 0)} failed, "
            f"{b.get('running', 0)} running of {b.get('total')}"
            + (f"; failed indexes {b['failedIndexes']}" if b.get("failedIndexes") else "")
        )
    attempts = status.get("attempts") or []
    lines.append("Attempts:" + ("" if attempts else "      <none>"))
    if attempts:
        rows: list[tuple[str, ...]] = [("  #", "JOB", "STARTED", "ENDED", "REASON", "EXIT", "MESSAGE")]
        for t in attempts:
            rows.append(
                (
                    f"  {t.get('number')}",
                    t.get("jobName", ""),
                    t.get("startTime") or "",
                    t.get("endTime") or "",
                    t.get("endReason") or "",
                    "" if t.get("exitCode") is None else str(t["exitCode"]),
                    (t.get("message") or "")[:80],
                )
            )
        lines.append(output.aligned(rows))
    history = status.get("history") or []
    lines.append("History:" + ("" if history else "       <none>"))
    if history:
        lines.append(
            output.aligned(
                [("  TIME", "STEP", "MESSAGE")]
                + [(f"  {h.get('time')}", h.get("step", ""), (h.get("message") or "")[:100]) for h in history]
            )
        )
    hook = status.get("webhook")
    if hook:
        lines.append("Webhook:")
        for key in (
            "state",
            "url",
            "deliveryId",
            "attempts",
            "statusCode",
            "lastError",
            "nextAttemptAt",
            "deliveredAt",
        ):
            if hook.get(key) is not None:
                lines.append(f"  {(key + ':').ljust(15)}{hook[key]}")
    elif spec.get("callbackUrl"):
        lines.append(f"Webhook:       pending ({spec['callbackUrl']})")
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.append(
            output.aligned(
                [("  TYPE", "STATUS", "REASON")]
                + [(f"  {c.get('type')}", c.get("status", ""), c.get("reason") or "") for c in conditions]
            )
        )
    events = await s.client.list(EVENTS, s.namespace, field_selector=f"involvedObject.name={meta['name']}")
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    lines.append("Events:" + ("" if events else "        <none>"))
    if events:
        rows = [("  TYPE", "REASON", "AGE", "MESSAGE")]
        for e in events:
            when = e.get("lastTimestamp") or e.get("eventTime")
            rows.append(
                (f"  {e.get('type', '')}", e.get("reason", ""), output.age(when, s.now()), e.get("message", ""))
            )
        lines.append(output.aligned(rows))
    print("\n".join(lines), file=out)
    return exits.OK


# --- logs ----------------------------------------------------------------------------------------------------


async def logs(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    """The current attempt's log (as the API's /logs); with -f every attempt's, as they run, until the run ends."""
    run_ = await s.run(a.name)
    if a.follow:
        await watching.follow_run(s, run_["metadata"]["name"], None, out)
        return exits.OK
    job = (run_.get("status") or {}).get("jobName")
    pods = await s.client.list(PODS, s.namespace, label_selector=f"{names.LABEL_JOB_NAME}={job}") if job else []
    if not pods:
        raise CliError(f'run "{a.name}" has no pod (phase {raw_phase(run_)})')
    pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    await watching.stream_pod(s, pod, False, out)
    return exits.OK


# --- cancel, resume (runs) -------------------------------------------------------------------------------------


def _written(s: Session, plural: str, obj: dict[str, Any], fmt: str | None, message: str, out: TextIO) -> None:
    """What a write prints: `message` (kubectl's `run.taskops.dev/x canceled`), or with `-o` the object as the API
    server answered the write (json|yaml) or its name."""
    print(message if fmt is None else output.render(plural, [obj], fmt, s.now(), single=True), file=out)


async def cancel_run(s: Session, ident: str, fmt: str | None, out: TextIO) -> int:
    run_ = await s.run(ident)
    name = run_["metadata"]["name"]
    phase = raw_phase(run_)
    if is_terminal(phase):
        raise CliError(f'run "{name}" already ended ({phase}); nothing to cancel')
    patched = await s.client.patch(RUNS, s.namespace, name, firedruns.stop_patch())
    _written(s, "runs", patched, fmt, f"{output.name('runs', run_)} canceled", out)
    return exits.OK


async def resume_run(s: Session, ident: str, fmt: str | None, out: TextIO) -> int:
    """As POST /runs/{id}/resume: a batch run resumes in place, any other is rerun once as a new Run."""
    run_ = await s.run(ident)
    name = run_["metadata"]["name"]
    phase = raw_phase(run_)
    if phase not in RESUMABLE_PHASES:
        raise CliError(f"only a STOPPED, FAILED or PARTIAL_SUCCEEDED run can be resumed; it is {phase}")
    if run_["spec"].get("inputs"):
        done = raw.resumes_done(run_)
        if int(run_["spec"].get("resume") or 0) <= done:  # otherwise a resume is already asked for
            run_ = await s.client.patch(RUNS, s.namespace, name, {"spec": {"resume": done + 1}})
        _written(s, "runs", run_, fmt, f"{output.name('runs', run_)} resumed", out)
        return exits.OK
    task = Task.model_validate(await s.task(run_["spec"]["taskRef"]["name"]))
    created, _ = await s.client.create_or_get(RUNS, s.namespace, resume_of(run_, task, await _user(s), s.now()))
    _written(s, "runs", created, fmt, created["metadata"]["name"], out)
    return exits.OK


# --- pause, resume, snooze, cancel (tasks) ---------------------------------------------------------------------


async def task_state(s: Session, ident: str, state: str, fmt: str | None, out: TextIO) -> int:
    """As the API's pause / resume / cancel: spec.state (resume also clears a snooze); canceled is final."""
    task = await s.task(ident)
    current = (task.get("spec") or {}).get("state") or "active"
    if current == "canceled" and state != "canceled":
        raise CliError(f'task "{ident}" is canceled; a canceled task cannot be paused or resumed')
    spec: dict[str, Any] = {"state": state}
    if state == "active":
        spec["snooze"] = None
    patched = await s.client.patch(TASKS, s.namespace, task["metadata"]["name"], {"spec": spec})
    verb = {"paused": "paused", "active": "resumed", "canceled": "canceled"}[state]
    _written(s, "tasks", patched, fmt, f"{output.name('tasks', task)} {verb}", out)
    return exits.OK


async def snooze_task(s: Session, ident: str, seconds: float, reason: str | None, fmt: str | None, out: TextIO) -> int:
    try:
        req = SnoozeRequest(delay_seconds=int(seconds), reason=reason)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = {"delay_seconds": "--for", "reason": "--reason"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise CliError(f"{where}: {first['msg']}", exits.USAGE) from None
    task = await s.task(ident)
    until = recurrence.snooze_until(s.now(), req.delay_seconds)
    snooze = {"until": timefmt.stamp(until), "reason": req.reason}
    patched = await s.client.patch(TASKS, s.namespace, task["metadata"]["name"], {"spec": {"snooze": snooze}})
    _written(s, "tasks", patched, fmt, f"{output.name('tasks', task)} snoozed until {timefmt.stamp(until)}", out)
    return exits.OK


# --- trigger ------------------------------------------------------------------------------------------------


async def trigger(s: Session, a: argparse.Namespace, out: TextIO) -> int:
    """As POST /events/{name}: one Run per active event Task listening to EVENT, once per event id."""
    event_id = a.id or uuid.uuid4().hex
    user = await _user(s)
    listening = [Task.model_validate(t) for t in await s.client.list(TASKS, s.namespace) if listens(t, a.event)]
    triggers = [
        Trigger(
            t, "event", params=parse_params(a.param, t.spec.params or []) or None, params_location="param", user=user
        )
        for t in listening
    ]
    errors = [e for t in triggers for e in check(t, [], s.now()).errors]
    if errors:
        return _say_errors(errors)
    fired = []
    for t in triggers:
        t.annotations[apinames.ANNOTATION_EVENT_ID] = event_id[:253]
        t.labels[apinames.LABEL_EVENT] = apinames.task_object_name(a.event)
        body = build_run(t, s.now(), apinames.event_run_name(t.task.metadata.name, a.event, event_id))
        created, _ = await s.client.create_or_get(RUNS, s.namespace, body)
        fired.append(created)
    if fired or a.output in ("json", "yaml"):
        # Several runs as one List (single=False), as `kubectl create -f` of several objects prints them.
        if a.output is None:
            print("\n".join(r["metadata"]["name"] for r in fired), file=out)
        else:
            print(output.render("runs", fired, a.output, s.now(), single=False), file=out)
    if not triggers:
        print(f'no active task listens to event "{a.event}" in namespace "{s.namespace}"', file=sys.stderr)
    return exits.OK
