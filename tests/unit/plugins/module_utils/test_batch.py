"""module_utils/_batch.py: the role's steps over a play batch, from registered results to per-service outcomes."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_collections.aml.kserve.plugins.module_utils import _batch, _batch_cluster
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC
from tests.harness.ansible import REPO_ROOT

ROLE = REPO_ROOT / "roles" / "isvc"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
OPTIONS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
TOKEN = "glpat-unit-secret"
MODEL = {"repo": "m", "project_id": 1, "project_path": "amlmodels/m", "group": "amlmodels", "subgroup": "",
         "branch": "main", "revision": "v1", "commit_id": "c" * 40, "pipeline_tag": "text-generation",
         "library_name": "transformers"}
APPLIED = {"kind": "InferenceService"}  # what kubernetes.core.k8s returns of an applied object
RUNTIME = {"runtime": {"name": "vllm-rt", "runtime_class": "vllm", "container": {}}, "choice": "by class"}


def service(name: str, namespace: str = "ns1", **values) -> dict:
    return dict(DEFAULTS, **dict({"isvc_name": name, "isvc_namespace": namespace, "isvc_model_repo": "m",
                                  "isvc_model_repo_tag": "v1", "isvc_runtime_class": "vllm"}, **values))


def config(namespace: str) -> dict:
    return {"item": {"kind": "ConfigMap", "name": _batch.CONFIG_MAP, "namespace": namespace, "cluster": "c1"},
            "object": {"data": {"MODEL_REPO_GIT_BASE": "gl.example", "MODEL_REPO_GIT_SCHEME": "https"}}}


def secret(namespace: str, token: str = TOKEN) -> dict:
    return {"item": {"kind": "Secret", "name": _batch.SECRET, "namespace": namespace, "cluster": "c1"},
            "object": {"data": {"MODEL_REPO_GIT_TOKEN": base64.b64encode(token.encode()).decode()}}}


def existing(*namespaces: str, services=None) -> dict:
    return {"results": [{"item": {"namespace": ns, "cluster": "c1"}, "inference_services": services or [],
                         "pod_security_level": ""}
                        for ns in namespaces]}


def run_to_lookups(inputs: dict, gitlab_read: dict, tokens=None, reads=None):
    batch = _batch.plan(inputs, OPTIONS, RENDER_SPEC)
    return _batch.model_lookups(batch, reads or existing("ns1", "ns2"), gitlab_read, tokens or {})


def test_plan_checks_before_any_request_with_the_roles_messages():
    batch = _batch.plan({"ok": service("ok"), "rules": service("rules", isvc_min_replicas=3, isvc_max_replicas=2),
                         "render": service("render", isvc_cpu_request="lots"),
                         "types": service("types", isvc_min_replicas="many", isvc_wait_timeout="soon"),
                         "gone": service("gone", isvc_state="absent")}, OPTIONS, RENDER_SPEC)
    services = batch["services"]
    assert "gone" not in services, "a removal renders nothing"
    assert batch["removals"] == [{"host": "gone", "cluster": "c1", "namespace": "ns1", "name": "gone", "wait": True,
                                  "wait_timeout": 1800}]
    assert services["ok"]["error"] == ""
    assert services["rules"]["error"] == (
        "Invalid role variables (1): isvc_max_replicas (2) must not be less than isvc_min_replicas (3)")
    assert "cpu_request='lots' is not a Kubernetes quantity" in services["render"]["error"]
    assert services["render"]["error"].endswith(_batch._role_checks.RENDER_HINT)
    assert services["types"]["error"].startswith("Validation of arguments failed:\n")
    assert "isvc_min_replicas" in services["types"]["error"]
    # only the good service is read, once for its namespace
    assert batch["existing_reads"] == [{"cluster": "c1", "namespace": "ns1", "names": ["ok"], "pod_security": True}]
    assert batch["gitlab_reads"] == [{"cluster": "c1", "namespace": "ns1", "kind": "ConfigMap", "name": _batch.CONFIG_MAP},
                                     {"cluster": "c1", "namespace": "ns1", "kind": "Secret", "name": _batch.SECRET}]


def test_plan_never_keeps_a_given_token_and_reads_nothing_for_given_gitlab():
    batch = _batch.plan({"a": service("a", isvc_gitlab_url=" https://gl ", isvc_gitlab_token=TOKEN)}, OPTIONS, RENDER_SPEC)
    assert TOKEN not in str(batch)
    assert batch["gitlab_reads"] == []
    assert batch["services"]["a"]["gitlab_url"] == "https://gl", "trimmed, as the role always did"


def test_same_gitlab_and_ref_in_two_namespaces_is_one_lookup_and_tokens_stay_apart():
    inputs = {"a": service("a"), "b": service("b", "ns2"), "c": service("c", isvc_model_repo="other")}
    found = run_to_lookups(inputs, {"results": [config("ns1"), secret("ns1"), config("ns2"), secret("ns2")]})
    assert len(found["lookups"]) == 2
    keys = {h: s["model_key"] for h, s in found["services"].items()}
    assert keys["a"] == keys["b"] != keys["c"]
    assert found["lookups"][0]["api_url"] == "https://gl.example"
    assert TOKEN not in str({k: v for k, v in found.items() if k != "gitlab_tokens"})
    assert set(found["gitlab_tokens"].values()) == {TOKEN}


def test_another_token_means_another_lookup_and_tokens_are_trimmed():
    inputs = {"a": service("a"), "b": service("b", "ns2")}
    found = run_to_lookups(inputs, {"results": [config("ns1"), secret("ns1", TOKEN + "\n"), config("ns2"),
                                                secret("ns2", "other")]})
    assert len(found["lookups"]) == 2
    assert sorted(found["gitlab_tokens"].values()) == sorted([TOKEN, "other"])


@pytest.mark.parametrize("reads, expected", [
    ([secret("ns1")], ["ConfigMap aml-image-builder-config does not exist in namespace ns1",
                       "kubectl create configmap aml-image-builder-config -n ns1"]),
    ([{"item": config("ns1")["item"], "object": {"data": {}}}, secret("ns1")],
     ["ConfigMap aml-image-builder-config in namespace ns1 lacks the key MODEL_REPO_GIT_BASE"]),
    ([config("ns1")], ["Secret aml-image-builder-secret does not exist in namespace ns1"]),
    ([config("ns1"), {"item": secret("ns1")["item"], "object": {"data": {}}}],
     ["Secret aml-image-builder-secret in namespace ns1 lacks the key MODEL_REPO_GIT_TOKEN"]),
])
def test_missing_pipeline_configuration_is_explained(reads, expected):
    found = run_to_lookups({"a": service("a")}, {"results": reads})
    for text in expected:
        assert text in found["services"]["a"]["error"]
    assert found["lookups"] == []


def test_a_failed_read_is_its_namespaces_own_and_says_which_in_the_apiservers_words():
    inputs = {"a": service("a"), "b": service("b", "ns2")}
    forbidden = 'secrets "aml-image-builder-secret" is forbidden: User "x" cannot get resource "secrets"'
    failed = {"item": secret("ns2")["item"], "failed": True, "msg": "Forbidden while reading Secret ...",
              "api_message": forbidden}
    batch = _batch.plan(inputs, OPTIONS, RENDER_SPEC)
    registered = {"results": [config("ns1"), secret("ns1"), config("ns2"), failed]}
    found = _batch.model_lookups(batch, existing("ns1", "ns2"), registered, {})
    assert found["services"]["a"]["error"] == ""
    assert found["services"]["b"]["error"] == (
        "Cannot read Secret aml-image-builder-secret in namespace ns2: " + forbidden + ". Give this identity get on "
        "configmaps and secrets there (playbooks/prepare_rbac.yml), or set isvc_gitlab_url and isvc_gitlab_token.")
    assert found["services"]["b"]["reason"] == "gitlab"
    assert [lookup["api_url"] for lookup in found["lookups"]] == ["https://gl.example"]


def test_the_tokens_given_are_kept_by_host_and_blank_ones_are_not_given():
    assert _batch.given_tokens({"a": {"isvc_gitlab_token": "glpat-a"}, "b": {"isvc_gitlab_token": "  "}, "c": {}}) == \
        {"a": "glpat-a"}


def test_a_namespace_that_cannot_be_read_fails_its_services_before_gitlab():
    reads = {"results": [{"item": {"namespace": "ns1", "cluster": "c1"}, "failed": True, "msg": "Forbidden while listing"}]}
    found = run_to_lookups({"a": service("a")}, {"results": [config("ns1"), secret("ns1")]}, reads=reads)
    assert found["services"]["a"]["error"] == "Forbidden while listing"
    assert found["lookups"] == []


def prepared(inputs: dict, models=None, runtimes=None, reads=None, check_mode=False):
    found = run_to_lookups(inputs, {"results": [r for ns in ("ns1", "ns2") for r in (config(ns), secret(ns))]}, reads=reads)
    models = models or {"results": [dict(MODEL, item=lookup) for lookup in found["lookups"]]}
    runtime_items = _batch.runtime_lookups(found, models)
    runtimes = runtimes or {"results": [dict(RUNTIME, item=item) for item in runtime_items]}
    return _batch.prepare(found, models, runtimes, RENDER_SPEC)


def owned(done: dict, check_mode: bool = False, **by_host) -> dict:
    """inference_service_ownership's answer for each group: every service applied, unless by_host says otherwise."""
    results = []
    for group in _batch.ownership_groups(done):
        services = [by_host.get(host) or {"method": "apply", "definition": dict(resource, checked=host), "migrated": False}
                    for host, resource in zip(group["hosts"], group["resources"])]
        results.append({"item": group, "services": services})
    return _batch.apply_groups(done, {}, {"results": results}, check_mode)


