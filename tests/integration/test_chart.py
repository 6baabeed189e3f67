"""The Helm chart: it lints, renders safe defaults and least-privilege RBAC, refuses bad values,
and installs, upgrades and uninstalls cleanly on the real control plane.

helm is built by devcluster like the control plane (`devcluster.build.binary("helm")`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.cluster import Cluster
from tests.integration.helm import CHART, ON_KWOK, helm

SECURE_VALUE_SETS = {
    "defaults": [],
    "namespaced": ["--set", "rbac.namespaced=true,watchNamespace=x"],
    "monitoring": ["--set", "metrics.serviceMonitor.enabled=true,networkPolicy.enabled=true"],
}

# What each ServiceAccount may do on watched objects: (apiGroup, resource) -> verbs.
OPERATOR_RULES = {
    ("taskops.dev", "tasks"): {"get", "list", "watch"},
    ("taskops.dev", "agents"): {"get", "list", "watch"},
    ("taskops.dev", "runs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("taskops.dev", "tasks/status"): {"patch"},
    ("taskops.dev", "runs/status"): {"patch"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "events"): {"create"},
    ("apps", "controllerrevisions"): {"get", "list", "watch", "create"},
    ("", "secrets"): {"get"},
    ("", "configmaps"): {"get", "list", "watch", "create", "patch", "delete"},
}
OPERATOR_CLUSTER_ONLY = {("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"}}
# The release namespace's Role: the Lease, the signing Secret by name, and `create` for that Secret (which RBAC cannot
# limit to a name) when the operator is to make it.
OPERATOR_LOCAL_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "create", "update"]},
    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["taskops-webhook"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
]
API_RULES = {
    ("taskops.dev", "tasks"): {"get", "list", "watch", "create", "patch", "delete"},
    ("taskops.dev", "runs"): {"get", "list", "watch", "create", "patch"},
    ("taskops.dev", "agents"): {"get", "list"},
    ("apps", "controllerrevisions"): {"get", "list"},
    ("", "pods"): {"list"},
    ("", "pods/log"): {"get"},
    ("", "configmaps"): {"create", "get"},
}
API_AUTH_RULES = {
    ("authentication.k8s.io", "tokenreviews"): {"create"},
    ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
}


def render(home: Path, *args: str, namespace: str = "taskops-system") -> list[dict[str, Any]]:
    out = helm(home, "template", "taskops", str(CHART), "--namespace", namespace, *args)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = (group, resource)
                assert key not in out, f"{role['metadata']['name']}: {key} granted twice"
                out[key] = set(rule["verbs"])
    return out


def args_of(deployment: dict[str, Any]) -> list[str]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return list(containers[0]["args"])


# -- lint and render -----------------------------------------------------------------------


def test_lint_strict_passes(helm_home: Path) -> None:
    for values in SECURE_VALUE_SETS.values():
        out = helm(helm_home, "lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in out.stdout, out.stdout


@pytest.mark.parametrize("values", SECURE_VALUE_SETS.values(), ids=SECURE_VALUE_SETS.keys())
def test_every_pod_is_locked_down_and_probed(helm_home: Path, values: list[str]) -> None:
    docs = render(helm_home, *values)
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"taskops-operator", "taskops-api"}
    for name, dep in deployments.items():
        assert dep["spec"]["replicas"] == 2, name
        pod = dep["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001 and psc["fsGroup"] == 10001, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert not sc.get("privileged"), where
            image = c["image"]
            assert image == "ghcr.io/taskops/taskops:0.1.0", where
            assert not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1], where
            port = c["ports"][0]["containerPort"]
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            named = {p["name"]: p["containerPort"] for p in c["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                assert named[c[probe]["httpGet"]["port"]] == port, where
            assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], where
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], where
    operator, api = deployments["taskops-operator"], deployments["taskops-api"]
    assert operator["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8081
    assert api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    env = operator["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env


def test_shards_are_one_deployment_and_budget_each(helm_home: Path) -> None:
    """operator.shards=3: three Deployments, each its own pods (disjoint selectors), shard flag and budget; the
    default renders the one unsharded Deployment (no --shard: every namespace, the unsharded Lease name)."""
    assert "--shard" not in args_of(by_kind(render(helm_home), "Deployment")["taskops-operator"])
    docs = render(helm_home, "--set", "operator.shards=3")
    deployments = by_kind(docs, "Deployment")
    names = [f"taskops-operator-{i}" for i in range(3)]
    assert set(deployments) == {*names, "taskops-api"}
    for i, name in enumerate(names):
        d = deployments[name]
        pairs = dict(itertools.pairwise(args_of(d)))
        assert pairs["--shard"] == f"{i}/3" and pairs["--lease-name"] == "taskops-operator", name
        selector = d["spec"]["selector"]["matchLabels"]
        assert selector["taskops.dev/operator-shard"] == str(i), name
        assert selector.items() <= d["spec"]["template"]["metadata"]["labels"].items(), name
        assert d["spec"]["template"]["spec"]["serviceAccountName"] == "taskops-operator", name
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == {*names, "taskops-api"}
    assert all(pdbs[n]["spec"]["selector"]["matchLabels"]["taskops.dev/operator-shard"] == n[-1] for n in names)
    with pytest.raises(AssertionError, match="minimum"):
        render(helm_home, "--set", "operator.shards=0")


def test_process_arguments(helm_home: Path) -> None:
    deployments = by_kind(render(helm_home), "Deployment")
    op = args_of(deployments["taskops-operator"])
    assert op[0] == "operator"
    pairs = dict(itertools.pairwise(op))
    assert "--leader-elect" in op
    assert pairs["--lease-namespace"] == "taskops-system"
    assert pairs["--metrics-port"] == "8081"
    assert pairs["--log-format"] == "json" and pairs["--log-level"] == "INFO"
    assert pairs["--webhook-secret"] == "taskops-system/taskops-webhook"
    assert "--namespace" not in op and "--webhook-allow" not in op and "--webhook-deny" not in op
    # Batch pods' init container is the operator's own image; EnvFiles is off unless the cluster has it.
    image = deployments["taskops-operator"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert pairs["--batch-init-image"] == image and "--batch-env-files" not in op
    api = args_of(deployments["taskops-api"])
    assert api[:3] == ["api", "--port", "8080"] and "--namespace" not in api

    docs = render(
        helm_home,
        "--set",
        "webhook.existingSecret=my-key,webhook.allow={.example.com,10.0.0.0/8},webhook.deny={10.0.0.1/32}",
        "--set",
        "operator.logLevel=DEBUG,operator.batch.initImage=mirror.example/taskops:9,operator.batch.envFiles=true",
    )
    op = args_of(by_kind(docs, "Deployment")["taskops-operator"])
    pairs = dict(itertools.pairwise(op))
    assert pairs["--webhook-secret"] == "taskops-system/my-key"
    assert pairs["--webhook-allow"] == ".example.com,10.0.0.0/8" and pairs["--webhook-deny"] == "10.0.0.1/32"
    assert pairs["--log-level"] == "DEBUG"
    assert pairs["--batch-init-image"] == "mirror.example/taskops:9" and "--batch-env-files" in op
    assert by_kind(docs, "Secret") == {}, "an existing signing Secret is used, not made"
    local = by_kind(docs, "Role")["taskops-operator-local"]
    assert [r.get("resourceNames") for r in local["rules"] if r["resources"] == ["secrets"]] == [["my-key"]]

    # The cluster's own ranges are denied with `deny`; allow-only and the per-host limit pass through.
    docs = render(
        helm_home,
        "--set",
        "webhook.deny={34.1.0.0/16},webhook.clusterCIDRs={100.200.0.0/16,fd12::/108},webhook.allowOnly=true",
        "--set",
        "webhook.perHost=2",
    )
    op = args_of(by_kind(docs, "Deployment")["taskops-operator"])
    pairs = dict(itertools.pairwise(op))
    assert pairs["--webhook-deny"] == "34.1.0.0/16,100.200.0.0/16,fd12::/108"
    assert "--webhook-allow-only" in op and pairs["--webhook-per-host"] == "2"


def test_the_chart_renders_no_webhook_key(helm_home: Path) -> None:
    """A key made at render time changes with every `helm template` (docs/gitops.md): the operator makes it."""
    docs = render(helm_home)
    assert by_kind(docs, "Secret") == {}
    op = args_of(by_kind(docs, "Deployment")["taskops-operator"])
    assert "--webhook-secret-create" in op
    docs = render(helm_home, "--set", "webhook.existingSecret=my-key")
    assert "--webhook-secret-create" not in args_of(by_kind(docs, "Deployment")["taskops-operator"])
    local = by_kind(docs, "Role")["taskops-operator-local"]
    assert all("create" not in r["verbs"] for r in local["rules"] if r["resources"] == ["secrets"])


def test_rbac_is_cluster_wide_by_default(helm_home: Path) -> None:
    docs = render(helm_home, "--show-only", "templates/rbac.yaml")
    cluster_roles = by_kind(docs, "ClusterRole")
    assert set(cluster_roles) == {
        "taskops-system-taskops-operator",
        "taskops-system-taskops-api",
        "taskops-system-taskops-api-auth",
    }
    assert rules_of(cluster_roles["taskops-system-taskops-operator"]) == OPERATOR_RULES | OPERATOR_CLUSTER_ONLY
    assert rules_of(cluster_roles["taskops-system-taskops-api"]) == API_RULES
    assert rules_of(cluster_roles["taskops-system-taskops-api-auth"]) == API_AUTH_RULES
    roles = by_kind(docs, "Role")
    assert set(roles) == {"taskops-operator-local"}
    assert roles["taskops-operator-local"]["metadata"]["namespace"] == "taskops-system"
    assert roles["taskops-operator-local"]["rules"] == OPERATOR_LOCAL_RULES
    bindings = by_kind(docs, "ClusterRoleBinding")
    assert set(bindings) == set(cluster_roles)
    for name, binding in bindings.items():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        sa = "taskops-operator" if "operator" in name else "taskops-api"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "taskops-system"}]
    assert set(by_kind(docs, "RoleBinding")) == {"taskops-operator-local"}


def test_rbac_namespaced_mode_uses_roles_in_the_watched_namespace(helm_home: Path) -> None:
    docs = render(helm_home, "--set", "rbac.namespaced=true,watchNamespace=x")
    roles = by_kind(docs, "Role")
    assert set(roles) == {"taskops-operator", "taskops-api", "taskops-operator-local"}
    assert roles["taskops-operator"]["metadata"]["namespace"] == "x"
    assert roles["taskops-api"]["metadata"]["namespace"] == "x"
    assert rules_of(roles["taskops-operator"]) == OPERATOR_RULES
    assert rules_of(roles["taskops-api"]) == API_RULES
    assert roles["taskops-operator-local"]["metadata"]["namespace"] == "taskops-system"
    # TokenReview and SubjectAccessReview are cluster-scoped: the one ClusterRole left.
    assert set(by_kind(docs, "ClusterRole")) == {"taskops-system-taskops-api-auth"}
    assert set(by_kind(docs, "ClusterRoleBinding")) == {"taskops-system-taskops-api-auth"}
    bindings = by_kind(docs, "RoleBinding")
    assert {(b["metadata"]["name"], b["metadata"]["namespace"]) for b in bindings.values()} == {
        ("taskops-operator", "x"),
        ("taskops-api", "x"),
        ("taskops-operator-local", "taskops-system"),
    }
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"taskops-operator", "taskops-api"}
    for dep in deployments.values():
        args = args_of(dep)
        assert args[args.index("--namespace") + 1] == "x", args

    refused = helm(helm_home, "template", "taskops", str(CHART), "--set", "rbac.namespaced=true", check=False)
    assert refused.returncode != 0 and "needs watchNamespace" in refused.stderr


def test_optional_objects(helm_home: Path) -> None:
    defaults = render(helm_home)
    assert not by_kind(defaults, "ServiceMonitor") and not by_kind(defaults, "NetworkPolicy")
    services = by_kind(defaults, "Service")
    assert services["taskops-operator-metrics"]["spec"]["clusterIP"] == "None"
    api_svc = services["taskops-api"]["spec"]
    assert api_svc["type"] == "ClusterIP"
    assert api_svc["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    pdbs = by_kind(defaults, "PodDisruptionBudget")
    assert {n: p["spec"]["minAvailable"] for n, p in pdbs.items()} == {"taskops-operator": 1, "taskops-api": 1}
    # One replica: a minAvailable=1 budget would block every drain, so there is none.
    single = render(helm_home, "--set", "operator.replicas=1")
    assert set(by_kind(single, "PodDisruptionBudget")) == {"taskops-api"}

    docs = render(helm_home, *SECURE_VALUE_SETS["monitoring"])
    monitor = by_kind(docs, "ServiceMonitor")["taskops"]
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"metrics", "http"}
    policies = by_kind(docs, "NetworkPolicy")
    api_in = policies["taskops-api"]["spec"]["ingress"]
    assert api_in == [{"ports": [{"port": 8080, "protocol": "TCP"}], "from": [{"namespaceSelector": {}}]}]
    op_in = policies["taskops-operator"]["spec"]["ingress"]
    assert [p["port"] for rule in op_in for p in rule["ports"]] == [8081]

    peers = render(
        helm_home,
        "--set",
        "networkPolicy.enabled=true",
        "--set-json",
        'networkPolicy.apiFrom=[{"podSelector":{"matchLabels":{"role":"gateway"}}}]',
    )
    api_in = by_kind(peers, "NetworkPolicy")["taskops-api"]["spec"]["ingress"]
    assert api_in[0]["from"] == [{"podSelector": {"matchLabels": {"role": "gateway"}}}]


def test_admission_policies(helm_home: Path) -> None:
    """On by default, trusting this release's two service accounts only; scoped to the watched namespace."""
    docs = render(helm_home)
    policies, bindings = by_kind(docs, "ValidatingAdmissionPolicy"), by_kind(docs, "ValidatingAdmissionPolicyBinding")
    names = {f"taskops-system-taskops-{p}.taskops.dev" for p in ("tasks", "agents", "runs", "versions")}
    assert set(policies) == set(bindings) == names
    for name, policy in policies.items():
        trusted = policy["spec"]["matchConditions"][0]["expression"]
        assert "'system:serviceaccount:taskops-system:taskops-operator'" in trusted, trusted
        assert ("taskops-api'" in trusted) == (not name.endswith("-versions.taskops.dev")), trusted
        spec = bindings[name]["spec"]
        assert spec["policyName"] == name and spec["validationActions"] == ["Deny"]
        assert spec["matchResources"]["namespaceSelector"] == {}
    # The chart's copy is the generated one, like crds/policies/ (taskops.policies is their one source).
    from taskops import crds

    assert crds.check_policies() == []

    scoped = render(
        helm_home,
        "--set",
        "rbac.namespaced=true,watchNamespace=x,admissionPolicy.podSecurity.enabled=true",
        "--set-json",
        'admissionPolicy.validationActions=["Warn","Audit"]',
    )
    bindings = by_kind(scoped, "ValidatingAdmissionPolicyBinding")
    assert len(bindings) == 5 and "taskops-system-taskops-pod-security.taskops.dev" in bindings
    for binding in bindings.values():
        assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
        assert binding["spec"]["matchResources"]["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": "x"}
        }
    exempt = {"matchExpressions": [{"key": "privileged", "operator": "DoesNotExist"}]}
    custom = render(
        helm_home,
        "--set",
        "admissionPolicy.podSecurity.enabled=true",
        "--set-json",
        f"admissionPolicy.podSecurity.namespaceSelector={json.dumps(exempt)}",
    )
    pod_security = by_kind(custom, "ValidatingAdmissionPolicyBinding")[
        "taskops-system-taskops-pod-security.taskops.dev"
    ]
    assert pod_security["spec"]["matchResources"]["namespaceSelector"] == exempt
    off = render(helm_home, "--set", "admissionPolicy.enabled=false")
    assert not by_kind(off, "ValidatingAdmissionPolicy") and not by_kind(off, "ValidatingAdmissionPolicyBinding")


