# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the readiness predicates (``_readiness``).

The objects are built as KServe v0.20's controller, the Deployment controller and the kubelet write them (the same
shapes tests/harness/kserve_simulator.py writes): conditions sorted by type with a ``Stopped`` False/Info condition,
zero-valued Deployment status counts omitted, ``lastFailureInfo`` with reason/message/exitCode/location/time.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.aml.kserve.plugins.module_utils import _readiness as r

T0 = "2025-11-26T09:00:00Z"
NS = "team-a"
NAME = "qwen"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
FAILED_LOAD_MESSAGE = "OSError: /mnt/models does not appear to have a file named config.json"


# -- builders ------------------------------------------------------------------------------------------------------


def cond(ctype: str, status: str = "True", reason: str = "", message: str = "", severity: str = "") -> Dict[str, Any]:
    c: Dict[str, Any] = {"type": ctype, "status": status, "lastTransitionTime": T0}
    if severity:
        c["severity"] = severity
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def raw_conditions(predictor: Optional[tuple] = None) -> List[Dict[str, Any]]:
    """KServe's conditions for a RawDeployment/Standard service; ``predictor`` = (status, reason, message) when not ready."""
    predictor = predictor or ("True", "", "")
    ready = predictor if predictor[0] != "True" else ("True", "", "")
    conditions = [
        cond("IngressReady"),
        cond("PredictorReady", *predictor),
        cond("Ready", *ready),
        cond("Stopped", "False", severity="Info"),
    ]
    return sorted(conditions, key=lambda c: c["type"])


def serverless_conditions(ready: bool) -> List[Dict[str, Any]]:
    """KServe's conditions for a Serverless/Knative service, ready or waiting for its first Revision."""
    if ready:
        return sorted([cond(t) for t in ("IngressReady", "PredictorReady", "Ready")] + [
            cond(t, severity="Info") for t in ("PredictorConfigurationReady", "PredictorRouteReady",
                                               "LatestDeploymentReady", "RoutesReady")
        ] + [cond("Stopped", "False", severity="Info")], key=lambda c: c["type"])
    missing = ("False", "RevisionMissing", 'Configuration "qwen-predictor" is waiting for a Revision to become ready.')
    ingress = ("False", "PredictorIngressNotCreated", "Ingress has not been created yet")
    return sorted([
        cond("IngressReady", *ingress),
        cond("PredictorReady", *missing),
        cond("Ready", *ingress),
        cond("PredictorConfigurationReady", *missing, severity="Info"),
        cond("PredictorRouteReady", "False", "RevisionMissing",
             'Configuration "qwen-predictor" does not have any ready Revision.', severity="Info"),
        cond("LatestDeploymentReady", "False", "PredictorConfigurationReady not ready", severity="Info"),
        cond("RoutesReady", "False", "PredictorRouteReady not ready", severity="Info"),
        cond("Stopped", "False", severity="Info"),
    ], key=lambda c: c["type"])


MODEL_LOADED = {"transitionStatus": "UpToDate", "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "copies": {"failedCopies": 0, "totalCopies": 1}}
MODEL_PENDING = {"transitionStatus": "InProgress", "states": {"activeModelState": "", "targetModelState": "Pending"},
                 "copies": {"failedCopies": 0}}
FAILURE_INFO = {"reason": "ModelLoadFailed", "message": FAILED_LOAD_MESSAGE, "exitCode": 1,
                "location": "qwen-predictor-00001-deployment-6b8f9c7d5-x2k9p", "time": T0}
MODEL_FAILED = {"transitionStatus": "BlockedByFailedLoad",
                "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
                "lastFailureInfo": FAILURE_INFO, "copies": {"failedCopies": 1, "totalCopies": 1}}


def isvc(generation: Optional[int] = 1, observed: Optional[int] = 1, conditions: Optional[List[Dict[str, Any]]] = None,
         model_status: Optional[Dict[str, Any]] = None, mode: str = "Standard", annotate: bool = True,
         status: bool = True, name: str = NAME) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {"name": name, "namespace": NS, "uid": "0b1c", "resourceVersion": "812"}
    if generation is not None:
        metadata["generation"] = generation
    if annotate:
        metadata["annotations"] = {"serving.kserve.io/deploymentMode": mode}
    obj: Dict[str, Any] = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": metadata,
                           "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 1,
                                                  "model": {"modelFormat": {"name": "vllm"}}}}}
    if not status:
        return obj
    st: Dict[str, Any] = {"conditions": raw_conditions() if conditions is None else conditions,
                          "deploymentMode": mode, "modelStatus": MODEL_LOADED if model_status is None else model_status}
    if observed is not None:
        st["observedGeneration"] = observed
    if mode in ("Standard", "RawDeployment"):
        st["url"] = "http://{0}-{1}.example.com".format(name, NS)
        st["address"] = {"url": "http://{0}-predictor.{1}.svc.cluster.local".format(name, NS)}
    obj["status"] = st
    return obj


