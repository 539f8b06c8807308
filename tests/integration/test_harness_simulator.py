"""The KServe simulator (tests/harness/kserve_simulator.py) against the real test apiserver."""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from typing import Any, Callable, Iterator

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException

from tests.harness.kserve_simulator import (
    DELAY_ANNOTATION,
    RECOVER_ANNOTATION,
    VERSION_ANNOTATION,
    SCENARIO_ANNOTATION,
    SCENARIO_LABEL,
    SIMULATOR_LABEL,
    STALE_ANNOTATION,
    KServeSimulator,
)

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
KUBECTL = "/usr/bin/kubectl"
HF_IMAGE = "kserve/huggingfaceserver:v0.20.0"
FAIL_MESSAGE_PREFIX = "Failed to load model: "


# -- helpers -------------------------------------------------------------------------------------


def make_isvc(
    namespace: str,
    name: str,
    *,
    scenario: str | None = None,
    raw: bool = True,
    ready_after: str = "0.2",
    min_replicas: int | None = None,
    runtime: str = "kserve-huggingfaceserver",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta_annotations = {DELAY_ANNOTATION: ready_after}
    if raw:
        meta_annotations["serving.kserve.io/deploymentMode"] = "RawDeployment"
    if scenario:
        meta_annotations[SCENARIO_ANNOTATION] = scenario
    meta_annotations.update(annotations or {})
    predictor: dict[str, Any] = {
        "model": {
            "modelFormat": {"name": "transformers"},
            "runtime": runtime,
            "storageUri": "hf://distilbert/distilbert-base-uncased",
        }
    }
    if min_replicas is not None:
        predictor["minReplicas"] = min_replicas
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "annotations": meta_annotations},
        "spec": {"predictor": predictor},
    }


class Api:
    def __init__(self, kube: Any) -> None:
        client = kube.api_client()
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.apps = kubernetes.client.AppsV1Api(client)
        self.core = kubernetes.client.CoreV1Api(client)

    def create(self, isvc: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, isvc["metadata"]["namespace"], PLURAL, isvc)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, body, _content_type="application/merge-patch+json")

    def bump(self, namespace: str, name: str, uri: str = "hf://distilbert/distilbert-base-cased",
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"spec": {"predictor": {"model": {"storageUri": uri}}}}
        if annotations:
            body["metadata"] = {"annotations": annotations}
        updated = self.patch(namespace, name, body)
        assert updated["metadata"]["generation"] == 2
        return updated

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        response = self.apps.read_namespaced_deployment(name, namespace)
        return kubernetes.client.ApiClient().sanitize_for_serialization(response)


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == ctype]
    assert len(found) == 1, f"{ctype} not in {obj.get('status')}"
    return found[0]


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, ApiException):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def kubectl(kube: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(kube.kubeconfig), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)


def assert_clean(simulator: KServeSimulator, namespace: str, name: str) -> None:
    whats = [what for _time, what, _gen in simulator.events_for(namespace, name)]
    assert "error" not in whats and "status-pruned" not in whats, whats


@pytest.fixture
def api(kube: Any) -> Api:
    return Api(kube)


@pytest.fixture(autouse=True)
def no_simulator_errors(simulator: KServeSimulator, namespace: str) -> Iterator[None]:
    """Every status the simulator wrote in the test's namespace was accepted and stored unchanged
    (with KServe's full CRDs: valid for and not pruned by its schema)."""
    yield
    problems = [e for e in simulator.events if e[1] == namespace and e[3] in ("error", "status-pruned")]
    assert problems == []


@pytest.fixture
def cluster_runtime(api: Api, namespace: str) -> str:
    name = f"hf-{namespace}"[:60]
    body = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": name},
        "spec": {
            "supportedModelFormats": [{"name": "transformers", "autoSelect": True, "priority": 1}],
            "protocolVersions": ["v2", "v1"],
            "containers": [{
                "name": "kserve-container",
                "image": HF_IMAGE,
                "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"],
                "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
            }],
        },
    }
    api.custom.create_cluster_custom_object(GROUP, "v1alpha1", "clusterservingruntimes", body)
    return name


# -- ready -----------------------------------------------------------------------------------