def found(*where_names: str) -> dict:
    """What the read before the look-ups found: an InferenceService (RawDeployment, as the role renders) per
    "namespace/name"."""
    by_namespace: dict = {}
    for where in where_names:
        namespace, name = where.split("/")
        by_namespace.setdefault(namespace, []).append({"name": name, "resource": {"metadata": {
            "name": name, "namespace": namespace, "uid": "uid-" + name,
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}}}})
    return {"results": [{"item": {"namespace": ns, "cluster": "c1"}, "inference_services": by_namespace.get(ns, []),
                         "pod_security_level": ""} for ns in ("ns1", "ns2")]}


def test_prepare_renders_guards_and_groups_the_apply_per_field_manager_and_method():
    done = prepared({"a": service("a"), "b": service("b", "ns2"), "c": service("c", isvc_field_manager="other"),
                     "g": service("g", isvc_render_only=True), "n": service("n", isvc_update_if_exists=False),
                     "u": service("u")}, reads=found("ns1/a", "ns2/b", "ns1/c"))
    # only what exists is checked by inference_service_ownership: n and u did not exist
    assert [(g["field_manager"], g["update_if_exists"], g["hosts"]) for g in _batch.ownership_groups(done)] == [
        ("aml.kserve", True, ["a", "b"]), ("other", True, ["c"])]
    assert done["manifests"] == [{"path": "./manifests/ns1/g.yaml", "resource": done["services"]["g"]["rendered"]["resource"]}]
    assert done["services"]["a"]["rendered"]["resource"]["spec"]["predictor"]["model"]["runtime"] == "vllm-rt"
    grouped = owned(done, c={"failed": True, "msg": "spec.x: set to 7 by kubectl-edit"})
    assert [(g["field_manager"], g["method"], g["hosts"]) for g in grouped["apply"]] == [
        ("aml.kserve", "apply", ["a", "b", "u"]), ("aml.kserve", "create", ["n"])]
    definitions = dict(zip(grouped["apply"][0]["hosts"], grouped["apply"][0]["definitions"]))
    assert definitions["a"]["checked"] == "a", "the definition with its preconditions"
    # new: applied as rendered (isvc_update_if_exists), or created with the nil UID (none may appear meanwhile)
    assert definitions["u"] == done["services"]["u"]["rendered"]["resource"]
    created = grouped["apply"][1]["definitions"][0]
    assert created["metadata"]["uid"] == "00000000-0000-0000-0000-000000000000"
    assert dict(created, metadata={k: v for k, v in created["metadata"].items() if k != "uid"}) == \
        done["services"]["n"]["rendered"]["resource"]
    assert grouped["services"]["c"]["error"] == "spec.x: set to 7 by kubectl-edit"