def ready_isvc(**kwargs: Any) -> Dict[str, Any]:
    return isvc(**kwargs)


def deployment(name: str = NAME + "-predictor", spec_replicas: int = 1, generation: int = 1, observed: Optional[int] = 1,
               counts: Optional[Dict[str, int]] = None, progressing: str = "NewReplicaSetAvailable",
               isvc_name: str = NAME) -> Dict[str, Any]:
    """A Deployment as the Deployment controller writes it; zero counts are omitted, as the apiserver omits them."""
    if counts is None:  # complete
        counts = {"replicas": spec_replicas, "updatedReplicas": spec_replicas, "readyReplicas": spec_replicas,
                  "availableReplicas": spec_replicas}
    available = counts.get("availableReplicas", 0) >= spec_replicas
    rs = name + "-6b8f9c7d5"
    progressing_cond = {
        "NewReplicaSetAvailable": ("True", 'ReplicaSet "{0}" has successfully progressed.'.format(rs)),
        "ReplicaSetUpdated": ("True", 'ReplicaSet "{0}" is progressing.'.format(rs)),
        "ProgressDeadlineExceeded": ("False", 'ReplicaSet "{0}" has timed out progressing.'.format(rs)),
    }[progressing]
    status: Dict[str, Any] = {"conditions": [
        {"type": "Available", "status": "True" if available else "False", "lastUpdateTime": T0, "lastTransitionTime": T0,
         "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
         "message": "Deployment has minimum availability." if available else "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": progressing_cond[0], "lastUpdateTime": T0, "lastTransitionTime": T0,
         "reason": progressing, "message": progressing_cond[1]},
    ]}
    if observed is not None:
        status["observedGeneration"] = observed
    status.update({k: v for k, v in counts.items() if v})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": generation,
                     "labels": {ISVC_LABEL: isvc_name, "component": "predictor"}},
        "spec": {"replicas": spec_replicas, "selector": {"matchLabels": {"app": "isvc.{0}-predictor".format(isvc_name)}}},
        "status": status,
    }


def container_status(name: str = "kserve-container", waiting: Optional[str] = None, message: str = "",
                     last_exit: Optional[int] = None, running: bool = False, restarts: int = 0) -> Dict[str, Any]:
    state: Dict[str, Any]
    if waiting:
        state = {"waiting": {"reason": waiting}}
        if message:
            state["waiting"]["message"] = message
    elif running:
        state = {"running": {"startedAt": T0}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    cs: Dict[str, Any] = {"name": name, "image": "registry.example.com/aml/vllm:0.9.2", "imageID": "", "ready": running,
                          "started": running, "restartCount": restarts, "state": state}
    if last_exit is not None:
        cs["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error", "message": FAILED_LOAD_MESSAGE,
                                          "startedAt": T0, "finishedAt": T0, "containerID": "containerd://abc"}}
    return cs


