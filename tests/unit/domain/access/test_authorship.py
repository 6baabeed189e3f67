"""What a write asks of its author's rights (taskops.domain.access.authorship), and the policies of the same rules.

Mainly domain/access/authorship.py; also covers taskops/policies.py (the same rules as admission policies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taskops import crds, policies
from taskops.domain.access.authorship import CREATE_JOBS, Right, agent_need, task_needs
from taskops.domain.resources.mergepatch import merged, replacing


def spec(account: str | None = None, field: str = "serviceAccountName", **more: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if account is not None:
        pod[field] = account
    return {"payload": {"spec": {"template": {"spec": pod}}}, **more}


def rights(needs: list[Any]) -> list[tuple[str, tuple[Right, ...]]]:
    return [(n.location, n.rights) for n in needs]


def test_a_new_task_needs_create_jobs_and_its_accounts() -> None:
    assert rights(task_needs(spec(), None, "body")) == [("body.payload", (CREATE_JOBS,))]
    assert rights(task_needs(spec("default"), None, "body")) == [("body.payload", (CREATE_JOBS,))]
    needs = task_needs(spec("robot"), None, "body")
    assert needs[1].location == "body.payload.spec.template.spec.serviceAccountName" and needs[1].value == "robot"
    assert [str(r) for r in needs[1].rights] == [
        'impersonate serviceaccounts "robot"',
        'use serviceaccounts.taskops.dev "robot"',
    ]
    # The deprecated alias is a way to name an account too.
    legacy = task_needs(spec("robot", field="serviceAccount"), None, "body")
    assert legacy[1].location.endswith(".serviceAccount")


def test_agent_and_webhook_secret() -> None:
    needs = task_needs(spec(agent="gpu", webhookSecret="signing"), None, "body")
    assert [str(r) for n in needs for r in n.rights][1:] == ['use agents.taskops.dev "gpu"', 'get secrets "signing"']
    assert agent_need(None, "body.agent_id") == []
    assert str(agent_need("gpu", "body.agent_id")[0].rights[0]) == 'use agents.taskops.dev "gpu"'


def test_an_update_asks_only_for_what_it_changes() -> None:
    old = spec("robot", agent="gpu", webhookSecret="signing", scheduleExpr="0 * * * *")
    assert task_needs({**old, "scheduleExpr": "5 * * * *", "state": "paused"}, old, "body") == []
    assert [n.location for n in task_needs({**old, "agent": "cpu"}, old, "body")] == ["body.agent"]
    changed = {**old, **spec("robot2")}
    assert [n.location for n in task_needs(changed, old, "body")] == [
        "body.payload",
        "body.payload.spec.template.spec.serviceAccountName",
    ]


def test_an_update_is_judged_on_what_will_be_stored() -> None:
    stored = spec("robot")
    patch = {"payload": {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "evil"}]}}}}}
    result = merged(stored, patch)
    assert result["payload"]["spec"]["template"]["spec"]["serviceAccountName"] == "robot"
    assert "b.payload.spec.template.spec.serviceAccountName" in [n.location for n in task_needs(result, stored, "b")]
    assert merged({"a": 1, "b": {"c": 2}}, {"a": None, "b": {"d": 3}}) == {"b": {"c": 2, "d": 3}}


def test_a_replacing_patch_removes_what_the_new_value_leaves_out() -> None:
    old, new = {"phase": "RUNNING", "jobName": "r-1", "attempt": 1}, {"phase": "FAILED", "attempt": 1}
    assert merged(old, replacing(old, new)) == new


def test_policy_files_are_generated_for_both_installs(tmp_path: Path) -> None:
    assert crds.check_policies() == []
    assert crds.check_policies(tmp_path) == [str(p) for p in crds.policy_files(tmp_path)]
    non_helm = policies.non_helm_files()["policies/taskops-authorization.yaml"]
    assert "system:serviceaccount:taskops-system:taskops-api" in non_helm and "{{" not in non_helm
    chart = policies.chart_template()
    assert (
        chart.count("{{- if .Values.admissionPolicy") == 2
        and "toJson .Values.admissionPolicy.validationActions" in chart
    )
    # Every policy judges only its own release's operator and API as trusted, never a wildcard.
    judging = [obj for obj in policies.authorization(policies.NON_HELM) if obj["kind"] == "ValidatingAdmissionPolicy"]
    assert judging, "no ValidatingAdmissionPolicy"
    for obj in judging:
        assert obj["spec"]["failurePolicy"] == "Fail"
        assert "taskops-system:taskops-operator" in obj["spec"]["matchConditions"][0]["expression"]
