"""The wait on KServe's own status semantics (issue 11), through aml.kserve.inference_service_info on the real
apiserver and the simulator, which writes what KServe writes (observedGeneration from the predictor Deployment,
labels and annotations rolled into its pod template, PredictorReady as KServe 0.20 writes it by default). Each test
asserts the outcome and the time it took."""

from __future__ import annotations

import time
from typing import Any

import kubernetes.client
import pytest

from tests.harness.ansible import run_module
from tests.harness.kube import ADMIN_USER
from tests.integration.test_inference_service_info import READY_AFTER, SCENARIO, create_isvc

RECOVER_AFTER = "aml.kserve.test/recover-after"
STALE = "aml.kserve.test/stale-seconds"
DESCRIPTION = "cpaas.io/description"
SIMULATOR_AGENT = "aml-kserve-simulator"


def custom(kube: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(kube.api_client())


def patch(kube: Any, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return custom(kube).patch_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", name, body,
        _content_type="application/merge-patch+json")


def read(kube_env: dict[str, str], namespace: str, name: str) -> dict[str, Any]:
    """What the role reads before its apply: the summary, with its baseline."""
    run = run_module("inference_service_info", {"name": name, "namespace": namespace}, kube_env)
    assert run.rc == 0, run.output
    return run.result["inference_service"]


def wait(kube_env: dict[str, str], namespace: str, name: str, timeout: int = 60, **options: Any) -> Any:
    return run_module("inference_service_info", dict({"name": name, "namespace": namespace, "wait": True,
                                                      "wait_timeout": timeout}, **options), kube_env)


@pytest.fixture
def drifted(kube, kube_env, simulator, namespace):
    """A ready raw service after one description-only change: its Deployment rolled (generation 2) and KServe's
    observedGeneration (the Deployment's counter) passed the InferenceService's generation (1)."""
    create_isvc(kube, namespace, "llm", {READY_AFTER: "0.2", DESCRIPTION: "v1"})
    simulator.wait_for(namespace, "llm", "ready")
    since = time.monotonic()
    patch(kube, namespace, "llm", {"metadata": {"annotations": {DESCRIPTION: "v2"}}})
    simulator.wait_for(namespace, "llm", "ready", since=since)
    obj = custom(kube).get_namespaced_custom_object("serving.kserve.io", "v1beta1", namespace, "inferenceservices", "llm")
    assert (obj["metadata"]["generation"], obj["status"]["observedGeneration"]) == (1, 2)
    return obj


def test_stale_ready_after_metadata_drift_is_not_accepted(kube, kube_env, simulator, namespace, drifted):
    """Another description change while KServe is slow to reconcile (stale-ready: its status untouched for 12 s):
    every status signal still says Ready and rolled out (observedGeneration 2 >= generation 1, the Deployment
    complete); the wait returns only after KServe rolled the new pods out."""
    before = read(kube_env, namespace, "llm")
    assert before["baseline"]["deployments"] == {"llm-predictor": 2}
    patched_at = time.monotonic()
    patch(kube, namespace, "llm", {"metadata": {"annotations": {
        DESCRIPTION: "v3", SCENARIO: "stale-ready", STALE: "12", READY_AFTER: "1"}}})
    run = wait(kube_env, namespace, "llm", baseline=before["baseline"])
    ended = time.monotonic()
    assert run.rc == 0, run.output
    service = run.result["inference_service"]
    assert (service["ready"], service["change"], service["message"]) == (True, "metadata", "Ready and rolled out")
    rolled_out = simulator.wait_for(namespace, "llm", "deployment-rolled-out", since=patched_at, timeout=1)
    assert ended > rolled_out and rolled_out - patched_at >= 13  # not before the new pods were up
    assert service["deployments"][0]["generation"] == 3
    assert any("waiting for KServe to apply the metadata change to the predictor" in line
               for line in run.result["progress"]), run.result["progress"]

    # Control: judged without the baseline, the same situation is accepted at once, on the stale Ready
    since = time.monotonic()
    patch(kube, namespace, "llm", {"metadata": {"annotations": {DESCRIPTION: "v4", STALE: "60"}}})
    simulator.wait_for(namespace, "llm", "stale-hold", since=since)
    blind = wait(kube_env, namespace, "llm")
    assert blind.rc == 0 and blind.result["inference_service"]["change"] == "unknown"
    assert [w for t, w, _g in simulator.events_for(namespace, "llm") if t >= since and w == "rollout-started"] == []


def test_no_change_rerun_in_the_drifted_state_returns_at_once(kube, kube_env, simulator, namespace, drifted):
    before = read(kube_env, namespace, "llm")
    started = time.monotonic()
    run = wait(kube_env, namespace, "llm", baseline=before["baseline"])
    assert run.rc == 0, run.output
    assert (run.result["inference_service"]["change"], run.result["inference_service"]["message"]) == (
        "unchanged", "Ready and rolled out")
    assert run.result["waited"] < 1.0
    assert time.monotonic() - started < 15  # ansible's start-up included


def test_spec_change_kserve_does_not_push_ends_after_the_settle_window(kube, kube_env, simulator, namespace):
    """maxReplicas goes to the HPA, not the Deployment: observedGeneration stays 1 below generation 2 for good, which
    a wait on observedGeneration would wait out to its timeout."""
    create_isvc(kube, namespace, "hpa", {READY_AFTER: "0.2"}, mode="Standard")
    simulator.wait_for(namespace, "hpa", "ready")
    before = read(kube_env, namespace, "hpa")
    patch(kube, namespace, "hpa", {"spec": {"predictor": {"maxReplicas": 4}}})
    run = wait(kube_env, namespace, "hpa", timeout=120, baseline=before["baseline"], settle_seconds=3)
    assert run.rc == 0, run.output
    service = run.result["inference_service"]
    assert (service["generation"], service["observed_generation"], service["change"]) == (2, 1, "spec")
    assert service["message"] == "Ready and rolled out (none: KServe changed no predictor workload within 3 s)"
    assert 3 <= run.result["waited"] < 6


def test_deadline_then_ready_succeeds(kube, kube_env, simulator, namespace):
    """ProgressDeadlineExceeded (KServe's default 600 s passed by a long download) is a stall, said in the progress
    lines; the Deployment recovers and the wait succeeds."""
    # the deadline passes after 6 s (longer than ansible's start-up), the Deployment recovers 4 s later
    create_isvc(kube, namespace, "big", {SCENARIO: "deadline-then-ready", READY_AFTER: "6", RECOVER_AFTER: "4"})
    run = wait(kube_env, namespace, "big", timeout=120, baseline={"exists": False})
    assert run.rc == 0, run.output
    assert run.result["inference_service"]["ready"] is True
    assert any("stalled, still waiting: deployment big-predictor passed its progress deadline" in line
               for line in run.result["progress"]), run.result["progress"]
    passed = simulator.wait_for(namespace, "big", "progress-deadline", timeout=1)
    ready = simulator.wait_for(namespace, "big", "ready", timeout=1)
    assert ready - passed >= 4


def test_failed_create_by_pod_security_fails_fast_with_the_fix(kube, kube_env, simulator, namespace):
    kubernetes.client.CoreV1Api(kube.api_client()).patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    create_isvc(kube, namespace, "ipc", {SCENARIO: "failed-create", READY_AFTER: "1"})
    run = wait(kube_env, namespace, "ipc", timeout=300, baseline={"exists": False})
    ended = time.monotonic()
    assert run.rc != 0
    message = run.result["msg"]
    assert message.startswith(f"InferenceService {namespace}/ipc failed: deployment ipc-predictor cannot create its pods")
    assert "hostIPC" in message and "Pod Security level baseline" in message
    assert (f"Fix: kubectl label namespace {namespace} pod-security.kubernetes.io/enforce=privileged --overwrite "
            "(or set isvc_manage_pod_security: true)") in message
    assert run.result["reason"] == "FailedCreate" and run.result["pod_security_level"] == "baseline"
    marked = simulator.wait_for(namespace, "ipc", "failed-create", timeout=1)
    assert ended - marked < 10
    assert [(e["reason"], e["object"].rsplit("-", 1)[0]) for e in run.result["warning_events"]] == [
        ("FailedCreate", "ReplicaSet/ipc-predictor")]


def test_unschedulable_fails_at_the_timeout_with_the_schedulers_reason(kube, kube_env, simulator, namespace):
    body = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "gpu", "namespace": namespace,
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment", SCENARIO: "unschedulable",
                                     READY_AFTER: "0.2"}},
        "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 1, "model": {
            "modelFormat": {"name": "transformers"}, "storageUri": "hf://x/y:z", "runtime": "none",
            "resources": {"limits": {"nvidia.com/gpualloc": "1"}}}}},
    }
    custom(kube).create_namespaced_custom_object("serving.kserve.io", "v1beta1", namespace, "inferenceservices", body)
    started = time.monotonic()
    run = wait(kube_env, namespace, "gpu", timeout=5, baseline={"exists": False})
    assert run.rc != 0
    message = run.result["msg"]
    assert message.startswith(f"InferenceService {namespace}/gpu was not ready after 5 s: pod gpu-predictor-")
    assert ("cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpualloc. (nvidia.com/gpualloc "
            "is asked for by the role variable isvc_nvidia_gpualloc)") in message
    assert run.result["reason"] == "Unschedulable"
    assert any(line.split(" ", 1)[1].startswith("stalled, still waiting: pod gpu-predictor-")
               for line in run.result["progress"]), run.result["progress"]
    assert [e["reason"] for e in run.result["warning_events"]] == ["FailedScheduling"]
    signals = run.result["signals"]
    assert signals["change"] == "created" and signals["conditions"]["Ready"].startswith("False")
    assert signals["pods"][0]["state"].startswith("pod gpu-predictor-")
    assert 5 <= time.monotonic() - started < 40