def pod(containers: Optional[List[Dict[str, Any]]] = None, init: Optional[List[Dict[str, Any]]] = None,
        name: str = NAME + "-predictor-6b8f9c7d5-x2k9p", phase: str = "Running") -> Dict[str, Any]:
    status: Dict[str, Any] = {"phase": phase, "startTime": T0, "qosClass": "BestEffort"}
    if init is not None:
        status["initContainerStatuses"] = init
    if containers is not None:
        status["containerStatuses"] = containers
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {ISVC_LABEL: NAME, "pod-template-hash": "6b8f9c7d5"}},
            "status": status}


NOT_AVAILABLE = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")


# -- isvc_state ----------------------------------------------------------------------------------------------------

ISVC_CASES = [
    # id, object, phase, reason, message
    ("ready-raw", isvc(), r.READY, "", "Ready"),
    ("ready-serverless", isvc(mode="Knative", conditions=serverless_conditions(True)), r.READY, "", "Ready"),
    ("ready-without-observedGeneration", isvc(observed=None), r.READY, "", "Ready (no observedGeneration reported)"),
    ("not-ready-raw-first-rollout", isvc(conditions=raw_conditions(NOT_AVAILABLE), model_status=MODEL_PENDING),
     r.PROGRESSING, "MinimumReplicasUnavailable",
     "PredictorReady is False: MinimumReplicasUnavailable Deployment does not have minimum availability."),
    ("not-ready-serverless", isvc(mode="Knative", conditions=serverless_conditions(False), model_status=MODEL_PENDING),
     r.PROGRESSING, "PredictorIngressNotCreated",
     "IngressReady is False: PredictorIngressNotCreated Ingress has not been created yet"),
    ("ready-unknown-alone", isvc(conditions=[cond("Ready", "Unknown")], model_status={}), r.PROGRESSING, "NotReady",
     "Ready is Unknown"),
    ("stale-ready", isvc(generation=2, observed=1), r.PROGRESSING, "NotObserved",
     "KServe has not yet observed generation 2 (status is for 1)"),
    ("stale-failure-is-not-a-verdict", isvc(generation=3, observed=2, model_status=MODEL_FAILED),
     r.PROGRESSING, "NotObserved", "KServe has not yet observed generation 3 (status is for 2)"),
    ("no-status", isvc(status=False), r.PROGRESSING, "NoReadyCondition", "waiting for KServe to report the Ready condition"),
    ("status-without-conditions", isvc(conditions=[], model_status={}), r.PROGRESSING, "NoReadyCondition",
     "waiting for KServe to report the Ready condition"),
]


@pytest.mark.parametrize("obj, phase, reason, message", [c[1:] for c in ISVC_CASES], ids=[c[0] for c in ISVC_CASES])
def test_isvc_state(obj: Dict[str, Any], phase: str, reason: str, message: str) -> None:
    state = r.isvc_state(obj)
    assert (state.phase, state.reason, state.message) == (phase, reason, message)
    assert state.ready is (phase == r.READY)
    assert state.failed is False


FAILED_CASES = [
    # id, modelStatus, reason, message
    ("blocked-by-failed-load", MODEL_FAILED, "ModelLoadFailed",
     "the model failed to load: {0} (exit code 1)".format(FAILED_LOAD_MESSAGE)),
    ("invalid-spec-without-failure-info",
     {"transitionStatus": "InvalidSpec", "states": {"activeModelState": "", "targetModelState": "Pending"}},
     "InvalidSpec", "the model failed to load: InvalidSpec"),
    ("invalid-spec-with-message",
     {"transitionStatus": "InvalidSpec", "states": {"activeModelState": "", "targetModelState": "Pending"},
      "lastFailureInfo": {"reason": "NoSupportingRuntime", "message": "Specified runtime does not support specified "
                                                                      "framework/version"}},
     "NoSupportingRuntime", "the model failed to load: Specified runtime does not support specified framework/version"),
    ("target-failed-to-load-only",
     {"transitionStatus": "", "states": {"activeModelState": "Loaded", "targetModelState": "FailedToLoad"}},
     "FailedToLoad", "the model failed to load: FailedToLoad"),
    # A transitionStatus that is no failure (InProgress) is not given as the reason: the target state is.
    ("target-failed-to-load-while-in-progress",
     {"transitionStatus": "InProgress", "states": {"activeModelState": "Loaded", "targetModelState": "FailedToLoad"}},
     "FailedToLoad", "the model failed to load: FailedToLoad"),
    ("exit-code-zero-is-reported",
     dict(MODEL_FAILED, lastFailureInfo=dict(FAILURE_INFO, exitCode=0, message="killed")),
     "ModelLoadFailed", "the model failed to load: killed (exit code 0)"),
]