def test_an_existing_service_without_an_ownership_answer_is_not_applied():
    done = prepared({"a": service("a"), "b": service("b")}, reads=found("ns1/a"))
    grouped = _batch.apply_groups(done, {}, {"results": []})
    assert grouped["services"]["a"]["error"] == "no ownership result for this InferenceService"
    assert [g["hosts"] for g in grouped["apply"]] == [["b"]]


def test_check_mode_forces_over_a_migration_it_did_not_write():
    done = prepared({"a": service("a"), "b": service("b")}, reads=found("ns1/a", "ns1/b"))
    grouped = owned(done, check_mode=True, a={"method": "apply", "definition": {}, "migrated": True})
    assert [(g["force_conflicts"], g["hosts"]) for g in grouped["apply"]] == [(False, ["b"]), (True, ["a"])]


def test_guard_refuses_an_update_and_a_forbidding_pod_security_level():
    reads = {"results": [{"item": {"namespace": "ns1", "cluster": "c1"}, "pod_security_level": "baseline",
                          "inference_services": [{"name": "a", "resource": {"metadata": {"annotations": {
                              "serving.kserve.io/deploymentMode": "RawDeployment"}}}}]}]}
    done = prepared({"a": service("a", isvc_update_if_exists=False), "b": service("b"),
                     "c": service("c", isvc_manage_pod_security=True)}, reads=reads)
    assert "already exists and isvc_update_if_exists is false" in done["services"]["a"]["error"]
    assert "enforces Pod Security level baseline" in done["services"]["b"]["error"]
    assert done["services"]["c"]["error"] == "" and done["label_namespaces"] == [{"cluster": "c1", "namespace": "ns1"}]
    labelled = {"results": [{"item": {"cluster": "c1", "namespace": "ns1"}, "failed": True, "msg": 'namespaces "ns1" is forbidden: cannot patch'}]}
    assert _batch.ownership_groups(done, labelled) == []
    grouped = _batch.apply_groups(done, labelled, {"results": []})
    assert grouped["services"]["c"]["error"] == (
        "Cannot label namespace ns1 privileged for hostIPC (isvc_manage_pod_security): "
        'namespaces "ns1" is forbidden: cannot patch')