def test_scheduling_values_pass_through(helm_home: Path) -> None:
    docs = render(
        helm_home,
        "--set",
        "nodeSelector.type=kwok,imagePullSecrets[0].name=regcred,podAnnotations.a=b,image.tag=1.2.3",
        "--set-json",
        'tolerations=[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]',
    )
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"taskops-operator", "taskops-api"}
    for dep in deployments.values():
        pod = dep["spec"]["template"]
        assert pod["metadata"]["annotations"] == {"a": "b"}
        assert pod["spec"]["nodeSelector"] == {"type": "kwok"}
        assert pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
        assert pod["spec"]["containers"][0]["image"] == "ghcr.io/taskops/taskops:1.2.3"


def test_every_value_is_in_the_schema_with_a_description() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        assert node.get("description") or node is schema, f"{path}: no description"
        if not isinstance(value, dict) or node.get("type") != "object" or "properties" not in node:
            return
        if path in (
            "",
            ".image",
            ".rbac",
            ".operator",
            ".api",
            ".webhook",
            ".pdb",
            ".networkPolicy",
            ".admissionPolicy",
        ):
            assert node.get("additionalProperties") is False, f"{path}: unknown keys must be refused"
        for key, sub in value.items():
            assert key in node["properties"], f"{path}.{key} is not in values.schema.json"
            walk(sub, node["properties"][key], f"{path}.{key}")

    walk(values, schema, "")