@pytest.mark.parametrize("model_status, reason, message", [c[1:] for c in FAILED_CASES], ids=[c[0] for c in FAILED_CASES])
def test_isvc_state_failed_load(model_status: Dict[str, Any], reason: str, message: str) -> None:
    obj = isvc(conditions=raw_conditions(("False", "RevisionFailed", "Container failed")), model_status=model_status)
    state = r.isvc_state(obj)
    assert state.failed and not state.ready
    assert (state.phase, state.reason, state.message) == (r.FAILED, reason, message)
    assert state.details == {
        "transition_status": model_status.get("transitionStatus", ""),
        "target_model_state": model_status["states"]["targetModelState"],
        "last_failure_info": model_status.get("lastFailureInfo") or {},
    }


def test_isvc_state_failed_load_wins_over_ready_of_old_revision() -> None:
    """Serverless: the old Revision still serves (Ready True) while the new generation failed to load."""
    state = r.isvc_state(isvc(generation=2, observed=2, mode="Knative", conditions=serverless_conditions(True),
                              model_status=MODEL_FAILED))
    assert state.failed
    assert state.details["last_failure_info"]["exitCode"] == 1
    assert state.details["last_failure_info"]["message"] == FAILED_LOAD_MESSAGE


# -- deployment_state ----------------------------------------------------------------------------------------------