def test_model_and_runtime_failures_are_their_services_own():
    inputs = {"a": service("a"), "b": service("b", isvc_model_repo="other")}
    found = run_to_lookups(inputs, {"results": [config("ns1"), secret("ns1")]})
    first, second = found["lookups"]
    models = {"results": [dict(MODEL, item=first), {"item": second, "failed": True, "msg": "GitLab answered 503"}]}
    done = _batch.prepare(found, models, {"results": []}, RENDER_SPEC)
    assert done["services"]["b"]["error"] == "GitLab answered 503"
    assert done["services"]["a"]["error"] == "no runtime look-up"
    assert _batch.ownership_groups(done) == []


def kubernetes_core_applied(done: dict, results: list) -> dict:
    """The role's apply step (_batch_cluster.apply) with kubernetes.core.k8s answering ``results`` (one per definition,
    as with continue_on_error) for the one group of ``done``."""
    assert len(done["apply"]) == 1
    return _batch_cluster.apply(done["apply"], {"c1": {}}, lambda _arguments: {"changed": True, "result": {"results": results}})


def test_outcomes_from_apply_and_wait_one_wait_per_cluster_timeout_and_rules():
    done = owned(prepared({"a": service("a"), "b": service("b", isvc_wait_timeout=60), "c": service("c"),
                           "d": service("d", "ns2")}))
    apply = kubernetes_core_applied(done, [
        {"changed": True, "result": APPLIED}, {"changed": True, "result": APPLIED}, {"error": {"msg": "409 Conflict"}},
        {"changed": False, "result": APPLIED}])
    waits = _batch.waits(done, apply)
    # c failed its apply: not waited for; a and d share their rules across two namespaces, b has its own timeout
    assert [(w["cluster"], w["timeout"], w["label"], [(s["namespace"], s["name"]) for s in w["services"]])
            for w in waits] == [("c1", 60, "ns1/b", [("ns1", "b")]),
                                ("c1", 1800, "2 InferenceServices in 2 namespaces", [("ns1", "a"), ("ns2", "d")])]
    assert waits[0]["services"][0]["baseline"] == {"exists": False}, "not there before the apply"
    assert (waits[0]["settle_seconds"], waits[0]["ready_when"]) == (DEFAULTS["isvc_wait_settle_seconds"], None)
    unreachable = "Cannot reach the Kubernetes API while watching InferenceService"
    waited = {"results": [
        # a failure of the task as a whole has no entry per service: its message is each one's
        {"item": waits[0], "failed": True, "msg": "InferenceService ns1/b was not ready after 60 s", "status": {}},
        # the namespace ns2 could not be watched; ns1's service is ready all the same
        {"item": waits[1], "failed": True, "msg": "1 of 2 InferenceServices in 2 namespaces are not ready: " + unreachable,
         "inference_services": [{"namespace": "ns1", "name": "a", "ready": True, "state": "ready", "url": "http://a.example"},
                                {"namespace": "ns2", "name": "d", "ready": False, "state": "failed", "reason": "read",
                                 "message": unreachable, "msg": unreachable}]}]}
    found = _batch.outcomes(done, apply, waited, {}, now=0.0)
    assert "failed" not in found["a"] and found["a"]["ready"] is True and found["a"]["changed"] is True
    assert found["a"]["msg"].startswith("ns1/a: ready, amlmodels/m@v1 on vllm-rt (RawDeployment)")
    assert found["b"] == dict(found["b"], failed=True, msg="InferenceService ns1/b was not ready after 60 s",
                              message="InferenceService ns1/b was not ready after 60 s")
    assert (found["b"]["reason"], found["c"]["reason"], found["d"]["reason"]) == ("timeout", "apply", "read")
    assert found["c"]["msg"] == "Cannot apply InferenceService ns1/c: 409 Conflict"
    assert found["d"]["msg"] == unreachable
    stats = _batch.stats(found)
    assert sorted(stats) == ["ns1/a", "ns1/b", "ns1/c", "ns2/d"] and stats["ns1/c"]["failed"] is True