def test_latest_tag_is_refused(helm_home: Path) -> None:
    out = helm(helm_home, "template", "taskops", str(CHART), "--set", "image.tag=latest", check=False)
    assert out.returncode != 0 and "image.tag=latest is refused" in out.stderr


def test_chart_crds_are_the_generated_ones() -> None:
    from taskops import crds

    assert CHART / "crds" in crds.OUTPUT_DIRS
    assert crds.check([CHART / "crds"]) == []


# -- on the control plane ------------------------------------------------------------------


def test_bad_values_fail_the_install_with_the_schema_message(cluster: Cluster, helm_home: Path, ns: str) -> None:
    base = ("install", "bad", str(CHART), "--namespace", ns)
    out = helm(helm_home, *base, "--set", "operator.replicas=-1,replicsa=2", kubeconfig=cluster.kubeconfig, check=False)
    assert out.returncode != 0
    assert "values don't meet the specifications of the schema" in out.stderr, out.stderr
    assert "at '/operator/replicas': minimum: got -1, want 0" in out.stderr, out.stderr
    assert "additional properties 'replicsa' not allowed" in out.stderr, out.stderr

    out = helm(helm_home, *base, "--set", "image.tag=5", kubeconfig=cluster.kubeconfig, check=False)
    assert out.returncode != 0 and "at '/image/tag': got number, want string" in out.stderr, out.stderr

    releases = helm(helm_home, "list", "--namespace", ns, "--all", "-o", "json", kubeconfig=cluster.kubeconfig)
    assert json.loads(releases.stdout) == []
    made = cluster.kubectl("get", "deployments,secrets,serviceaccounts,roles", "-n", ns, "-o", "name")
    assert made.split() == ["serviceaccount/default"], made