DEPLOYMENT_CASES = [
    # id, deployment, phase, reason, message
    ("rolled-out", deployment(spec_replicas=2), r.READY, "", "deployment qwen-predictor rolled out"),
    ("generation-not-observed", deployment(generation=3, observed=2), r.PROGRESSING, "NotObserved",
     "deployment qwen-predictor: waiting for the spec update to be observed"),
    ("never-observed", deployment(observed=None, counts={}), r.PROGRESSING, "NotObserved",
     "deployment qwen-predictor: waiting for the spec update to be observed"),
    ("updated-below-wanted", deployment(spec_replicas=2, generation=2, observed=2, progressing="ReplicaSetUpdated",
                                        counts={"replicas": 3, "updatedReplicas": 1, "readyReplicas": 2,
                                                "availableReplicas": 2, "unavailableReplicas": 1}),
     r.PROGRESSING, "RollingOut", "deployment qwen-predictor: 1 of 2 updated replicas"),
    ("old-replicas-terminating", deployment(spec_replicas=2, generation=2, observed=2, progressing="ReplicaSetUpdated",
                                            counts={"replicas": 3, "updatedReplicas": 2, "readyReplicas": 3,
                                                    "availableReplicas": 3}),
     r.PROGRESSING, "RollingOut", "deployment qwen-predictor: 1 old replicas pending termination"),
    ("available-below-updated", deployment(spec_replicas=2, progressing="ReplicaSetUpdated",
                                           counts={"replicas": 2, "updatedReplicas": 2, "readyReplicas": 1,
                                                   "availableReplicas": 1, "unavailableReplicas": 1}),
     r.PROGRESSING, "RollingOut", "deployment qwen-predictor: 1 of 2 updated replicas available"),
    ("first-rollout-none-available", deployment(spec_replicas=1, progressing="ReplicaSetUpdated",
                                                counts={"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}),
     r.PROGRESSING, "RollingOut", "deployment qwen-predictor: 0 of 1 updated replicas available"),
    ("scaled-to-zero", deployment(spec_replicas=0, counts={}), r.READY, "", "deployment qwen-predictor rolled out"),
    ("deadline-not-yet-observed-generation", deployment(generation=2, observed=1, progressing="ProgressDeadlineExceeded",
                                                        counts={"replicas": 1, "updatedReplicas": 1}),
     r.PROGRESSING, "NotObserved", "deployment qwen-predictor: waiting for the spec update to be observed"),
]


@pytest.mark.parametrize("obj, phase, reason, message", [c[1:] for c in DEPLOYMENT_CASES],
                         ids=[c[0] for c in DEPLOYMENT_CASES])
def test_deployment_state(obj: Dict[str, Any], phase: str, reason: str, message: str) -> None:
    state = r.deployment_state(obj)
    assert (state.phase, state.reason, state.message) == (phase, reason, message)


def test_deployment_progress_deadline_exceeded_fails() -> None:
    obj = deployment(progressing="ProgressDeadlineExceeded",
                     counts={"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1})
    state = r.deployment_state(obj)
    assert state.failed
    assert state.reason == "ProgressDeadlineExceeded"
    assert state.message == ('deployment qwen-predictor exceeded its progress deadline: ReplicaSet '
                             '"qwen-predictor-6b8f9c7d5" has timed out progressing.')
    assert state.details == {"deployment": "qwen-predictor"}


# -- pod_state -----------------------------------------------------------------------------------------------------

CRASH_MESSAGE = "back-off 40s restarting failed container=kserve-container pod=qwen-predictor-6b8f9c7d5-x2k9p_team-a(0b1c)"
PULL_MESSAGE = 'Back-off pulling image "registry.example.com/aml/vllm:0.9.3"'
STORAGE_INIT = "storage-initializer"

FAILED_POD_CASES = [
    # id, pod, reason, container, message, extra details
    ("crashloop", pod([container_status(waiting="CrashLoopBackOff", message=CRASH_MESSAGE, last_exit=1, restarts=3)]),
     "CrashLoopBackOff", "kserve-container",
     "pod qwen-predictor-6b8f9c7d5-x2k9p container kserve-container: CrashLoopBackOff ({0}); last exit code 1".format(
         CRASH_MESSAGE),
     {"restart_count": 3, "last_exit_code": 1, "last_exit_reason": "Error"}),
    ("image-pull-backoff", pod([container_status(waiting="ImagePullBackOff", message=PULL_MESSAGE)], phase="Pending"),
     "ImagePullBackOff", "kserve-container",
     "pod qwen-predictor-6b8f9c7d5-x2k9p container kserve-container: ImagePullBackOff ({0})".format(PULL_MESSAGE),
     {"restart_count": 0}),
    ("err-image-pull-no-message", pod([container_status(waiting="ErrImagePull")], phase="Pending"),
     "ErrImagePull", "kserve-container",
     "pod qwen-predictor-6b8f9c7d5-x2k9p container kserve-container: ErrImagePull", {"restart_count": 0}),
    ("init-container-image-pull", pod([container_status()], init=[container_status(STORAGE_INIT, waiting="ImagePullBackOff",
                                                                                   message=PULL_MESSAGE)], phase="Pending"),
     "ImagePullBackOff", STORAGE_INIT,
     "pod qwen-predictor-6b8f9c7d5-x2k9p container storage-initializer: ImagePullBackOff ({0})".format(PULL_MESSAGE),
     {"restart_count": 0}),
    ("init-container-crashloop", pod([container_status(waiting="PodInitializing")],
                                     init=[container_status(STORAGE_INIT, waiting="CrashLoopBackOff", last_exit=2,
                                                            restarts=5)], phase="Pending"),
     "CrashLoopBackOff", STORAGE_INIT,
     "pod qwen-predictor-6b8f9c7d5-x2k9p container storage-initializer: CrashLoopBackOff; last exit code 2",
     {"restart_count": 5, "last_exit_code": 2, "last_exit_reason": "Error"}),
    ("second-container-stuck", pod([container_status(running=True),
                                    container_status("queue-proxy", waiting="ErrImagePull")]),
     "ErrImagePull", "queue-proxy", "pod qwen-predictor-6b8f9c7d5-x2k9p container queue-proxy: ErrImagePull",
     {"restart_count": 0}),
]


@pytest.mark.parametrize("obj, reason, container, message, extra", [c[1:] for c in FAILED_POD_CASES],
                         ids=[c[0] for c in FAILED_POD_CASES])
def test_pod_state_failed(obj: Dict[str, Any], reason: str, container: str, message: str, extra: Dict[str, Any]) -> None:
    state = r.pod_state(obj)
    assert state.failed
    assert (state.reason, state.message) == (reason, message)
    assert state.details == dict({"pod": "qwen-predictor-6b8f9c7d5-x2k9p", "container": container}, **extra)


HEALTHY_POD_CASES = [
    ("running", pod([container_status(running=True)])),
    ("container-creating", pod([container_status()], phase="Pending")),
    ("pod-initializing", pod([container_status(waiting="PodInitializing")], init=[container_status(STORAGE_INIT, running=True)],
                             phase="Pending")),
    ("restarted-but-running", pod([dict(container_status(running=True, restarts=1),
                                        lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})])),
    ("no-status-yet", {"metadata": {"name": "qwen-predictor-6b8f9c7d5-x2k9p"}}),
]


@pytest.mark.parametrize("obj", [c[1] for c in HEALTHY_POD_CASES], ids=[c[0] for c in HEALTHY_POD_CASES])
def test_pod_state_not_stuck(obj: Dict[str, Any]) -> None:
    state = r.pod_state(obj)
    assert state.phase == r.READY
    assert state.message == "pod qwen-predictor-6b8f9c7d5-x2k9p has no stuck container"


# -- overall -------------------------------------------------------------------------------------------------------

SERVERLESS_READY = isvc(mode="Knative", conditions=serverless_conditions(True))
REV1 = "qwen-predictor-00001-deployment"
REV2 = "qwen-predictor-00002-deployment"

OVERALL_CASES = [
    # id, isvc, deployments, pods, phase, message
    ("ready-and-rolled-out", isvc(), [deployment()], [pod([container_status(running=True)])], r.READY,
     "Ready and rolled out"),
    ("ready-but-deployment-still-rolling", isvc(generation=2, observed=2),
     [deployment(spec_replicas=2, generation=2, observed=2, progressing="ReplicaSetUpdated",
                 counts={"replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2})], [],
     r.PROGRESSING, "deployment qwen-predictor: 1 of 2 updated replicas"),
    ("ready-but-deployment-not-observed", isvc(), [deployment(generation=2, observed=1)], [], r.PROGRESSING,
     "deployment qwen-predictor: waiting for the spec update to be observed"),
    ("deployment-done-but-isvc-stale", isvc(generation=2, observed=1), [deployment()], [], r.PROGRESSING,
     "KServe has not yet observed generation 2 (status is for 1)"),
    ("one-of-two-deployments-rolling", SERVERLESS_READY,
     [deployment(REV1), deployment(REV2, counts={"replicas": 1, "updatedReplicas": 1})], [], r.PROGRESSING,
     "deployment {0}: 0 of 1 updated replicas available".format(REV2)),
    ("scale-to-zero-no-deployment", SERVERLESS_READY, [], [], r.READY, "Ready (no predictor deployment)"),
    ("scale-to-zero-deployment-at-zero", SERVERLESS_READY, [deployment(REV1, spec_replicas=0, counts={})], [], r.READY,
     "Ready and rolled out"),
    ("old-revision-scaled-down-new-rolled-out", SERVERLESS_READY,
     [deployment(REV1, spec_replicas=0, counts={}, generation=2, observed=2), deployment(REV2)], [], r.READY,
     "Ready and rolled out"),
    ("not-ready-without-deployment", isvc(mode="Knative", conditions=serverless_conditions(False),
                                          model_status=MODEL_PENDING), [], [], r.PROGRESSING,
     "IngressReady is False: PredictorIngressNotCreated Ingress has not been created yet"),
    ("deleted", None, [deployment()], [], r.FAILED, "the InferenceService does not exist (deleted while waiting?)"),
]


@pytest.mark.parametrize("obj, deployments, pods, phase, message", [c[1:] for c in OVERALL_CASES],
                         ids=[c[0] for c in OVERALL_CASES])
def test_overall(obj: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]], pods: List[Dict[str, Any]], phase: str,
                 message: str) -> None:
    state = r.overall(copy.deepcopy(obj), deployments, pods)
    assert (state.phase, state.message) == (phase, message)
    assert state.ready is (phase == r.READY)


def test_overall_failed_load_with_crashloop_merges_details() -> None:
    """KServe's verdict first; the crash-looping pod's details are added, KServe's keys are kept."""
    crashing = pod([container_status(waiting="CrashLoopBackOff", message=CRASH_MESSAGE, last_exit=1, restarts=3)])
    state = r.overall(isvc(conditions=raw_conditions(NOT_AVAILABLE), model_status=MODEL_FAILED),
                      [deployment(counts={"replicas": 1, "updatedReplicas": 1})], [crashing])
    assert state.failed
    assert state.reason == "ModelLoadFailed"
    assert state.message == (
        "the model failed to load: {0} (exit code 1); pod qwen-predictor-6b8f9c7d5-x2k9p container kserve-container: "
        "CrashLoopBackOff ({1}); last exit code 1".format(FAILED_LOAD_MESSAGE, CRASH_MESSAGE))
    assert state.details == {
        "transition_status": "BlockedByFailedLoad", "target_model_state": "FailedToLoad",
        "last_failure_info": FAILURE_INFO, "pod": "qwen-predictor-6b8f9c7d5-x2k9p", "container": "kserve-container",
        "restart_count": 3, "last_exit_code": 1, "last_exit_reason": "Error",
    }


@pytest.mark.parametrize("failing, reason", [
    ([deployment(progressing="ProgressDeadlineExceeded", counts={"replicas": 1, "updatedReplicas": 1})], "ProgressDeadlineExceeded"),
    ([deployment()], "ImagePullBackOff"),
], ids=["deadline", "image-pull-pod"])
def test_overall_fails_when_ready_isvc_has_a_failed_part(failing: List[Dict[str, Any]], reason: str) -> None:
    pods = [pod([container_status(waiting="ImagePullBackOff")])] if reason == "ImagePullBackOff" else []
    state = r.overall(isvc(), failing, pods)
    assert state.failed
    assert state.reason == reason


# -- summarize -----------------------------------------------------------------------------------------------------


def test_summarize_ready_raw() -> None:
    obj = isvc(generation=4, observed=4)
    dep = deployment(spec_replicas=2, generation=7, observed=7)
    summary = r.summarize(obj, [dep])
    assert summary == {
        "name": NAME,
        "namespace": NS,
        "ready": True,
        "state": r.READY,
        "message": "Ready and rolled out",
        "url": "http://qwen-team-a.example.com",
        "in_cluster_endpoint": "http://qwen-predictor.team-a.svc.cluster.local",
        "generation": 4,
        "observed_generation": 4,
        "deployment_mode": "Standard",
        "conditions": obj["status"]["conditions"],
        "model_status": MODEL_LOADED,
        "deployments": [{"name": "qwen-predictor", "generation": 7, "observed_generation": 7, "replicas": 2,
                         "updated_replicas": 2, "ready_replicas": 2, "available_replicas": 2, "rolled_out": True}],
        "predictor_container": {"deployment": "qwen-predictor", "name": "", "image": "", "command": [], "args": [],
                                "env": []},
        "resource": obj,
    }


def test_summarize_progressing_without_annotation_or_address() -> None:
    """The deployment mode falls back to status.deploymentMode; the endpoint to the predictor Service's DNS name."""
    obj = isvc(mode="Knative", annotate=False, conditions=serverless_conditions(False), model_status=MODEL_PENDING)
    dep = deployment(REV1, progressing="ReplicaSetUpdated",
                     counts={"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1})
    summary = r.summarize(obj, [dep])
    assert summary["ready"] is False
    assert summary["state"] == r.PROGRESSING
    assert summary["message"] == "IngressReady is False: PredictorIngressNotCreated Ingress has not been created yet"
    assert summary["url"] == ""
    assert summary["in_cluster_endpoint"] == "http://qwen-predictor.team-a.svc.cluster.local"
    assert summary["deployment_mode"] == "Knative"
    assert summary["deployments"] == [{"name": REV1, "generation": 1, "observed_generation": 1, "replicas": 1,
                                       "updated_replicas": 1, "ready_replicas": 0, "available_replicas": 0,
                                       "rolled_out": False}]


def test_summarize_without_status() -> None:
    summary = r.summarize(isvc(status=False, annotate=False), [])
    assert (summary["ready"], summary["state"], summary["observed_generation"], summary["deployment_mode"]) == (
        False, r.PROGRESSING, None, "")
    assert summary["conditions"] == [] and summary["model_status"] == {} and summary["deployments"] == []
    assert summary["message"] == "waiting for KServe to report the Ready condition"


# -- the predictor container, as the Deployment holds it -------------------------------------------------------------


def with_template(dep: Dict[str, Any], args: List[str], revision: str = "") -> Dict[str, Any]:
    """``dep`` with a pod template as KServe writes it: kserve-container (Knative adds queue-proxy beside it)."""
    dep = copy.deepcopy(dep)
    predictor = {"name": "kserve-container", "image": "vllm/vllm-openai:v0.8.5", "command": ["python3", "-m", "vllm"],
                 "args": args, "env": [{"name": "HF_HOME", "value": "/tmp/hf"},
                                       {"name": "HF_TOKEN", "value": "hf_secret_value"},
                                       {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}
    containers = [{"name": "queue-proxy", "image": "knative/queue", "args": ["--q"]}, predictor] if revision else [predictor]
    dep["spec"]["template"] = {"metadata": {"labels": {r.REVISION_LABEL: revision} if revision else {}},
                               "spec": {"containers": containers}}
    if revision:
        dep["metadata"]["labels"][r.REVISION_LABEL] = revision
    return dep


def test_predictor_container_of_a_raw_deployment_without_env_values() -> None:
    dep = with_template(deployment(), ["--port=8080", "--port=8080"])
    summary = r.summarize(isvc(), [dep])
    assert summary["predictor_container"] == {
        "deployment": "qwen-predictor", "name": "kserve-container", "image": "vllm/vllm-openai:v0.8.5",
        "command": ["python3", "-m", "vllm"], "args": ["--port=8080", "--port=8080"],
        # plain values may be credentials: names only; references kept
        "env": [{"name": "HF_HOME"}, {"name": "HF_TOKEN"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    }
    assert "hf_secret_value" not in repr(summary["predictor_container"])


def test_predictor_container_is_the_latest_created_revisions() -> None:
    """Serverless: the revision KServe created last, not an older one still scaled up, and not queue-proxy."""
    obj = isvc(mode="Knative")
    obj["status"]["components"] = {"predictor": {"latestCreatedRevision": "qwen-predictor-00002"}}
    old = with_template(deployment(REV1), ["--old"], "qwen-predictor-00001")
    new = with_template(deployment(REV2), ["--new"], "qwen-predictor-00002")
    for order in ([old, new], [new, old]):
        container = r.summarize(obj, order)["predictor_container"]
        assert (container["deployment"], container["name"], container["args"]) == (REV2, "kserve-container", ["--new"])


def test_predictor_container_without_deployment_is_empty() -> None:
    assert r.summarize(isvc(), [])["predictor_container"] == {}