def test_an_unread_pod_security_level_is_a_warning_of_its_services_outcomes_also_when_the_wait_fails():
    reads = {"results": [{"item": {"namespace": "ns1", "cluster": "c1"}, "inference_services": [], "pod_security_level": None},
                         {"item": {"namespace": "ns2", "cluster": "c1"}, "inference_services": [], "pod_security_level": ""}]}
    done = owned(prepared({"a": service("a"), "b": service("b", isvc_wait_timeout=60), "c": service("c", "ns2")},
                          reads=reads))
    apply = kubernetes_core_applied(done, [{"changed": True, "result": APPLIED}] * 3)
    waits = _batch.waits(done, apply)
    assert [w["label"] for w in waits] == ["ns1/b", "2 InferenceServices in 2 namespaces"]
    waited = {"results": [
        {"item": waits[0], "failed": True, "msg": "InferenceService ns1/b was not ready after 60 s.", "status": {}},
        {"item": waits[1], "inference_services": [
            {"namespace": "ns1", "name": "a", "ready": True, "state": "ready", "url": "http://a.example"},
            {"namespace": "ns2", "name": "c", "ready": True, "state": "ready", "url": "http://c.example"}]}]}
    found = _batch.outcomes(done, apply, waited, {}, now=0.0)
    warning = ("the Pod Security level of namespace ns1 could not be read (no get on the Namespace), so hostIPC was not "
               "checked against it; if the predictor's pods are not created, see the PSA fix in the README")
    assert found["a"]["warnings"] == [warning] and found["a"]["msg"].endswith(". WARNING: " + warning)
    assert found["b"]["failed"] is True
    assert found["b"]["msg"] == "InferenceService ns1/b was not ready after 60 s. WARNING: " + warning
    assert found["c"]["warnings"] == [] and "WARNING" not in found["c"]["msg"], "ns2's level was read"