def test_stopped_is_reported_at_once(kube, kube_env, simulator, namespace):
    create_isvc(kube, namespace, "halt", {READY_AFTER: "0.2", "serving.kserve.io/stop": "true"})
    run = wait(kube_env, namespace, "halt", timeout=120, baseline={"exists": False})
    assert run.rc == 0, run.output
    service = run.result["inference_service"]
    assert (service["ready"], service["state"]) == (False, "stopped")
    assert service["message"].startswith('stopped (serving.kserve.io/stop is "true")')
    assert run.result["waited"] < 2


@pytest.mark.parametrize("mode, raw", [("RawDeployment", True), ("Standard", True), ("Serverless", False),
                                       ("Knative", False)])
def test_both_vocabularies_of_the_deployment_mode(kube, kube_env, simulator, namespace, mode, raw):
    create_isvc(kube, namespace, "m", {READY_AFTER: "0.3"}, mode=mode)
    run = wait(kube_env, namespace, "m", baseline={"exists": False})
    assert run.rc == 0, run.output
    service = run.result["inference_service"]
    assert (service["ready"], service["deployment_mode"], service["raw_deployment"]) == (True, mode, raw)
    assert [d["name"] for d in service["deployments"]] == (["m-predictor"] if raw else ["m-predictor-00001-deployment"])


