"""`kubectl taskops` against the real control plane, as a user runs it: a separate process, a kubeconfig whose
user is a service account with a Role (so RBAC decides), its exit codes, and stdout that is not a terminal."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pty
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster import build
from devcluster.cluster import Cluster
from taskops.domain.resources import apinames, numericids
from taskops.kubectl import exits
from tests import builders, completionshells
from tests.clidocs import docs_session
from tests.integration.api import ALL_VERBS, service_account
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}
FAKE_LOG = "taskops fake pod: working"


def cli_rules(write: bool = True) -> list[dict[str, Any]]:
    """What a user of `kubectl taskops` needs (docs/cli.md, "Permissions"); `write=False`: reading only."""
    verbs = ALL_VERBS if write else ["get", "list", "watch"]
    return [
        {"apiGroups": ["taskops.dev"], "resources": ["tasks", "runs"], "verbs": verbs},
        {"apiGroups": ["taskops.dev"], "resources": ["agents"], "verbs": ["get", "list", "use"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]},
        {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["list"]},
    ]


@dataclass
class Cli:
    kubeconfig: Path

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # This tree's taskops, whatever the environment has installed.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}
        command = [sys.executable, "-m", "taskops.kubectl.main", "--kubeconfig", str(self.kubeconfig), *args]
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )

    def on_terminal(self, *args: str) -> tuple[int, str]:
        """(exit code, stdout) with stdout a terminal (a pseudo-terminal), as a person at a shell has it."""
        leader, follower = pty.openpty()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO)])}
        command = [sys.executable, "-m", "taskops.kubectl.main", "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(command, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=120, check=False)
        os.close(follower)
        chunks = []
        with contextlib.suppress(OSError):  # EIO: the terminal's other end is closed and drained
            while chunk := os.read(leader, 65536):
                chunks.append(chunk)
        os.close(leader)
        return proc.returncode, b"".join(chunks).decode()

    def ok(self, *args: str, stdin: str | None = None) -> str:
        proc = self(*args, stdin=stdin)
        assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def kubeconfig_of(cluster: Cluster, ns: str, user: str, rules: list[dict[str, Any]], path: Path) -> Path:
    """A kubeconfig for a service account bound to `rules`, its context's namespace `ns` (no -n needed)."""
    token = service_account(cluster, ns, user, rules)
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "cli", "context": {"cluster": admin["clusters"][0]["name"], "user": user, "namespace": ns}}
        ],
        "current-context": "cli",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def cli(cluster: Cluster, operator: OperatorProcess, ns: str, tmp_path: Path) -> Cli:
    return Cli(kubeconfig_of(cluster, ns, "cli-user", cli_rules(), tmp_path / "kubeconfig"))


def first_line(text: str) -> str:
    return text.splitlines()[0].strip()