@pytest.fixture
def watched_ns(cluster: Cluster, ns: str) -> Iterator[str]:
    name = f"{ns}-w"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _leftovers(cluster: Cluster, ns: str, release: str) -> list[str]:
    """Every object in `ns` but what Kubernetes puts in any namespace, and the release's cluster-scoped ones."""
    kinds = cluster.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").split()
    kinds = [k for k in kinds if k not in ("events", "events.events.k8s.io")]
    items = json.loads(cluster.kubectl("get", ",".join(kinds), "-n", ns, "-o", "json"))["items"]
    left = [
        f"{i['kind']}/{i['metadata']['name']}"
        for i in items
        if (i["kind"], i["metadata"]["name"]) not in {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}
    ]
    # The chart's cluster-scoped names start with the release namespace.
    cluster_kinds = "clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings"
    cluster_objects = cluster.kubectl("get", cluster_kinds, "-o", "name").split()
    left += [o for o in cluster_objects if o.split("/", 1)[1].startswith(f"{ns}-{release}-")]
    return left


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_install_upgrade_uninstall(cluster: Cluster, helm_home: Path, ns: str, watched_ns: str, mode: str) -> None:
    release = "taskops"
    values = [*ON_KWOK]
    if mode == "namespaced":
        values += ["--set", f"rbac.namespaced=true,watchNamespace={watched_ns},operator.replicas=1"]
    kc = cluster.kubeconfig
    # The CRDs are installed already (the session fixture applied crds/): Helm skips existing ones.
    out = helm(helm_home, "install", release, str(CHART), "--namespace", ns, *values, kubeconfig=kc)
    assert "STATUS: deployed" in out.stdout
    assert f"port-forward service/{release}-api" in out.stdout and "create token" in out.stdout, out.stdout
    cluster.kubectl("wait", "--for=condition=Available", "-n", ns, "--timeout=120s",
                    f"deployment/{release}-operator", f"deployment/{release}-api")  # fmt: skip

    # The ServiceAccounts hold exactly the chart's rights, checked by the API server itself.
    def can(sa: str, verb: str, resource: str, namespace: str) -> bool:
        user = f"system:serviceaccount:{ns}:{sa}"
        args = ["auth", "can-i", verb, resource, "-n", namespace, "--as", user]
        if "/" in resource and not resource.startswith("secrets/"):  # a subresource: pods/log, runs/status
            kind, sub = resource.split("/")
            args[3:4] = [kind, f"--subresource={sub}"]
        return cluster.kubectl(*args, check=False).strip() == "yes"

    op, api = f"{release}-operator", f"{release}-api"
    target = watched_ns if mode == "namespaced" else "default"
    assert can(op, "create", "jobs.batch", target) and can(op, "patch", "runs.taskops.dev/status", target)
    assert can(op, "update", "leases.coordination.k8s.io", ns)
    assert can(op, "get", f"secrets/{release}-webhook", ns)
    assert not can(op, "list", "secrets", target) and not can(op, "delete", "pods", target)
    assert can(api, "create", "runs.taskops.dev", target) and can(api, "get", "pods/log", target)
    assert not can(api, "delete", "runs.taskops.dev", target) and not can(api, "get", "secrets", target)
    # Cluster-scoped reviews: granted in both modes (the API authenticates every caller with them).
    assert can(api, "create", "tokenreviews.authentication.k8s.io", ns)
    assert can(api, "create", "subjectaccessreviews.authorization.k8s.io", ns)
    if mode == "namespaced":
        assert not can(op, "list", "runs.taskops.dev", "default")
        assert not can(api, "list", "tasks.taskops.dev", "default")

    # The operator makes the signing Secret (the chart renders no key): it may create one, and nothing else.
    assert can(op, "create", "secrets", ns) and not can(op, "update", f"secrets/{release}-webhook", ns)
    assert not can(op, "create", "secrets", target)
    helm(helm_home, "upgrade", release, str(CHART), "--namespace", ns, "--reuse-values",
         "--set", "api.replicas=1", kubeconfig=kc)  # fmt: skip
    cluster.kubectl("rollout", "status", "-n", ns, f"deployment/{api}", "--timeout=60s")

    installed = set(_leftovers(cluster, ns, release))
    expected = {f"Deployment/{op}", f"Deployment/{api}", f"Service/{api}", f"Service/{op}-metrics",
                f"ServiceAccount/{op}", f"ServiceAccount/{api}", f"Role/{op}-local",
                f"clusterrole.rbac.authorization.k8s.io/{ns}-{release}-api-auth",
                f"validatingadmissionpolicy.admissionregistration.k8s.io/{ns}-{release}-tasks.taskops.dev"}  # fmt: skip
    assert expected <= installed, expected - installed

    helm(helm_home, "uninstall", release, "--namespace", ns, "--wait", "--timeout=60s", kubeconfig=kc)
    # Pods go with their ReplicaSets through the garbage collector, a moment after the Deployments.
    deadline = time.monotonic() + 30
    while (left := _leftovers(cluster, ns, release)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], "left behind by helm uninstall"
    assert cluster.kubectl("get", "roles,rolebindings", "-n", watched_ns, "-o", "name") == ""
    # Helm never deletes CRDs (nor the Tasks and Runs they hold).
    assert cluster.kubectl("get", "crd", "tasks.taskops.dev", "-o", "name").strip()
