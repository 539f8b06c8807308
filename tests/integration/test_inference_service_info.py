"""aml.kserve.inference_service_info: summaries and the watch-based wait, against the real apiserver and the simulator."""

from __future__ import annotations

import threading
import time
from typing import Any

import kubernetes.client
import pytest

from tests.harness.ansible import run_module

SCENARIO = "aml.kserve.test/scenario"
READY_AFTER = "aml.kserve.test/ready-after"


def create_isvc(kube, namespace: str, name: str, annotations: dict[str, str], mode: str = "RawDeployment",
                replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {},
                     "annotations": dict({"serving.kserve.io/deploymentMode": mode}, **annotations)},
        "spec": {"predictor": {"minReplicas": replicas, "maxReplicas": replicas if mode == "RawDeployment" else replicas + 2,
                               "model": {"modelFormat": {"name": "transformers"}, "storageUri": "hf://x/y:z",
                                         "runtime": "none"}}},
    }
    return kubernetes.client.CustomObjectsApi(kube.api_client()).create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", body)


def wait(kube_env, namespace: str, name: str, timeout: int = 60) -> Any:
    return run_module("inference_service_info", {"name": name, "namespace": namespace, "wait": True,
                                                 "wait_timeout": timeout}, kube_env)


def test_wait_returns_summary_when_ready_and_rolled_out(kube, kube_env, simulator, namespace):
    create_isvc(kube, namespace, "ok", {READY_AFTER: "5"})
    run = wait(kube_env, namespace, "ok")
    assert run.rc == 0, run.output
    service = run.result["inference_service"]
    assert service["ready"] is True and service["state"] == "ready"
    assert service["in_cluster_endpoint"] == f"http://ok-predictor.{namespace}.svc.cluster.local"
    assert service["url"].startswith("http://ok-")
    assert service["observed_generation"] == service["generation"] == 1
    assert service["model_status"]["transitionStatus"] == "UpToDate"
    assert [d["name"] for d in service["deployments"]] == ["ok-predictor"]
    assert service["deployments"][0]["rolled_out"] is True
    assert service["deployments"][0]["available_replicas"] == 1
    assert run.result["waited"] >= 1  # it did wait for the simulator (ansible's start-up takes the rest)
    marked = simulator.wait_for(namespace, "ok", "ready", timeout=1)
    assert marked > 0
    assert any("Ready and rolled out" in line for line in run.result["progress"])


@pytest.mark.parametrize(
    "scenario, reason_text",
    [
        ("fail-load", "the model failed to load"),
        ("failed-create", "cannot create its pods (FailedCreate)"),
        ("crashloop", "container kserve-container: CrashLoopBackOff"),
    ],
)
def test_certain_failures_fail_at_once(kube, kube_env, simulator, namespace, scenario, reason_text):
    create_isvc(kube, namespace, "bad", {SCENARIO: scenario, READY_AFTER: "1"})
    run = wait(kube_env, namespace, "bad", timeout=120)
    ended = time.monotonic()
    assert run.rc != 0
    assert reason_text in run.result["msg"]
    assert run.result["msg"].startswith(f"InferenceService {namespace}/bad failed:")
    marked = simulator.wait_for(namespace, "bad", scenario if scenario != "fail-load" else "failed-load", timeout=1)
    assert ended - marked < 5
    if scenario == "fail-load":
        assert run.result["last_failure_info"]["reason"] == "ModelLoadFailed"
        assert run.result["last_failure_info"]["exitCode"] == 1
    if scenario == "crashloop":
        assert any(e["reason"] == "BackOff" for e in run.result["warning_events"])


def test_never_ready_times_out_with_last_status(kube, kube_env, simulator, namespace):
    create_isvc(kube, namespace, "slow", {SCENARIO: "never-ready"})
    started = time.monotonic()
    run = wait(kube_env, namespace, "slow", timeout=3)
    assert run.rc != 0
    assert "was not ready after 3 s" in run.result["msg"]
    assert run.result["status"]["ready"] is False
    assert time.monotonic() - started < 30


