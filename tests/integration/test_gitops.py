"""taskops under GitOps (docs/gitops.md): Argo CD and Flux render the chart with `helm template` and keep diffing the
cluster against Git, so the chart's output must depend on its values alone, an upgrade with unchanged values must
change nothing, the webhook key must never rotate, and Tasks applied from Git must never drift from what the operator
writes beside them."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster import build
from devcluster.chartlint import VALUE_SETS
from devcluster.cluster import Cluster
from taskops.clients import credentials, webhookkey
from taskops.clients.kube import KubeClient
from taskops.operator.releasekey import ensure_release_key
from tests import builders
from tests.integration.controlplane import WEBHOOK_KEY, WEBHOOK_SECRET
from tests.integration.helm import CHART, ON_KWOK, helm
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.paths import REPO

# What charts/taskops/templates/webhook-secret.yaml was before the operator made the key (chart 0.1.0): a random key
# at render time, kept across upgrades through `lookup`. Releases installed with it must keep their key.
OLD_WEBHOOK_SECRET_TEMPLATE = """\
{{- if not .Values.webhook.existingSecret }}
{{- $name := include "taskops.webhookSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name }}
{{- $key := "" }}
{{- if and $existing $existing.data (hasKey $existing.data "secret") }}
{{- $key = index $existing.data "secret" }}
{{- else }}
{{- $key = randAlphaNum 48 | b64enc }}
{{- end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "taskops.componentLabels" (dict "root" . "component" "operator") | nindent 4 }}
type: Opaque
data:
  secret: {{ $key | quote }}
{{- end }}
"""
ARGOCD = "--field-manager=argocd"


# -- the chart -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_template_output_depends_on_the_values_alone(helm_home: Path, name: str) -> None:
    args = ("template", "taskops", str(CHART), "--namespace", "taskops-system", *VALUE_SETS[name])
    first, second = (helm(helm_home, *args).stdout for _ in range(2))
    assert first == second
    kinds = {doc["kind"] for doc in yaml.safe_load_all(first) if doc}
    assert "Secret" not in kinds, "a key made at render time would rotate on every GitOps sync"


def test_pod_disruption_budgets_never_block_a_drain(helm_home: Path) -> None:
    def budgets(*args: str) -> list[dict[str, Any]]:
        out = helm(helm_home, "template", "taskops", str(CHART), "--show-only", "templates/pdb.yaml", *args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    assert [b["spec"]["unhealthyPodEvictionPolicy"] for b in budgets()] == ["AlwaysAllow", "AlwaysAllow"]
    chosen = budgets("--set", "pdb.unhealthyPodEvictionPolicy=IfHealthyBudget")
    assert {b["spec"]["unhealthyPodEvictionPolicy"] for b in chosen} == {"IfHealthyBudget"}
    out = helm(helm_home, "template", "t", str(CHART), "--set", "pdb.unhealthyPodEvictionPolicy=Never", check=False)
    assert out.returncode != 0 and "unhealthyPodEvictionPolicy" in out.stderr
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.30.0-0"


def _release_state(cluster: Cluster, helm_home: Path, release: str, ns: str) -> dict[str, Any]:
    """What a write to any object of the release would change: generation, labels, annotations, and who last wrote
    what outside the status (controllers keep writing status; that is not the release changing)."""
    manifest = helm(helm_home, "get", "manifest", release, "--namespace", ns, kubeconfig=cluster.kubeconfig).stdout
    listed = json.loads(cluster.kubectl("get", "-f", "-", "-o", "json", input=manifest))
    state = {}
    for obj in listed.get("items", [listed]):
        meta = obj["metadata"]
        writes = sorted(
            (m["manager"], m["operation"], m.get("time", ""), json.dumps(m.get("fieldsV1"), sort_keys=True))
            for m in meta.get("managedFields", [])
            if m.get("subresource") != "status"
        )
        key = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"
        # Objects without a status a controller writes: nothing at all may change, resourceVersion included.
        stable = meta["resourceVersion"] if "status" not in obj or obj["kind"] == "Service" else ""
        state[key] = (meta.get("generation"), meta.get("labels"), meta.get("annotations"), writes, stable)
    return state


def test_helm_upgrade_with_unchanged_values_changes_no_object(cluster: Cluster, helm_home: Path, ns: str) -> None:
    release = "gitops"
    kc = cluster.kubeconfig
    values = [*ON_KWOK, "--set", "networkPolicy.enabled=true"]
    helm(helm_home, "install", release, str(CHART), "--namespace", ns, *values, kubeconfig=kc)
    try:
        cluster.kubectl("wait", "--for=condition=Available", "-n", ns, "--timeout=120s",
                        f"deployment/{release}-taskops-operator", f"deployment/{release}-taskops-api")  # fmt: skip
        before = _release_state(cluster, helm_home, release, ns)
        assert len(before) >= 15, sorted(before)
        helm(helm_home, "upgrade", release, str(CHART), "--namespace", ns, *values, kubeconfig=kc)
        after = _release_state(cluster, helm_home, release, ns)
        changed = {key for key in before if before[key] != after.get(key)}
        assert not changed, {key: (before[key], after.get(key)) for key in changed}
        history = json.loads(helm(helm_home, "history", release, "-n", ns, "-o", "json", kubeconfig=kc).stdout)
        assert [h["revision"] for h in history] == [1, 2]
    finally:
        helm(helm_home, "uninstall", release, "--namespace", ns, "--wait", "--timeout=60s", kubeconfig=kc)


def test_upgrade_from_a_chart_that_made_the_key_keeps_the_key(
    cluster: Cluster, helm_home: Path, ns: str, tmp_path: Path
) -> None:
    """A release installed when the chart made the key: the upgrade neither deletes nor changes that Secret, and the
    operator reads it as the release key (no receiver sees a new key)."""
    old = tmp_path / "taskops"
    shutil.copytree(CHART, old)
    (old / "templates" / "webhook-secret.yaml").write_text(OLD_WEBHOOK_SECRET_TEMPLATE)
    release, kc = "keep", cluster.kubeconfig
    secret = f"{release}-taskops-webhook"

    def live() -> dict[str, Any]:
        return dict(json.loads(cluster.kubectl("get", "secret", secret, "-n", ns, "-o", "json")))

    helm(helm_home, "install", release, str(old), "--namespace", ns, *ON_KWOK, kubeconfig=kc)
    try:
        made = live()
        key = made["data"]["secret"]
        for _ in range(2):
            helm(helm_home, "upgrade", release, str(CHART), "--namespace", ns, *ON_KWOK, kubeconfig=kc)
            now = live()
            assert now["data"]["secret"] == key
            assert now["metadata"]["uid"] == made["metadata"]["uid"], "deleted and made again"
        assert now["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
        got = asyncio.run(_ensure(cluster.kubeconfig, ns, secret))
        assert got == webhookkey.ReleaseKey(base64.b64decode(key), created=False)
        assert live()["metadata"]["resourceVersion"] == now["metadata"]["resourceVersion"]
    finally:
        helm(helm_home, "uninstall", release, "--namespace", ns, "--wait", "--timeout=60s", kubeconfig=kc)
    # The release's own Secret goes with the release, as it always did.
    assert cluster.kubectl("get", "secret", secret, "-n", ns, "--ignore-not-found", "-o", "name") == ""


# -- the operator's key ----------------------------------------------------------------------


async def _ensure(kubeconfig: Path, namespace: str, name: str) -> webhookkey.ReleaseKey:
    async with KubeClient(credentials.load(str(kubeconfig)), user_agent="test") as client:
        return await webhookkey.ensure(client, namespace, name)


def test_two_replicas_starting_at_once_make_one_key_and_never_replace_one(cluster: Cluster, ns: str) -> None:
    async def both() -> list[webhookkey.ReleaseKey]:
        return list(await asyncio.gather(*(_ensure(cluster.kubeconfig, ns, "release-key") for _ in range(2))))

    first, second = asyncio.run(both())
    assert sorted([first.created, second.created]) == [False, True]
    assert first.key == second.key and first.key is not None
    assert len(first.key) == webhookkey.KEY_LENGTH and first.key.isalnum()
    stored = json.loads(cluster.kubectl("get", "secret", "release-key", "-n", ns, "-o", "json"))
    assert base64.b64decode(stored["data"]["secret"]) == first.key
    labels = stored["metadata"]["labels"]
    # Argo CD tracks (and prunes) objects with its application's instance label: the operator's Secret has none.
    assert "app.kubernetes.io/instance" not in labels and labels["app.kubernetes.io/managed-by"] == "taskops-operator"
    assert "ownerReferences" not in stored["metadata"]
    # A restart, a user's own key, a Secret without the key: read, never written.
    assert asyncio.run(_ensure(cluster.kubeconfig, ns, "release-key")) == webhookkey.ReleaseKey(first.key, False)
    cluster.kubectl("create", "secret", "generic", "mine", "-n", ns, "--from-literal=secret=my-own-key")
    cluster.kubectl("create", "secret", "generic", "empty", "-n", ns, "--from-literal=other=x")
    versions = cluster.kubectl(
        "get", "secrets", "mine", "empty", "-n", ns, "-o", "jsonpath={.items[*].metadata.resourceVersion}"
    )
    assert asyncio.run(_ensure(cluster.kubeconfig, ns, "mine")) == webhookkey.ReleaseKey(b"my-own-key", False)
    assert asyncio.run(_ensure(cluster.kubeconfig, ns, "empty")) == webhookkey.ReleaseKey(None, False)
    assert cluster.kubectl(
        "get", "secrets", "mine", "empty", "-n", ns, "-o", "jsonpath={.items[*].metadata.resourceVersion}"
    ) == (versions)


def test_the_operator_reads_the_key_with_the_charts_rights_and_starts_without_one(
    cluster: Cluster, identities: dict[str, Path], ns: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As the chart's operator account: `create` in the release namespace answers 409 for the existing Secret, whose
    key it may read by name. Where it may not create, it says so and goes on (webhooks then report no-secret)."""
    namespace, name = WEBHOOK_SECRET
    got = asyncio.run(_ensure(identities["operator"], namespace, name))
    assert got == webhookkey.ReleaseKey(WEBHOOK_KEY, created=False)

    async def refused() -> None:
        async with KubeClient(credentials.load(str(identities["operator"])), user_agent="test") as client:
            await ensure_release_key(client, ns, "taskops-webhook")

    with caplog.at_level(logging.ERROR, logger="taskops.webhooks"):
        asyncio.run(refused())
    assert "cannot create the webhook signing Secret" in caplog.text and "Forbidden" in caplog.text
    assert cluster.kubectl("get", "secrets", "-n", ns, "-o", "name") == ""


def test_an_operator_started_with_webhook_secret_create_makes_the_key_before_it_acts(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    """The process as the chart starts it (--webhook-secret-create), watching an empty namespace of its own so that it
    never competes with the session's operator."""
    proc = OperatorProcess(
        cluster.kubeconfig, tmp_path, name="keymaker", args=("--namespace", ns, f"--webhook-secret={ns}/made-key")
    )
    proc.start("--webhook-secret-create")
    try:
        made = wait_for(
            lambda: cluster.kubectl("get", "secret", "made-key", "-n", ns, "-o", "json", check=False), 60,
            what="the operator's signing Secret",
        )  # fmt: skip
        key = base64.b64decode(json.loads(made)["data"]["secret"])
        assert len(key) == webhookkey.KEY_LENGTH and key.isalnum()
        wait_for(lambda: "created the webhook signing Secret" in proc.tail(), 30, what="the log line")
        assert key.decode() not in proc.tail(), "a key in the log"
    finally:
        proc.stop()
    # A restart reads it, and changes nothing.
    proc.start("--webhook-secret-create")
    try:
        wait_for(lambda: proc.tail(400).count("taskops operator starting") == 2, 60, what="the restarted operator")
        again = json.loads(cluster.kubectl("get", "secret", "made-key", "-n", ns, "-o", "json"))
        assert again["metadata"]["resourceVersion"] == json.loads(made)["metadata"]["resourceVersion"]
    finally:
        proc.stop()


# -- Tasks from Git --------------------------------------------------------------------------


def _manifests() -> list[dict[str, Any]]:
    """What a repository of Tasks holds: an Agent, a scheduled Task that runs on it and keeps a short history, and a
    Task triggered by hand (the examples' shapes)."""
    agent = builders.agent("builders", 2, metadata={"labels": {"team": "ci"}}, description="CI builders")
    ticking = builders.task(
        "tick",
        scheduleKind="cron",
        scheduleExpr="*/3 * * * * *",
        overlapPolicy="skip",
        successfulRunsHistoryLimit=2,
        agent="builders",
    )
    ticking["metadata"]["annotations"] = {"owner": "team-ci"}
    hello = builders.task("hello", command=["sh", "-c", "echo hello"], description="by hand")
    return [agent, ticking, hello]


def _diff(cluster: Cluster, path: Path, ns: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(build.binary("kubectl")), "--kubeconfig", str(cluster.kubeconfig), "diff", "--server-side", ARGOCD,
         "-n", ns, "-f", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def _spec_managers(obj: dict[str, Any]) -> set[str]:
    """Who owns fields outside the status (and outside what kopf and the API server keep in metadata)."""
    owners = set()
    for entry in obj["metadata"].get("managedFields", []):
        fields = (entry.get("fieldsV1") or {}).keys() - {"f:status", "f:metadata"}
        if entry.get("subresource") != "status" and fields:
            owners.add(entry["manager"])
    return owners


def test_tasks_applied_by_a_gitops_tool_never_drift(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump_all(_manifests()))
    apply = ("apply", "--server-side", ARGOCD, "-n", ns, "-f", str(path))
    cluster.kubectl(*apply)
    # Runs happen: by hand, and on the schedule (three or more, so the history limit deletes some).
    kube.create(ns, builders.run("hello-1", "hello"))
    kube.wait_run_phase(ns, "hello-1", {"SUCCEEDED"}, timeout=90)

    seen: set[str] = set()

    def ticked() -> bool:
        # Until the operator has deleted a scheduled Run past the history limit, with two ended and the next fire
        # time in the Task's status.
        runs = [r for r in kube.runs(ns) if r["spec"]["taskRef"]["name"] == "tick"]
        names = {r["metadata"]["name"] for r in runs}
        pruned = bool(seen - names)
        seen.update(names)
        task = kube.get(ns, "tasks", "tick") or {}
        ended = [r for r in runs if (r.get("status") or {}).get("phase") == "SUCCEEDED"]
        return pruned and len(ended) >= 2 and bool((task.get("status") or {}).get("nextRunAt"))

    wait_for(ticked, 90, interval=1, what="scheduled Runs, one deleted by the history limit, and the Task's status")
    # The second sync: no conflict (kubectl exits non-zero on one), and then nothing to sync.
    cluster.kubectl(*apply)
    out = _diff(cluster, path, ns)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    for plural, name in (("agents", "builders"), ("tasks", "tick"), ("tasks", "hello")):
        obj = kube.get(ns, plural, name)
        assert obj is not None
        assert _spec_managers(obj) == {"argocd"}, obj["metadata"]["managedFields"]


def _with_a_new_defaulted_field(crd: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(crd)
    for version in changed["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        spec["properties"]["gitopsProbe"] = {"type": "string", "default": "filled-by-schema", "description": "test"}
    return changed


def test_a_crd_schema_change_does_not_make_existing_tasks_drift(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, ns: str, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump_all(_manifests()))
    cluster.kubectl("apply", "--server-side", ARGOCD, "-n", ns, "-f", str(path))
    original = REPO / "crds" / "taskops.dev_tasks.yaml"
    crd = yaml.safe_load(original.read_text())
    # Applied the way the session applied the CRDs (client-side), so the restore below is an ordinary apply.
    cluster.kubectl("apply", "-f", "-", input=json.dumps(_with_a_new_defaulted_field(crd)))
    try:

        def served() -> bool:
            return (kube.get(ns, "tasks", "hello") or {}).get("spec", {}).get("gitopsProbe") == "filled-by-schema"

        wait_for(served, 30, what="the new schema to be served")
        kube.create(ns, builders.run("hello-1", "hello"))
        kube.wait_run_phase(ns, "hello-1", {"SUCCEEDED"}, timeout=90)
        out = _diff(cluster, path, ns)
        assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
        cluster.kubectl("apply", "--server-side", ARGOCD, "-n", ns, "-f", str(path))
        assert _diff(cluster, path, ns).returncode == 0
    finally:
        cluster.kubectl("apply", "-f", str(original))
        deadline = time.monotonic() + 30
        while "gitopsProbe" in cluster.kubectl("get", "crd", "tasks.taskops.dev", "-o", "json"):
            assert time.monotonic() < deadline, "the original Task CRD did not come back"
            time.sleep(0.5)