def test_run_validates_params_waits_and_exits_with_the_runs_outcome(cli: Cli, kube: Kube, ns: str) -> None:
    params = [
        {"name": "limit", "type": "integer", "required": True},
        {"name": "mode", "type": "string", "enum": ["fast", "slow"], "default": "fast"},
    ]
    kube.create(ns, builders.task("hello", pod_annotations=builders.pod_behaviour(duration="200ms"), params=params))
    kube.create(ns, builders.task("fails", pod_annotations=builders.pod_behaviour(exit_code=3), maxRetries=0))
    kube.create(ns, builders.task("hangs", pod_annotations=builders.pod_behaviour(hang=True), maxRetries=0))
    kube.create(
        ns, builders.task("slow", pod_annotations=builders.pod_behaviour(hang=True), maxRetries=0, timeoutSeconds=1)
    )

    # Refused before anything is written, by the operator's own validation: the error names the param.
    bad = cli("run", "hello", "-p", "limit=many", "-p", "mode=medium", "-p", "extra=1")
    assert bad.returncode == exits.INVALID, bad.stderr
    assert 'param.limit: must be of type integer (got "many")' in bad.stderr
    assert "param.mode: must be one of" in bad.stderr and "param.extra: unknown parameter" in bad.stderr
    missing = cli("run", "hello")
    assert missing.returncode == exits.INVALID and "param.limit: required parameter is missing" in missing.stderr
    assert cli("run", "hello", "-p", "limit=1", "--version", "7").returncode == exits.INVALID
    no_agent = cli("run", "hello", "-p", "limit=1", "--agent", "nobody")
    assert no_agent.returncode == exits.INVALID and '--agent: agent "nobody" not found' in no_agent.stderr
    assert cli("run", "hello", "-p", "limit").returncode == exits.USAGE
    assert cli("run", "hello", "--priority", "5000").returncode == exits.USAGE
    assert kube.runs(ns) == []

    # Success: the name first, then the wait; exit 0. The Run is what the API would write, by this user.
    ok = cli("run", "hello", "-p", "limit=3", "-p", "mode:=null", "--priority", "7", "--wait")
    assert ok.returncode == exits.OK, ok.stderr
    name = first_line(ok.stdout)
    assert f"{name}: SUCCEEDED (success, exit code 0)" in ok.stdout
    run = kube.run(ns, name)
    assert run["spec"]["params"] == {"limit": 3, "mode": None} and run["spec"]["priority"] == 7
    assert run["spec"]["triggeredBy"] == "manual"
    assert run["spec"]["user"] == f"system:serviceaccount:{ns}:cli-user"
    assert run["metadata"]["labels"]["taskops.dev/task"] == "hello"
    assert run["status"]["params"] == {"limit": 3}  # null omitted the default

    # Without --wait: the name only, at once. -o json: the Run as created.
    quick = cli.ok("run", "hello", "-p", "limit=1")
    assert quick.strip() in {r["metadata"]["name"] for r in kube.runs(ns)}
    created = json.loads(cli.ok("run", "hello", "-p", "limit=2", "-o", "json"))
    assert created["kind"] == "Run" and created["spec"]["params"] == {"limit": 2}
    ended = json.loads(cli.ok("run", "hello", "-p", "limit=2", "--wait", "-o", "json"))  # only the ended Run
    assert ended["status"]["phase"] == "SUCCEEDED"

    # The container's exit code; an attempt past its deadline; --timeout while it still runs.
    failed = cli("run", "fails", "--wait")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "FAILED (failed, exit code 3)" in failed.stdout
    timed_out = cli("run", "slow", "--wait", "--timeout", "90s")
    assert timed_out.returncode == exits.RUN_TIMEOUT, timed_out.stdout + timed_out.stderr
    waiting = cli("run", "hangs", "--wait", "--timeout", "3s")
    assert waiting.returncode == exits.WAIT_TIMEOUT and "timed out after 3s" in waiting.stderr
    hanging = first_line(waiting.stdout)
    kube.wait_run_phase(ns, hanging, {"RUNNING"})

    # cancel → STOPPED (130 from wait); an ended run cannot be canceled; resume reruns it once.
    assert cli.ok("cancel", hanging).strip() == f"run.taskops.dev/{hanging} canceled"
    assert kube.run(ns, hanging)["spec"]["stop"] is True
    stopped = cli("wait", hanging, "--timeout", "60s")
    assert stopped.returncode == exits.STOPPED, stopped.stdout + stopped.stderr
    again = cli("cancel", hanging)
    assert again.returncode == exits.ERROR and "already ended (STOPPED)" in again.stderr
    resumed = cli.ok("resume", hanging).strip()
    assert cli.ok("resume", "run", hanging, "-o", "name").strip() == f"run.taskops.dev/{resumed}", "one resume per run"
    rerun = kube.run(ns, resumed)
    assert rerun["spec"]["triggeredBy"] == "resume"
    assert rerun["metadata"]["annotations"]["taskops.dev/resume-of"] == hanging
    not_resumable = cli("resume", name)
    assert not_resumable.returncode == exits.ERROR and "it is SUCCEEDED" in not_resumable.stderr
    assert cli("cancel", "no-such-run").returncode == exits.ERROR


def test_follow_streams_the_log_of_every_attempt_through_a_retry(cli: Cli, kube: Kube, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "flaky",
            pod_annotations={"kwok.taskops.dev/fail-attempts": "1", "kwok.taskops.dev/duration": "1s"},
            maxRetries=1,
            backoffStrategy="fixed",
            backoffSeconds=1,
        ),
    )
    proc = cli("run", "flaky", "--follow", "--timeout", "90s")
    assert proc.returncode == exits.OK, proc.stdout + proc.stderr
    name = first_line(proc.stdout)
    assert proc.stdout.count(FAKE_LOG) == 2, proc.stdout
    assert f"==> {name}: attempt 1, pod {name}-1-" in proc.stderr
    assert f"==> {name}: attempt 2, pod {name}-2-" in proc.stderr
    assert f"{name}: SUCCEEDED" in proc.stderr
    status = kube.run(ns, name)["status"]
    assert [a["endReason"] for a in status["attempts"]] == ["failed", "success"]

    # `logs` prints the current attempt's log; -f follows every attempt of a run to its end.
    assert FAKE_LOG in cli.ok("logs", name)
    assert cli.ok("logs", name, "-f").count(FAKE_LOG) == 2