def test_raw_ready_writes_kserve_and_deployment_status(kube: Any, simulator: KServeSimulator, namespace: str,
                                                       api: Api, cluster_runtime: str) -> None:
    isvc = make_isvc(namespace, "llm", runtime=cluster_runtime, min_replicas=2)
    isvc["spec"]["predictor"]["model"].update({
        "args": ["--max_length=128"],
        "env": [{"name": "HF_HOME", "value": "/data/hf"}, {"name": "LOG_LEVEL", "value": "debug"}],
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}},
    })
    created = api.create(isvc)
    started = simulator.wait_for(namespace, "llm", "rollout-started")
    ready_at = simulator.wait_for(namespace, "llm", "ready")
    rolled_out = simulator.wait_for(namespace, "llm", "deployment-rolled-out")
    assert started < rolled_out <= ready_at
    assert ready_at - started >= 0.2

    status = api.get(namespace, "llm")["status"]
    assert status["observedGeneration"] == 1
    assert status["url"] == f"http://llm-{namespace}.example.com"
    assert status["address"] == {"url": f"http://llm-predictor.{namespace}.svc.cluster.local"}
    assert status["components"] == {"predictor": {"url": f"http://llm-predictor-{namespace}.example.com"}}
    assert status["deploymentMode"] == "Standard"
    assert status["clusterServingRuntimeName"] == cluster_runtime
    assert status["modelStatus"] == {
        "transitionStatus": "UpToDate",
        "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
        "copies": {"failedCopies": 0, "totalCopies": 2},
    }
    assert [(c["type"], c["status"], c.get("severity")) for c in status["conditions"]] == [
        ("IngressReady", "True", None), ("PredictorReady", "True", None), ("Ready", "True", None),
        ("Stopped", "False", "Info"),
    ]
    assert all(c["lastTransitionTime"].endswith("Z") for c in status["conditions"])
    assert_clean(simulator, namespace, "llm")

    dep = api.deployment(namespace, "llm-predictor")
    labels = {"serving.kserve.io/inferenceservice": "llm", "component": "predictor", "app": "isvc.llm-predictor"}
    assert dep["metadata"]["labels"] == labels
    assert dep["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "InferenceService"
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "isvc.llm-predictor"}}
    assert dep["spec"]["template"]["metadata"]["labels"] == labels
    [container] = dep["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == HF_IMAGE
    assert container["args"] == ["--model_name=llm", "--model_dir=/mnt/models", "--http_port=8080", "--max_length=128"]
    assert container["env"] == [{"name": "HF_HOME", "value": "/data/hf"}, {"name": "LOG_LEVEL", "value": "debug"}]
    assert container["resources"] == {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}}
    dstatus = dep["status"]
    assert dstatus["observedGeneration"] == dep["metadata"]["generation"] == 1
    assert (dstatus["replicas"], dstatus["updatedReplicas"], dstatus["readyReplicas"], dstatus["availableReplicas"]) == (2, 2, 2, 2)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in dstatus["conditions"]}
    assert conditions == {"Available": ("True", "MinimumReplicasAvailable"),
                          "Progressing": ("True", "NewReplicaSetAvailable")}

    result = kubectl(kube, "rollout", "status", "deployment/llm-predictor", "-n", namespace, "--timeout=20s")
    assert result.returncode == 0, result.stdout
    assert "successfully rolled out" in result.stdout