def test_report_table_and_junit():
    results = {"a": {"name": "a", "namespace": "ns1", "failed": False, "commit_id": "c" * 40, "out_cluster_endpoint": "http://a",
                     "seconds": 1.5},
               "b@ns2": {"name": "b", "namespace": "ns2", "failed": True, "msg": "bad\n input"}}
    lines = _batch.report(results, ["a", "b@ns2", "c"])
    assert [(line["service"], line["result"]) for line in lines] == [("c", "skipped"), ("a", "ok"), ("b", "failed")]
    assert lines[2]["reason"] == "bad input"
    assert lines[0]["reason"] == _batch.NO_OUTCOME
    table = _batch.table(lines)
    assert table[-1] == "1 of 3 deployed; 1 failed; 1 skipped"
    root = ET.fromstring(_batch.junit_xml(lines).split("\n", 1)[1])
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["skipped"]) == ("3", "1", "1")
    assert root.find(".//testcase[@name='b']/failure").attrib["message"] == "bad input"


def test_removals_are_checked_deleted_in_the_batch_and_each_has_its_outcome():
    """isvc_state absent goes the batch's way too: checked by type, one deletion per service, an outcome per host."""
    batch = _batch.plan({"gone": service("gone", isvc_state="absent"),
                         "bad": service("bad", isvc_state="absent", isvc_wait_timeout="soon"),
                         "unnamed": service("", namespace="ns2", isvc_state="absent"),
                         "refused": service("refused", isvc_state="absent", isvc_wait=False),
                         "never": service("never", isvc_state="absent")}, OPTIONS, RENDER_SPEC)
    assert [r["host"] for r in batch["removals"]] == ["gone", "never", "refused"]
    assert batch["removal_services"]["bad"]["error"].startswith("Validation of arguments failed:\n")
    assert "isvc_wait_timeout" in batch["removal_services"]["bad"]["error"]
    assert batch["removal_services"]["unnamed"]["error"] == (
        "Invalid role variables (1): isvc_name and isvc_namespace are required to remove an InferenceService")
    assert batch["removals"][2]["wait"] is False
    removed = {"results": [{"item": batch["removals"][0], "changed": True},
                           {"item": batch["removals"][2], "failed": True, "msg": "Failed to delete object: Forbidden"}]}
    # carried through the steps, as the role runs them
    prepared = _batch.prepare(_batch.model_lookups(batch, {}, {}, {}), {}, {}, RENDER_SPEC)
    found = _batch.outcomes(prepared, {}, {}, {}, now=0.0, registered_removal=removed)
    assert found["gone"] == {"name": "gone", "namespace": "ns1", "state": "absent", "ready": False, "changed": True,
                             "seconds": 0.0, "msg": "ns1/gone: deleted"}
    assert found["refused"]["failed"] and found["refused"]["reason"] == "delete"
    assert found["refused"]["msg"] == "Cannot delete InferenceService ns1/refused: Failed to delete object: Forbidden"
    assert found["never"]["msg"] == "Cannot delete InferenceService ns1/never: the removal did not run"
    assert found["bad"]["reason"] == "input" and found["bad"]["failed"]


def test_the_report_takes_each_hosts_outcome_of_its_play_batch_else_the_failure_recorded_before_there_was_one():
    from ansible_collections.aml.kserve.plugins.filter._isvc import _isvc_report

    ok = {"name": "a", "namespace": "ns1", "msg": "ns1/a: ready", "in_cluster_endpoint": "http://a", "commit_id": "c0ffee"}
    rescued = {"name": "b", "namespace": "ns1", "failed": True, "msg": "task Take and check failed", "reason": "error"}
    hostvars = {"a": {"__isvc_outcomes": {"a": ok, "other": {}}, "isvc_result": {"name": "stale"}},
                "b": {"isvc_result": rescued}, "c": {}}
    lines = _isvc_report(["a", "b", "c"], hostvars)
    assert [(l["service"], l["result"], l["endpoint"], l["reason"]) for l in lines] == [
        ("c", "skipped", "", _batch.NO_OUTCOME), ("a", "ok", "http://a", ""), ("b", "failed", "", "task Take and check failed")]