def test_ready_when_that_holds_and_one_that_never_does(kube, kube_env, simulator, namespace):
    create_isvc(kube, namespace, "jp", {READY_AFTER: "0.3"})
    holds = wait(kube_env, namespace, "jp", ready_when="deployments[0].status.readyReplicas >= `1` && "
                                                       "isvc.status.modelStatus.transitionStatus == 'UpToDate'")
    assert holds.rc == 0, holds.output
    assert holds.result["inference_service"]["ready"] is True
    never = wait(kube_env, namespace, "jp", timeout=3, ready_when="isvc.metadata.labels.warmed == 'yes'")
    assert never.rc != 0
    assert never.result["msg"] == (f"InferenceService {namespace}/jp was not ready after 3 s: Ready, but ready_when does "
                                   "not hold yet: isvc.metadata.labels.warmed == 'yes'")
    started = time.monotonic()
    failing = wait(kube_env, namespace, "jp", timeout=120, fail_when="isvc.status.modelStatus.copies.failedCopies == `0`")
    assert failing.rc != 0 and failing.result["reason"] == "FailWhen"
    assert failing.result["msg"] == (f"InferenceService {namespace}/jp failed: fail_when holds: "
                                     "isvc.status.modelStatus.copies.failedCopies == `0`")
    assert time.monotonic() - started < 20  # at once, not at the timeout (ansible's start-up included)


@pytest.mark.parametrize("option", ["ready_when", "fail_when"])
def test_malformed_expression_is_refused_before_any_request(kube, kube_env, simulator, namespace, option):
    mark = kube.audit_mark()
    run = wait(kube_env, namespace, "whatever", **{option: "isvc.status.[conditions"})
    assert run.rc != 0
    assert run.result["msg"].startswith("Invalid options (1 problem):\n- {0} is not a valid JMESPath expression "
                                        "('isvc.status.[conditions'): ".format(option)), run.result["msg"]
    ours = [e for e in kube.audit_events_since(mark) if e.get("user", {}).get("username") == ADMIN_USER
            and not e.get("userAgent", "").startswith(SIMULATOR_AGENT)]
    assert ours == []