def test_in_progress_state_before_ready(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "slow", ready_after="1.5", runtime="no-such-runtime"))
    simulator.wait_for(namespace, "slow", "rollout-started")
    obj = api.get(namespace, "slow")
    assert obj["status"]["observedGeneration"] == 1
    ready = condition(obj, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert condition(obj, "PredictorReady")["message"] == "Deployment does not have minimum availability."
    assert obj["status"]["modelStatus"]["transitionStatus"] == "InProgress"
    assert obj["status"]["modelStatus"]["states"] == {"activeModelState": "", "targetModelState": "Pending"}
    dep = api.deployment(namespace, "slow-predictor")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "kserve/placeholder:latest"
    assert dep["status"].get("readyReplicas", 0) == 0
    assert dep["status"].get("availableReplicas", 0) == 0
    assert {c["type"]: c["reason"] for c in dep["status"]["conditions"]} == {
        "Available": "MinimumReplicasUnavailable", "Progressing": "ReplicaSetUpdated"}
    simulator.wait_for(namespace, "slow", "ready")
    assert condition(api.get(namespace, "slow"), "Ready")["status"] == "True"


def test_serverless_min_replicas_zero(simulator: KServeSimulator, namespace: str, api: Api,
                                      cluster_runtime: str) -> None:
    isvc = make_isvc(namespace, "sl", raw=False, min_replicas=0, runtime="")
    del isvc["spec"]["predictor"]["model"]["runtime"]  # auto-selected by model format
    api.create(isvc)
    simulator.wait_for(namespace, "sl", "ready")
    status = api.get(namespace, "sl")["status"]
    assert status["observedGeneration"] == 1
    assert status["deploymentMode"] == "Knative"
    # Auto-selected among the ClusterServingRuntimes supporting "transformers" (other tests add some).
    assert status["clusterServingRuntimeName"].startswith("hf-t-test-")
    assert status["url"] == f"http://sl-{namespace}.example.com"
    assert status["address"]["url"] == f"http://sl-predictor.{namespace}.svc.cluster.local"
    assert status["components"]["predictor"] == {
        "latestCreatedRevision": "sl-predictor-00001",
        "latestReadyRevision": "sl-predictor-00001",
        "latestRolledoutRevision": "sl-predictor-00001",
        "traffic": [{"latestRevision": True, "percent": 100, "revisionName": "sl-predictor-00001"}],
        "url": f"http://sl-predictor-{namespace}.example.com",
        "address": {"url": f"http://sl-predictor.{namespace}.svc.cluster.local"},
    }
    assert [(c["type"], c["status"], c.get("severity")) for c in status["conditions"]] == [
        ("IngressReady", "True", None), ("LatestDeploymentReady", "True", "Info"),
        ("PredictorConfigurationReady", "True", "Info"), ("PredictorReady", "True", None),
        ("PredictorRouteReady", "True", "Info"), ("Ready", "True", None), ("RoutesReady", "True", "Info"),
        ("Stopped", "False", "Info"),
    ]
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"
    assert status["modelStatus"]["copies"] == {"failedCopies": 0}
    assert_clean(simulator, namespace, "sl")

    dep = api.deployment(namespace, "sl-predictor-00001-deployment")
    assert dep["metadata"]["labels"]["serving.knative.dev/revision"] == "sl-predictor-00001"
    assert dep["metadata"]["labels"]["serving.kserve.io/inferenceservice"] == "sl"
    assert dep["spec"]["replicas"] == 0
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == HF_IMAGE
    assert dep["status"]["observedGeneration"] == 1
    assert dep["status"].get("replicas", 0) == 0 and dep["status"].get("readyReplicas", 0) == 0
    assert {c["type"]: c["status"] for c in dep["status"]["conditions"]} == {"Available": "True", "Progressing": "True"}


# -- updates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version, rolling_predictor", [
    # v0.15.2 PropagateRawStatus: the Available condition as it is, True while the old pods serve (kserve/kserve#4626)
    ("0.15", ("True", "MinimumReplicasAvailable")),
    # v0.16.0-v0.19 (PR #4667): Progressing True with ReplicaSetUpdated makes it Unknown
    ("0.16", ("Unknown", "ReplicaSetUpdated")),
    # v0.20.0 (PR #5703): Unknown only while Available has not confirmed readiness: True again
    ("0.20", ("True", "MinimumReplicasAvailable")),
])
def test_raw_update_rolls_the_deployment(kube: Any, simulator: KServeSimulator, namespace: str, api: Api, version: str,
                                         rolling_predictor: tuple[str, str]) -> None:
    api.create(make_isvc(namespace, "upd", ready_after="1.0", annotations={VERSION_ANNOTATION: version}))
    simulator.wait_for(namespace, "upd", "ready")
    before = api.deployment(namespace, "upd-predictor")
    first_ready = condition(api.get(namespace, "upd"), "Ready")
    assert api.get(namespace, "upd")["status"]["observedGeneration"] == 1

    api.bump(namespace, "upd")
    simulator.wait_for(namespace, "upd", "rollout-started", generation=2)
    rolling = api.get(namespace, "upd")
    # the Deployment's counter (PropagateRawStatus), here 2 because the Deployment was updated once too
    assert rolling["status"]["observedGeneration"] == api.deployment(namespace, "upd-predictor")["status"]["observedGeneration"]
    predictor = condition(rolling, "PredictorReady")
    assert (predictor["status"], predictor["reason"]) == rolling_predictor
    assert condition(rolling, "Ready")["status"] == rolling_predictor[0]
    # PropagateModelStatus: a Ready raw service reads as Loaded/UpToDate, else InProgress
    assert rolling["status"]["modelStatus"]["transitionStatus"] == ("UpToDate" if rolling_predictor[0] == "True" else "InProgress")
    assert rolling["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded"
    dep = api.deployment(namespace, "upd-predictor")
    assert dep["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    assert dep["status"]["updatedReplicas"] < dep["status"]["replicas"]
    assert kubectl(kube, "rollout", "status", "deployment/upd-predictor", "-n", namespace,
                   "--watch=false").stdout.startswith("Waiting for deployment")

    simulator.wait_for(namespace, "upd", "ready", generation=2)
    done = api.get(namespace, "upd")
    assert done["status"]["observedGeneration"] == 2
    ready = condition(done, "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] >= first_ready["lastTransitionTime"]
    assert condition(done, "PredictorReady")["reason"] == ("MinimumReplicasAvailable" if version == "0.15"
                                                           else "NewReplicaSetAvailable")
    dep = api.deployment(namespace, "upd-predictor")
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["serving.kserve.io/storage-initializer-sourceuri"] == "hf://distilbert/distilbert-base-cased"
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert (dep["status"]["replicas"], dep["status"]["updatedReplicas"], dep["status"]["availableReplicas"]) == (1, 1, 1)
    assert "successfully rolled out" in kubectl(
        kube, "rollout", "status", "deployment/upd-predictor", "-n", namespace, "--timeout=10s").stdout


def test_serverless_update_creates_next_revision(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "rev", raw=False))
    simulator.wait_for(namespace, "rev", "ready")
    api.bump(namespace, "rev")
    simulator.wait_for(namespace, "rev", "rollout-started", generation=2)
    rolling = api.get(namespace, "rev")["status"]
    assert rolling["components"]["predictor"]["latestCreatedRevision"] == "rev-predictor-00002"
    assert rolling["components"]["predictor"]["latestReadyRevision"] == "rev-predictor-00001"
    assert [c["status"] for c in rolling["conditions"] if c["type"] == "Ready"] == ["False"]

    simulator.wait_for(namespace, "rev", "ready", generation=2)
    status = api.get(namespace, "rev")["status"]
    assert status["observedGeneration"] == 2
    predictor = status["components"]["predictor"]
    assert predictor["latestReadyRevision"] == predictor["latestCreatedRevision"] == "rev-predictor-00002"
    assert predictor["previousRolledoutRevision"] == "rev-predictor-00001"
    assert predictor["traffic"] == [{"latestRevision": True, "percent": 100, "revisionName": "rev-predictor-00002"}]
    new = api.deployment(namespace, "rev-predictor-00002-deployment")
    assert new["spec"]["replicas"] == 1 and new["status"]["readyReplicas"] == 1
    old = api.deployment(namespace, "rev-predictor-00001-deployment")
    assert old["spec"]["replicas"] == 0
    assert old["status"]["observedGeneration"] == old["metadata"]["generation"]
    assert_clean(simulator, namespace, "rev")


def test_rapid_updates_only_the_last_generation_rolls_out(simulator: KServeSimulator, namespace: str,
                                                          api: Api) -> None:
    api.create(make_isvc(namespace, "rapid", ready_after="0.5"))
    simulator.wait_for(namespace, "rapid", "rollout-started")
    api.bump(namespace, "rapid")
    updated = api.patch(namespace, "rapid", {"spec": {"predictor": {"model": {"storageUri": "hf://org/third"}}}})
    assert updated["metadata"]["generation"] == 3
    simulator.wait_for(namespace, "rapid", "ready", generation=3)
    assert [(w, g) for _time, w, g in simulator.events_for(namespace, "rapid") if w == "ready"] == [("ready", 3)]
    status = api.get(namespace, "rapid")["status"]
    deployment = api.deployment(namespace, "rapid-predictor")
    # observedGeneration is the Deployment's counter, as KServe writes it: 3 when the second generation was pushed
    # before the third arrived, 2 when the two were reconciled as one (as a controller reading its cache does)
    assert status["observedGeneration"] == deployment["metadata"]["generation"], (status, deployment["metadata"])
    assert deployment["metadata"]["generation"] in (2, 3), deployment["metadata"]
    assert condition(api.get(namespace, "rapid"), "Ready")["status"] == "True"
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"]["serving.kserve.io/storage-initializer-sourceuri"] == "hf://org/third"


def test_update_reruns_the_scenario(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "fix", scenario="fail-load"))
    simulator.wait_for(namespace, "fix", "failed-load")
    api.bump(namespace, "fix", annotations={SCENARIO_ANNOTATION: "ready"})
    simulator.wait_for(namespace, "fix", "ready", generation=2)
    status = api.get(namespace, "fix")["status"]
    assert status["observedGeneration"] == 2
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"
    assert "lastFailureInfo" not in status["modelStatus"]
    # An annotation-only change does not bump the generation, but KServe copies annotations into the pod template
    # (buildObjectMeta, kserve/kserve#3817): the Deployment rolls, and its counter passes the generation.
    deployment_generation = api.deployment(namespace, "fix-predictor")["metadata"]["generation"]
    api.patch(namespace, "fix", {"metadata": {"annotations": {SCENARIO_ANNOTATION: "never-ready"}}})
    simulator.wait_for(namespace, "fix", "never-ready", generation=2)
    assert [w for _time, w, g in simulator.events_for(namespace, "fix") if g == 2].count("rollout-started") == 2
    dep = api.deployment(namespace, "fix-predictor")
    assert dep["metadata"]["generation"] == deployment_generation + 1
    assert dep["spec"]["template"]["metadata"]["annotations"][SCENARIO_ANNOTATION] == "never-ready"
    drifted = api.get(namespace, "fix")
    assert drifted["metadata"]["generation"] == 2 and drifted["status"]["observedGeneration"] == 3
    # KServe 0.20 keeps Ready True while the old pods serve: the stale Ready the wait must not accept
    assert condition(drifted, "Ready")["status"] == "True"


# -- failures --------------------------------------------------------------------------------


def test_fail_load(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "broken", scenario="fail-load"))
    started = simulator.wait_for(namespace, "broken", "rollout-started")
    failed = simulator.wait_for(namespace, "broken", "failed-load")
    assert failed - started >= 0.2
    obj = api.get(namespace, "broken")
    model_status = obj["status"]["modelStatus"]
    assert model_status["transitionStatus"] == "BlockedByFailedLoad"
    assert model_status["states"] == {"activeModelState": "", "targetModelState": "FailedToLoad"}
    assert model_status["copies"] == {"failedCopies": 1, "totalCopies": 1}
    info = model_status["lastFailureInfo"]
    assert info["reason"] == "ModelLoadFailed"
    assert info["message"].startswith(FAIL_MESSAGE_PREFIX) and "config.json" in info["message"]
    assert info["exitCode"] == 1
    assert info["location"].startswith("broken-predictor-")
    assert info["time"].endswith("Z")
    for ctype in ("PredictorReady", "Ready"):
        cond = condition(obj, ctype)
        assert (cond["status"], cond["reason"]) == ("False", "MinimumReplicasUnavailable")
        assert cond["message"]
    assert obj["status"]["observedGeneration"] == 1
    assert_clean(simulator, namespace, "broken")