def test_deleted_while_waiting_is_a_clear_failure(kube, kube_env, simulator, namespace):
    create_isvc(kube, namespace, "gone", {SCENARIO: "never-ready"})
    api = kubernetes.client.CustomObjectsApi(kube.api_client())
    timer = threading.Timer(3.0, api.delete_namespaced_custom_object,
                            ("serving.kserve.io", "v1beta1", namespace, "inferenceservices", "gone"))
    timer.start()
    try:
        run = wait(kube_env, namespace, "gone", timeout=60)
    finally:
        timer.cancel()
    assert run.rc != 0
    assert "does not exist (deleted while waiting?)" in run.result["msg"]


def test_list_by_label_selector(kube, kube_env, simulator, namespace):
    create_isvc(kube, namespace, "one", {READY_AFTER: "0.1"}, labels={"aml-model-repo": "m1"})
    create_isvc(kube, namespace, "two", {READY_AFTER: "0.1"}, labels={"aml-model-repo": "m2"})
    simulator.wait_for(namespace, "one", "ready")
    run = run_module("inference_service_info", {"namespace": namespace, "label_selector": "aml-model-repo=m1"}, kube_env)
    assert run.rc == 0, run.output
    assert [s["name"] for s in run.result["inference_services"]] == ["one"]
    assert run.result["inference_services"][0]["ready"] is True
    assert "inference_service" not in run.result


def test_names_wait_for_several_with_one_watch_per_kind(kube, kube_env, simulator, namespace):
    """Three services: two become ready, one fails to load; each gets its own outcome from one watch per kind."""
    for name, annotations in (("one", {READY_AFTER: "1"}), ("two", {READY_AFTER: "2"}),
                              ("broken", {SCENARIO: "fail-load", READY_AFTER: "1"})):
        create_isvc(kube, namespace, name, annotations)
    mark = kube.audit_mark()
    run = run_module("inference_service_info", {"names": ["one", "two", "broken"], "namespace": namespace, "wait": True,
                                                "wait_timeout": 60}, kube_env)
    assert run.rc != 0
    assert run.result["msg"].startswith(f"1 of 3 InferenceServices in {namespace} are not ready: "
                                        f"InferenceService {namespace}/broken failed:"), run.result["msg"]
    by_name = {s["name"]: s for s in run.result["inference_services"]}
    assert [s["name"] for s in run.result["inference_services"]] == ["one", "two", "broken"]
    assert (by_name["one"]["ready"], by_name["one"]["state"]) == (True, "ready")
    assert (by_name["two"]["ready"], by_name["two"]["observed_generation"]) == (True, 1)
    assert (by_name["broken"]["ready"], by_name["broken"]["state"]) == (False, "failed")
    assert by_name["broken"]["last_failure_info"]["reason"] == "ModelLoadFailed"
    # One list and at most one watch per kind for the three: InferenceServices, Deployments, Pods (+ the failure's events)
    ours = [e for e in kube.audit_events_since(mark)
            if e["user"]["username"] == "aml-admin" and not e.get("userAgent", "").startswith("aml-kserve-simulator")
            and (e.get("objectRef") or {}).get("namespace") == namespace]
    lists = sorted(e["objectRef"]["resource"] for e in ours if e["verb"] == "list")
    assert lists == ["deployments", "events", "inferenceservices", "pods"], lists
    assert all(e["verb"] in ("list", "watch") for e in ours), [(e["verb"], e["objectRef"]) for e in ours]
    # Getting them (no wait) reads their Deployments with one listing, not one per service
    mark = kube.audit_mark()
    got = run_module("inference_service_info", {"names": ["one", "two", "broken"], "namespace": namespace}, kube_env)
    assert got.rc == 0, got.output
    assert sorted(s["name"] for s in got.result["inference_services"]) == ["broken", "one", "two"]
    assert all(len(s["deployments"]) == 1 and s["deployments"][0]["name"] == s["name"] + "-predictor"
               for s in got.result["inference_services"]), got.result["inference_services"]
    listed = [e["objectRef"]["resource"] for e in kube.audit_events_since(mark)
              if e["user"]["username"] == "aml-admin" and e["verb"] == "list"
              and not e.get("userAgent", "").startswith("aml-kserve-simulator")
              and (e.get("objectRef") or {}).get("namespace") == namespace]
    assert sorted(listed) == ["deployments", "inferenceservices"], listed