def test_get_describe_versions_and_rbac(cli: Cli, kube: Kube, ns: str, cluster: Cluster, tmp_path: Path) -> None:
    message = json.dumps({"rows": 42})
    kube.create(ns, builders.task("report", pod_annotations=builders.pod_behaviour(duration="200ms", message=message)))
    kube.create(ns, builders.task("other", pod_annotations=builders.pod_behaviour(exit_code=2), maxRetries=0))
    kube.create(ns, builders.agent("gpu", capacity=2))
    good = first_line(cli.ok("run", "report", "--wait"))
    bad = first_line(cli("run", "other", "--wait").stdout)
    hook = "https://receiver.invalid/hook"
    kube.create(ns, builders.run("hooked", "report", callbackUrl=hook))
    kube.wait_run_phase(ns, "hooked", ENDED)

    table = cli.ok("get", "runs")
    assert table.splitlines()[0].split() == ["NAME", "TASK", "PHASE", "REASON", "EXIT", "MESSAGE", "AGE"]
    assert {good, bad, "hooked"} <= {line.split()[0] for line in table.splitlines()[1:]}
    wide = cli.ok("get", "runs", "-o", "wide")
    assert "ATTEMPT" in wide.splitlines()[0] and f"{good}-1" in wide
    assert cli.ok("get", "runs", "--task", "other", "-o", "name").split() == [f"run.taskops.dev/{bad}"]
    assert cli.ok("get", "runs", "--phase", "failed", "-o", "name").split() == [f"run.taskops.dev/{bad}"]
    listed = json.loads(cli.ok("get", "runs", "-o", "json"))
    assert listed["kind"] == "List" and len(listed["items"]) == 3
    one = yaml.safe_load(cli.ok("get", "run", good, "-o", "yaml"))
    assert one["metadata"]["name"] == good and one["status"]["result"] == {"rows": 42}
    assert {"report", "other"} <= set(cli.ok("get", "tasks").split())
    assert "gpu" in cli.ok("get", "agents") and "CAPACITY" in cli.ok("get", "agents")
    assert cli("get", "runs", "--phase", "sideways").returncode == exits.USAGE
    assert cli("get", "run", "nope").returncode == exits.ERROR

    described = cli.ok("describe", "run", good)
    for expected in ("Phase:         SUCCEEDED", 'Result:        {"rows": 42}', "Attempts:", f"{good}-1", "History:"):
        assert expected in described, described
    assert "job_created" in described and "Conditions:" in described and "Events:" in described
    hooked = cli.ok("describe", "run", "hooked")
    assert "Webhook:" in hooked and hook in hooked
    # The integer id the REST API answers (seed 003's task_run_id) is shown, and taken where a run's name is.
    number = numericids.of(kube.run(ns, good))
    assert f"ID:            {number}" in described
    assert f"Name:          {good}" in cli.ok("describe", "run", str(number))
    assert f"{good}: SUCCEEDED" in cli.ok("wait", str(number))

    # Every spec change is a version; the current one is marked.
    kube.custom.patch_namespaced_custom_object(
        "taskops.dev", "v1alpha1", ns, "tasks", "report", {"spec": {"title": "changed"}}
    )
    wait_for(lambda: len(cli.ok("versions", "report").splitlines()) == 3, what="version 2")
    wait_for(lambda: "*" in cli.ok("versions", "report").splitlines()[1], what="version 2 to be the current one")
    versions = cli.ok("versions", "report").splitlines()
    assert versions[0].split() == ["VERSION", "ID", "CURRENT", "AGE"]
    assert versions[1].split()[:3] == ["2", "report-v2", "*"] and versions[2].split()[:2] == ["1", "report-v1"]
    pinned = first_line(cli.ok("run", "report", "--version", "1"))
    assert kube.wait_run_phase(ns, pinned, ENDED)["status"]["version"]["number"] == 1

    # What the user may not do, the API server refuses: kubectl's message, exit 1.
    reader = Cli(kubeconfig_of(cluster, ns, "reader", cli_rules(write=False), tmp_path / "reader"))
    assert good in reader.ok("get", "runs")
    refused = reader("run", "report")
    assert refused.returncode == exits.ERROR and "Error from server (Forbidden)" in refused.stderr
    assert reader("pause", "task", "report").returncode == exits.ERROR

    # kubectl's connection flags: the namespace and context are the kubeconfig's unless given, before or after.
    assert good in cli.ok("-n", ns, "--context", "cli", "get", "runs") and good in cli.ok("get", "runs", "-n", ns)
    elsewhere = reader("get", "runs", "-n", "kube-system")
    assert elsewhere.returncode == exits.ERROR and "Error from server (Forbidden)" in elsewhere.stderr
    no_context = cli("--context", "nope", "get", "runs")
    assert no_context.returncode == exits.ERROR and "cannot use the kubeconfig" in no_context.stderr
    # A Task made through the API under a seed 002 name is got by that name, as completion offers it.
    object_name = apinames.task_object_name("etl:nightly")
    kube.create(ns, builders.task(object_name, metadata={"annotations": {apinames.ANNOTATION_API_NAME: "etl:nightly"}}))
    assert cli.ok("get", "task", "etl:nightly", "-o", "name").strip() == f"task.taskops.dev/{object_name}"