def test_progress_deadline(kube: Any, simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "stuck", scenario="progress-deadline"))
    simulator.wait_for(namespace, "stuck", "progress-deadline")
    dep = api.deployment(namespace, "stuck-predictor")
    progressing = [c for c in dep["status"]["conditions"] if c["type"] == "Progressing"][0]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].startswith('ReplicaSet "stuck-predictor-')
    assert progressing["message"].endswith('" has timed out progressing.')
    assert dep["status"].get("readyReplicas", 0) == 0
    obj = api.get(namespace, "stuck")
    assert condition(obj, "Ready")["status"] == "False"
    assert condition(obj, "PredictorReady")["status"] == "False"
    result = kubectl(kube, "rollout", "status", "deployment/stuck-predictor", "-n", namespace, "--timeout=10s")
    assert result.returncode != 0
    assert "exceeded its progress deadline" in result.stdout
    assert_clean(simulator, namespace, "stuck")


def test_crashloop(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "crash", scenario="crashloop"))
    simulator.wait_for(namespace, "crash", "crashloop")
    pods = api.core.list_namespaced_pod(namespace, label_selector="serving.kserve.io/inferenceservice=crash").items
    assert len(pods) == 1
    pod = pods[0]
    assert pod.metadata.name.startswith("crash-predictor-")
    assert len(pod.metadata.name.split("-")) == 4  # crash-predictor-<hash>-<suffix>
    assert pod.metadata.labels["app"] == "isvc.crash-predictor"
    assert pod.metadata.labels["component"] == "predictor"
    assert pod.spec.node_name is None
    [status] = pod.status.container_statuses
    assert status.name == "kserve-container"
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.restart_count == 3
    assert status.last_state.terminated.exit_code == 1
    assert status.ready is False

    events = api.core.list_namespaced_event(namespace).items
    backoff = [e for e in events if e.reason == "BackOff"]
    assert len(backoff) == 1
    assert backoff[0].type == "Warning"
    assert backoff[0].involved_object.kind == "Pod"
    assert backoff[0].involved_object.name == pod.metadata.name
    assert backoff[0].involved_object.uid == pod.metadata.uid
    assert backoff[0].message.startswith(f"Back-off restarting failed container kserve-container in pod {pod.metadata.name}")

    obj = api.get(namespace, "crash")
    assert condition(obj, "Ready")["status"] == "False"
    assert obj["status"]["modelStatus"]["lastFailureInfo"]["location"] == pod.metadata.name
    assert_clean(simulator, namespace, "crash")