def _account_with_a_role_in(kube, namespaces: list[str], tmp_path) -> dict[str, str]:
    """A ServiceAccount (in the first namespace) with a Role in each namespace to read and watch what a wait reads,
    as an identity without cluster-wide rights has; the env of a kubeconfig for it."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client())
    token = kube.service_account_token(namespaces[0], "waiter")
    for ns in namespaces:
        rbac.create_namespaced_role(ns, {"metadata": {"name": "isvc-wait"}, "rules": [
            {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]}]})
        rbac.create_namespaced_role_binding(ns, {
            "metadata": {"name": "isvc-wait"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "isvc-wait"},
            "subjects": [{"kind": "ServiceAccount", "name": "waiter", "namespace": namespaces[0]}]})
    return {"K8S_AUTH_KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "waiter", token, "waiter"))}


def _ours(kube, mark: int, user: str, verb: str) -> list[tuple[str | None, str]]:
    """(namespace, resource) of each ``verb`` request by ``user``, the simulator's own left out."""
    return sorted(((e["objectRef"].get("namespace"), e["objectRef"]["resource"]) for e in kube.audit_events_since(mark)
                   if e["user"]["username"] == user and e["verb"] == verb
                   and not e.get("userAgent", "").startswith("aml-kserve-simulator")), key=str)


def test_services_of_several_namespaces_are_waited_on_at_once(kube, kube_env, simulator, namespace, tmp_path):
    """services: the namespaces waited on at the same time, each service with its own outcome; one list and watch per
    kind for the whole cluster where the identity may list it, else one per namespace."""
    other = namespace[:45] + "-other"
    kubernetes.client.CoreV1Api(kube.api_client()).create_namespace({"metadata": {"name": other}})
    create_isvc(kube, namespace, "one", {READY_AFTER: "3"})
    create_isvc(kube, other, "two", {READY_AFTER: "1"})
    create_isvc(kube, other, "broken", {SCENARIO: "fail-load", READY_AFTER: "1"})
    asked = [{"namespace": other, "name": "broken"}, {"namespace": namespace, "name": "one"},
             {"namespace": other, "name": "two"}]
    scoped = _account_with_a_role_in(kube, [namespace, other], tmp_path)
    user = f"system:serviceaccount:{namespace}:waiter"
    for env, who in ((scoped, user), (kube_env, "aml-admin")):
        mark = kube.audit_mark()
        run = run_module("inference_service_info", {"services": asked, "wait": True, "wait_timeout": 60}, env)
        assert run.rc != 0
        assert run.result["msg"].startswith(f"1 of 3 InferenceServices in 2 namespaces are not ready: "
                                            f"InferenceService {other}/broken failed:"), run.result["msg"]
        found = [(s["namespace"], s["name"], s["ready"], s["state"]) for s in run.result["inference_services"]]
        assert found == [(other, "broken", False, "failed"), (namespace, "one", True, "ready"), (other, "two", True, "ready")]
        assert run.result["inference_services"][0]["last_failure_info"]["reason"] == "ModelLoadFailed"
        assert run.result["progress"][-1].endswith(" 2 of 3 ready in 2 namespaces"), run.result["progress"]
        if who == user:
            # no list across namespaces: refused once (403), then one list of each kind per namespace (the failed one's
            # namespace also lists its events)
            assert _ours(kube, mark, who, "list") == sorted([
                (None, "inferenceservices"), (namespace, "deployments"), (namespace, "inferenceservices"),
                (namespace, "pods"), (other, "deployments"), (other, "events"), (other, "inferenceservices"),
                (other, "pods")], key=str)
            events = kube.audit_events_since(mark)
            # at once: the other namespace was listed before KServe (the simulator) made "one" ready, 3 s after it was
            # created
            other_listed = min(e["requestReceivedTimestamp"] for e in events if e["user"]["username"] == user
                               and e["verb"] == "list" and e["objectRef"].get("namespace") == other
                               and e["objectRef"]["resource"] == "inferenceservices")
            one_ready = max(e["requestReceivedTimestamp"] for e in events
                            if e.get("userAgent", "").startswith("aml-kserve-simulator") and e["verb"] in ("update", "patch")
                            and (e.get("objectRef") or {}).get("name") == "one"
                            and (e.get("objectRef") or {}).get("subresource") == "status")
            assert other_listed < one_ready
        else:
            # one list and one watch of each kind for the cluster, whatever the number of namespaces
            cluster_lists = [(None, "deployments"), (None, "inferenceservices"), (None, "pods"), (other, "events")]
            assert _ours(kube, mark, who, "list") == sorted(cluster_lists, key=str)
            # every service is final at this run's lists, so a watch thread may still be between its list and its
            # watch when the wait ends: at most one watch per kind, none per namespace
            watches = _ours(kube, mark, who, "watch")
            assert len(watches) == len(set(watches)), watches
            assert set(watches) <= {(None, "deployments"), (None, "inferenceservices"), (None, "pods")}, watches
    # without wait: one read per namespace, in the order asked
    got = run_module("inference_service_info", {"services": asked}, kube_env)
    assert got.rc == 0, got.output
    assert [(s["namespace"], s["name"]) for s in got.result["inference_services"]] == [(a["namespace"], a["name"]) for a in asked]
    assert got.result["inference_services"][1]["resource"]["metadata"]["name"] == "one"
    # return_resource=false (the role's batch wait): the same summaries without the objects
    slim = run_module("inference_service_info", {"services": asked, "return_resource": False}, kube_env)
    assert slim.rc == 0, slim.output
    assert [sorted(s) for s in slim.result["inference_services"]] == [
        sorted(k for k in s if k != "resource") for s in got.result["inference_services"]]
    assert [s["state"] for s in slim.result["inference_services"]] == ["failed", "ready", "ready"]
    # services replaces namespace, name and names
    both = run_module("inference_service_info", {"services": asked, "namespace": namespace}, kube_env)
    assert both.rc != 0 and "mutually exclusive: namespace|services" in both.result["msg"], both.result["msg"]