def test_task_lifecycle_and_events(cli: Cli, kube: Kube, ns: str) -> None:
    kube.create(ns, builders.task("nightly", scheduleKind="cron", scheduleExpr="0 3 * * *"))
    spec = lambda: kube.get(ns, "tasks", "nightly")["spec"]  # noqa: E731

    assert cli.ok("pause", "task", "nightly").strip() == "task.taskops.dev/nightly paused"
    assert spec()["state"] == "paused"
    before = dt.datetime.now(dt.UTC)
    assert "snoozed until" in cli.ok("snooze", "task", "nightly", "--for", "2h", "--reason", "maintenance")
    snooze = spec()["snooze"]
    until = dt.datetime.fromisoformat(snooze["until"].replace("Z", "+00:00"))
    assert dt.timedelta(hours=2) <= until - before < dt.timedelta(hours=2, minutes=1)
    assert snooze["reason"] == "maintenance"
    too_long = cli("snooze", "task", "nightly", "--for", "8d")
    assert too_long.returncode == exits.USAGE and "--for" in too_long.stderr
    resumed = json.loads(cli.ok("resume", "task", "nightly", "-o", "json"))  # the Task as written
    assert resumed["kind"] == "Task" and resumed["spec"]["state"] == "active"
    assert spec()["state"] == "active" and "snooze" not in spec()
    cli.ok("cancel", "task", "nightly")
    assert spec()["state"] == "canceled"
    refused = cli("resume", "task", "nightly")
    assert refused.returncode == exits.ERROR and "canceled" in refused.stderr
    assert cli("run", "nightly").returncode == exits.INVALID  # a canceled task runs no more

    # An event fires every active Task listening to it, once per event id.
    params = [{"name": "release", "type": "string", "required": True}]
    kube.create(ns, builders.task("on-deploy-a", scheduleKind="event", scheduleExpr="deployed", params=params))
    kube.create(ns, builders.task("on-deploy-b", scheduleKind="event", scheduleExpr="deployed", params=params))
    kube.create(ns, builders.task("elsewhere", scheduleKind="event", scheduleExpr="other"))
    assert cli("trigger", "deployed", "--id", "r7").returncode == exits.INVALID  # `release` is required
    first = sorted(cli.ok("trigger", "deployed", "--id", "r7", "-p", "release=7.1").split())
    assert len(first) == 2
    again = cli.ok("trigger", "deployed", "--id", "r7", "-p", "release=7.1", "-o", "name").split()
    assert sorted(again) == [f"run.taskops.dev/{n}" for n in first]
    listed = yaml.safe_load(cli.ok("trigger", "deployed", "--id", "r7", "-p", "release=7.1", "-o", "yaml"))
    assert listed["kind"] == "List" and sorted(r["metadata"]["name"] for r in listed["items"]) == first
    runs = kube.runs(ns)
    assert sorted(r["metadata"]["name"] for r in runs) == first
    assert all(r["spec"]["triggeredBy"] == "event" and r["spec"]["params"] == {"release": "7.1"} for r in runs)