def test_never_ready(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "never", scenario="never-ready", raw=False))
    logged = simulator.wait_for(namespace, "never", "never-ready")
    while time.monotonic() - logged < 2.0:
        obj = api.get(namespace, "never")
        assert condition(obj, "Ready")["status"] == "False"
        time.sleep(0.25)
    assert condition(obj, "Ready")["reason"] == "RevisionMissing"
    assert condition(obj, "PredictorReady")["status"] == "False"
    assert obj["status"]["observedGeneration"] == 1
    assert "url" not in obj["status"]
    dep = api.deployment(namespace, "never-predictor-00001-deployment")
    assert dep["status"].get("readyReplicas", 0) == 0
    assert {c["type"]: c["status"] for c in dep["status"]["conditions"]} == {"Available": "False", "Progressing": "True"}
    assert [w for _time, w, _gen in simulator.events_for(namespace, "never")] == ["rollout-started", "never-ready"]


def test_stale_ready(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "stale", scenario="stale-ready", ready_after="0.3",
                         annotations={STALE_ANNOTATION: "1.5"}))
    simulator.wait_for(namespace, "stale", "ready")
    before = api.get(namespace, "stale")["status"]
    deployment_generation = api.deployment(namespace, "stale-predictor")["metadata"]["generation"]

    updated_at = time.monotonic()
    api.bump(namespace, "stale")
    simulator.wait_for(namespace, "stale", "stale-hold", generation=2)
    while time.monotonic() - updated_at < 1.2:
        assert api.get(namespace, "stale")["status"] == before  # untouched: Ready True, observedGeneration 1
        time.sleep(0.2)
    assert api.deployment(namespace, "stale-predictor")["metadata"]["generation"] == deployment_generation

    started = simulator.wait_for(namespace, "stale", "rollout-started", generation=2)
    assert started - updated_at >= 1.5
    rolling = api.get(namespace, "stale")
    assert rolling["status"]["observedGeneration"] == 2  # the Deployment's counter, updated once
    assert api.deployment(namespace, "stale-predictor")["metadata"]["generation"] == deployment_generation + 1
    assert condition(rolling, "Ready")["status"] == "True"  # KServe 0.20: the old pods still serve
    ready_at = simulator.wait_for(namespace, "stale", "ready", generation=2)
    assert ready_at - started >= 0.3
    done = api.get(namespace, "stale")
    assert done["status"]["observedGeneration"] == 2 and condition(done, "Ready")["status"] == "True"