def _account_without_pods_or_events(kube, namespace: str, tmp_path) -> dict[str, str]:
    """A ServiceAccount allowed get/list/watch on InferenceServices and Deployments only; the env of a kubeconfig for it."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client())
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "isvc-watch"}, "rules": [
        {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}]})
    token = kube.service_account_token(namespace, "watcher")
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "isvc-watch"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "isvc-watch"},
        "subjects": [{"kind": "ServiceAccount", "name": "watcher", "namespace": namespace}]})
    return {"K8S_AUTH_KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "watcher", token, "watcher"))}


def _forbidden(kube, mark: int, namespace: str) -> list[tuple[str, str]]:
    user = f"system:serviceaccount:{namespace}:watcher"
    return sorted({(e["verb"], e["objectRef"]["resource"]) for e in kube.audit_events_since(mark)
                   if e["user"]["username"] == user and e["responseStatus"]["code"] == 403})


def test_pods_and_events_are_best_effort_ready(kube, simulator, namespace, tmp_path):
    """Reading pods/events is best-effort: without RBAC for them the wait still works, and says Pods were not checked."""
    sa_env = _account_without_pods_or_events(kube, namespace, tmp_path)
    create_isvc(kube, namespace, "ok", {READY_AFTER: "1"})
    mark = kube.audit_mark()
    run = wait(sa_env, namespace, "ok")
    assert run.rc == 0, run.output
    service = run.result["inference_service"]
    assert (service["ready"], service["state"]) == (True, "ready")
    assert [d["name"] for d in service["deployments"]] == ["ok-predictor"]
    assert service["deployments"][0]["rolled_out"] is True
    assert len(service["notes"]) == 1, service["notes"]
    note = service["notes"][0]
    assert note.startswith("Pods not checked: Forbidden while listing Pod in " + namespace), note
    assert f'User "system:serviceaccount:{namespace}:watcher" cannot list resource "pods"' in note
    assert _forbidden(kube, mark, namespace) == [("list", "pods")]


def test_pods_and_events_are_best_effort_failed_load(kube, simulator, namespace, tmp_path):
    """A load failure is still reported as such without RBAC for pods/events; its warning events are just empty."""
    sa_env = _account_without_pods_or_events(kube, namespace, tmp_path)
    create_isvc(kube, namespace, "bad", {SCENARIO: "fail-load", READY_AFTER: "1"})
    # A Warning event about the service, so that an empty warning_events means "not readable", not "none there"
    kubernetes.client.CoreV1Api(kube.api_client()).create_namespaced_event(namespace, {
        "metadata": {"name": "bad.warning", "namespace": namespace}, "type": "Warning", "reason": "TestWarning",
        "message": "something is off", "count": 1, "lastTimestamp": "2024-01-01T00:00:00Z",
        "involvedObject": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": "bad",
                           "namespace": namespace}})
    mark = kube.audit_mark()
    run = wait(sa_env, namespace, "bad", timeout=120)
    assert run.rc != 0 and run.result.get("failed")
    assert run.result["msg"].startswith(f"InferenceService {namespace}/bad failed:"), run.result["msg"]
    assert "the model failed to load" in run.result["msg"]
    assert run.result["last_failure_info"]["reason"] == "ModelLoadFailed"
    assert "does not appear to have a file named config.json" in run.result["last_failure_info"]["message"]
    assert run.result["warning_events"] == []
    assert any(n.startswith("Pods not checked: Forbidden") for n in run.result["status"]["notes"]), run.result["status"]
    assert _forbidden(kube, mark, namespace) == [("list", "events"), ("list", "pods")]

    # Control: with the rights to read events, the same failure carries that event
    admin = wait({"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)}, namespace, "bad", timeout=120)
    assert admin.rc != 0 and "the model failed to load" in admin.result["msg"]
    assert [(e["object"], e["reason"]) for e in admin.result["warning_events"]] == [("InferenceService/bad", "TestWarning")]


def test_predictor_container_is_read_from_the_deployment(kube, kube_env, simulator, namespace):
    """The container KServe runs (the simulator merges as KServe does): the runtime's args, then the service's; env
    names without their plain values, from the plain read and from the wait."""
    import secrets

    runtime = "info-rt-" + secrets.token_hex(3)
    kubernetes.client.CustomObjectsApi(kube.api_client()).create_namespaced_custom_object(
        "serving.kserve.io", "v1alpha1", namespace, "servingruntimes", {
            "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": runtime},
            "spec": {"supportedModelFormats": [{"name": "transformers"}], "containers": [{
                "name": "kserve-container", "image": "registry.local/vllm:1", "command": ["vllm", "serve"],
                "args": ["/mnt/models", "--port=8080"], "env": [{"name": "HF_TOKEN", "value": "hf-plain-secret"}]}]}})
    body = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "eff", "namespace": namespace,
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment", READY_AFTER: "0.2"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "transformers"}, "storageUri": "hf://x/y:z",
                                         "runtime": runtime, "args": ["/mnt/models", "--port=8080"]}}},
    }
    kubernetes.client.CustomObjectsApi(kube.api_client()).create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", body)
    expected = {"deployment": "eff-predictor", "name": "kserve-container", "image": "registry.local/vllm:1",
                "command": ["vllm", "serve"], "args": ["/mnt/models", "--port=8080", "/mnt/models", "--port=8080"],
                "env": [{"name": "HF_TOKEN"}]}
    waited = wait(kube_env, namespace, "eff")
    assert waited.rc == 0, waited.output
    assert waited.result["inference_service"]["predictor_container"] == expected
    read = run_module("inference_service_info", {"name": "eff", "namespace": namespace}, kube_env)
    assert read.rc == 0, read.output
    assert read.result["inference_service"]["predictor_container"] == expected
    assert "hf-plain-secret" not in waited.output and "hf-plain-secret" not in read.output