def test_a_batch_run_reports_progress_and_exits_3_on_partial_success(cli: Cli, kube: Kube, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "batch",
            batch={"parallelism": 10},
            pod_annotations={"kwok.taskops.dev/fail-indexes": "4", "kwok.taskops.dev/duration": "100ms"},
        ),
    )
    inputs = "\n".join(json.dumps({"n": i}) for i in range(12))
    proc = cli("run", "batch", "--inputs", "-", "--wait", "--timeout", "120s", stdin=inputs)
    assert proc.returncode == exits.PARTIAL, proc.stdout + proc.stderr
    name = first_line(proc.stdout)
    # stdout is a pipe here: plain status lines (a terminal gets a bar redrawn in place).
    assert "\r" not in proc.stdout
    assert f"{name}: PARTIAL_SUCCEEDED 11 succeeded, 1 failed, 0 running of 12" in proc.stdout
    assert f"{name}: PARTIAL_SUCCEEDED (partial_success" in proc.stdout
    # On a terminal, the bar, drawn in place.
    code, shown = cli.on_terminal("wait", name)
    assert code == exits.PARTIAL and "\r\x1b[2K[" in shown, repr(shown)
    assert "] 12/12  ok 11  failed 1  running 0" in shown
    run = kube.run(ns, name)
    assert run["spec"]["inputs"]["count"] == 12 and run["status"]["batch"]["failedIndexes"] == "4"
    # Resuming a batch run reruns only what failed, in place.
    assert cli.ok("resume", name).strip() == f"run.taskops.dev/{name} resumed"
    assert kube.run(ns, name)["spec"]["resume"] == 1


def test_completion_offers_commands_and_names_from_the_cluster(cli: Cli, kube: Kube, ns: str, tmp_path: Path) -> None:
    kube.create(ns, builders.task("hello"))
    kube.create(ns, builders.task("help-desk"))
    kube.create(ns, builders.run("hello-1", "hello"))
    assert "complete -o default -F _kubectl_taskops kubectl-taskops" in cli.ok("completion", "bash")
    assert "compdef _kubectl_taskops kubectl-taskops" in cli.ok("completion", "zsh")
    assert cli.ok("__complete", "re").split() == ["resume"]
    assert cli.ok("__complete", "run", "hel").split() == ["hello", "help-desk"]
    assert cli.ok("__complete", "cancel", "").split() == ["task", "hello-1"]
    assert cli.ok("__complete", "pause", "task", "he").split() == ["hello", "help-desk"]
    assert cli.ok("__complete", "-n", "kube-system", "run", "hel").split() == []  # another namespace: no tasks
    # The scripts, sourced in bash and zsh as docs/cli.md says, offer the names the cluster has.
    env = completionshells.plugin_env(completionshells.plugin_bin(tmp_path / "bin"), cli.kubeconfig)
    assert completionshells.offered("bash", env, "run", "hel") == ["hello", "help-desk"]
    assert completionshells.offered("zsh", env, "describe", "run", "") == ["hello-1"]
    assert completionshells.offered("zsh", env, "get", "runs", "--task", "help") == ["help-desk"]
    assert completionshells.offered("zsh", env, "get", "runs", "--ph") == ["--phase"]


def test_the_session_in_docs_cli_md_runs(cli: Cli, kube: Kube, ns: str, tmp_path: Path) -> None:
    """Through the real kubectl: it finds `kubectl-taskops` on PATH (a shim that runs this tree's plugin)."""
    bin_dir = completionshells.plugin_bin(tmp_path / "bin")
    (bin_dir / "kubectl").symlink_to(build.binary("kubectl"))
    env = completionshells.plugin_env(bin_dir, cli.kubeconfig)
    session = docs_session()
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", session], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "exit code 65" in proc.stdout and "exit code 130" in proc.stdout
    assert "param.greeting: unknown parameter" in proc.stderr
    assert "run.taskops.dev/" in proc.stdout and FAKE_LOG in proc.stdout
    states = kube.get(ns, "tasks", "on-deploy")
    assert states is not None and states["spec"]["state"] == "canceled"
    # kubectl's own completion of `kubectl taskops ...` asks the plugin's completer.
    completed = subprocess.run(
        ["kubectl", "__complete", "taskops", "run", "he"], env=env, capture_output=True, text=True, check=False
    )
    assert "hello" in completed.stdout.split(), completed.stdout + completed.stderr