# -- faithful to KServe: what the wait must cope with ----------------------------------------------


def test_spec_change_kserve_does_not_push_leaves_observed_generation_behind(simulator: KServeSimulator, namespace: str,
                                                                            api: Api) -> None:
    """maxReplicas goes to the HPA, not the Deployment (checkDeploymentExist finds no diff): nothing rolls, and
    observedGeneration (the Deployment's counter, PropagateRawStatus) stays below the new generation for good."""
    api.create(make_isvc(namespace, "hpa"))
    simulator.wait_for(namespace, "hpa", "ready")
    before = api.deployment(namespace, "hpa-predictor")
    assert api.patch(namespace, "hpa", {"spec": {"predictor": {"maxReplicas": 3}}})["metadata"]["generation"] == 2
    simulator.wait_for(namespace, "hpa", "not-pushed", generation=2)
    after = api.get(namespace, "hpa")
    assert (after["metadata"]["generation"], after["status"]["observedGeneration"]) == (2, 1)
    assert condition(after, "Ready")["status"] == "True"
    assert api.deployment(namespace, "hpa-predictor")["metadata"]["generation"] == before["metadata"]["generation"]
    assert "rollout-started" not in [w for _t, w, g in simulator.events_for(namespace, "hpa") if g == 2]


def test_observed_generation_knob(kube: Any) -> None:
    """Without PR #6096 the child's counter; with it (honest_observed_generation) the InferenceService's own."""
    from tests.harness.kserve_simulator import _Rollout, _Tracked  # pylint: disable=import-outside-toplevel

    rollout = _Rollout(generation=5, scenario="ready", mode="Standard", deployment="x-predictor", revision=None,
                       replicas=1, delay=0, template={}, rs_name="x", runtime=None, cluster_runtime=None)
    tracked = _Tracked(uid="u", obj={}, child_status={"observedGeneration": 9})
    assert KServeSimulator(kube.api_client())._observed_generation(tracked, rollout) == 9
    honest = KServeSimulator(kube.api_client(), honest_observed_generation=True)
    assert honest._observed_generation(tracked, rollout) == 5
    with pytest.raises(ValueError):
        KServeSimulator(kube.api_client(), kserve_version="0.13")


def test_deadline_then_ready(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    """A download longer than KServe's default 600 s progress deadline: ProgressDeadlineExceeded, then the
    Deployment recovers by itself and the service becomes Ready."""
    api.create(make_isvc(namespace, "slow", scenario="deadline-then-ready", annotations={RECOVER_ANNOTATION: "1.0"}))
    passed = simulator.wait_for(namespace, "slow", "progress-deadline")
    dep = api.deployment(namespace, "slow-predictor")
    progressing = {c["type"]: c for c in dep["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    # first rollout: Available False wins over Progressing in PropagateRawStatus
    assert condition(api.get(namespace, "slow"), "PredictorReady")["reason"] == "MinimumReplicasUnavailable"
    ready = simulator.wait_for(namespace, "slow", "ready")
    assert ready - passed >= 1.0
    dep = api.deployment(namespace, "slow-predictor")
    assert {c["type"]: c["reason"] for c in dep["status"]["conditions"]}["Progressing"] == "NewReplicaSetAvailable"
    assert condition(api.get(namespace, "slow"), "Ready")["status"] == "True"


def test_failed_create_by_pod_security(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    """hostIPC in a baseline namespace: the ReplicaSet controller's FailedCreate, on the Deployment as ReplicaFailure
    and as a Warning Event on the ReplicaSet; KServe 0.16+ turns ReplicaFailure into PredictorReady False."""
    api.core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    api.create(make_isvc(namespace, "ipc", scenario="failed-create"))
    simulator.wait_for(namespace, "ipc", "failed-create")
    dep = api.deployment(namespace, "ipc-predictor")
    failure = {c["type"]: c for c in dep["status"]["conditions"]}["ReplicaFailure"]
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert 'violates PodSecurity "baseline:latest": host namespaces (hostIPC=true)' in failure["message"]
    assert dep["status"].get("replicas", 0) == 0
    predictor = condition(api.get(namespace, "ipc"), "PredictorReady")
    assert (predictor["status"], predictor["reason"], predictor["message"]) == ("False", "FailedCreate", failure["message"])
    events = [e for e in api.core.list_namespaced_event(namespace).items if e.reason == "FailedCreate"]
    assert len(events) == 1 and events[0].type == "Warning" and events[0].involved_object.kind == "ReplicaSet"
    assert events[0].involved_object.name.startswith("ipc-predictor-")
    assert events[0].message == "Error creating: " + failure["message"]


def test_unschedulable_pod_with_its_event(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    isvc = make_isvc(namespace, "gpu", scenario="unschedulable")
    isvc["spec"]["predictor"]["model"]["resources"] = {"limits": {"nvidia.com/gpualloc": "1"}}
    api.create(isvc)
    simulator.wait_for(namespace, "gpu", "unschedulable")
    [pod] = api.core.list_namespaced_pod(namespace, label_selector="serving.kserve.io/inferenceservice=gpu").items
    assert pod.status.phase == "Pending"
    [scheduled] = pod.status.conditions
    assert (scheduled.type, scheduled.status, scheduled.reason) == ("PodScheduled", "False", "Unschedulable")
    assert scheduled.message == "0/3 nodes are available: 3 Insufficient nvidia.com/gpualloc."
    events = [e for e in api.core.list_namespaced_event(namespace).items if e.reason == "FailedScheduling"]
    assert [(e.involved_object.name, e.message) for e in events] == [(pod.metadata.name, scheduled.message)]
    assert condition(api.get(namespace, "gpu"), "Ready")["status"] == "False"


def test_stop_annotation_deletes_the_workload_and_sets_stopped(simulator: KServeSimulator, namespace: str,
                                                               api: Api) -> None:
    api.create(make_isvc(namespace, "halt"))
    simulator.wait_for(namespace, "halt", "ready")
    api.patch(namespace, "halt", {"metadata": {"annotations": {"serving.kserve.io/stop": "true"}}})
    simulator.wait_for(namespace, "halt", "stopped")
    status = api.get(namespace, "halt")["status"]
    assert [(c["type"], c["status"], c.get("reason")) for c in status["conditions"]] == [
        ("IngressReady", "False", "Stopped"), ("PredictorReady", "False", "Stopped"), ("Ready", "False", "Stopped"),
        ("Stopped", "True", None)]
    assert status["deploymentMode"] == "Standard" and "observedGeneration" not in status
    assert api.apps.list_namespaced_deployment(namespace).items == []


# -- namespaces, deletion, lifecycle ---------------------------------------------------------


def test_scenario_from_namespace_label(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.core.patch_namespace(namespace, {"metadata": {"labels": {SCENARIO_LABEL: "fail-load"}}})
    api.create(make_isvc(namespace, "by-label"))
    simulator.wait_for(namespace, "by-label", "failed-load")
    status = api.get(namespace, "by-label")["status"]
    assert status["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"
    # The InferenceService's annotation wins over the namespace label.
    api.create(make_isvc(namespace, "by-annotation", scenario="ready"))
    simulator.wait_for(namespace, "by-annotation", "ready")


def test_namespace_switched_off(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.core.patch_namespace(namespace, {"metadata": {"labels": {SIMULATOR_LABEL: "off"}}})
    api.create(make_isvc(namespace, "quiet", ready_after="0"))
    simulator.wait_for(namespace, "quiet", "ignored")
    time.sleep(0.5)
    assert "status" not in api.get(namespace, "quiet")
    assert api.apps.list_namespaced_deployment(namespace).items == []
    assert [w for _time, w, _gen in simulator.events_for(namespace, "quiet")] == ["ignored"]


def test_deletion_cleans_up(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "gone", scenario="crashloop"))
    api.create(make_isvc(namespace, "gone-sl", raw=False))
    simulator.wait_for(namespace, "gone", "crashloop")
    simulator.wait_for(namespace, "gone-sl", "ready")
    api.bump(namespace, "gone-sl")
    simulator.wait_for(namespace, "gone-sl", "ready", generation=2)
    assert len(api.apps.list_namespaced_deployment(namespace).items) == 3
    for name in ("gone", "gone-sl"):
        api.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        simulator.wait_for(namespace, name, "deleted")
    assert api.apps.list_namespaced_deployment(namespace).items == []
    assert api.core.list_namespaced_pod(namespace).items == []


def test_recreated_after_delete_starts_over(simulator: KServeSimulator, namespace: str, api: Api) -> None:
    api.create(make_isvc(namespace, "again", raw=False))
    simulator.wait_for(namespace, "again", "ready")
    api.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "again")
    deleted = simulator.wait_for(namespace, "again", "deleted")
    api.create(make_isvc(namespace, "again", raw=False))
    simulator.wait_for(namespace, "again", "ready", since=deleted)
    status = api.get(namespace, "again")["status"]
    assert status["components"]["predictor"]["latestReadyRevision"] == "again-predictor-00001"
    assert api.deployment(namespace, "again-predictor-00001-deployment")["status"]["readyReplicas"] == 1


def test_stop_is_prompt_and_leaves_no_threads(kube: Any, namespace: str, api: Api) -> None:
    api.core.patch_namespace(namespace, {"metadata": {"labels": {SIMULATOR_LABEL: "off"}}})
    before = set(threading.enumerate())
    sim = KServeSimulator(kube.api_client(), namespace=namespace)
    sim.start()
    api.create(make_isvc(namespace, "idle"))
    sim.wait_for(namespace, "idle", "ignored")
    time.sleep(0.3)  # the watch is idle, blocked in a read
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2.0
    assert set(threading.enumerate()) - before == set()


def test_survives_apiserver_restart(kube: Any, simulator: KServeSimulator, namespace: str, api: Api) -> None:
    kube.restart_apiserver()
    name = "after-" + secrets.token_hex(2)
    eventually(lambda: Api(kube).create(make_isvc(namespace, name)))
    simulator.wait_for(namespace, name, "ready", timeout=30)
    assert condition(Api(kube).get(namespace, name), "Ready")["status"] == "True"
