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
from ansible_collections.aml.kserve.plugins.module_utils._errors import ValidationError

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
    ("ready-without-observedGeneration", isvc(observed=None), r.READY, "", "Ready"),
    ("not-ready-raw-first-rollout", isvc(conditions=raw_conditions(NOT_AVAILABLE), model_status=MODEL_PENDING),
     r.PROGRESSING, "MinimumReplicasUnavailable",
     "PredictorReady is False: MinimumReplicasUnavailable Deployment does not have minimum availability."),
    ("not-ready-serverless", isvc(mode="Knative", conditions=serverless_conditions(False), model_status=MODEL_PENDING),
     r.PROGRESSING, "PredictorIngressNotCreated",
     "IngressReady is False: PredictorIngressNotCreated Ingress has not been created yet"),
    ("ready-unknown-alone", isvc(conditions=[cond("Ready", "Unknown")], model_status={}), r.PROGRESSING, "NotReady",
     "Ready is Unknown"),
    # observedGeneration is the predictor Deployment's counter (PropagateRawStatus, kserve/kserve#6081): not read
    ("observed-behind-is-not-read", isvc(generation=2, observed=1), r.READY, "", "Ready"),
    ("observed-ahead-after-metadata-drift", isvc(generation=1, observed=3), r.READY, "", "Ready"),
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


TRUSTED = r.Rules(trust_observed_generation=True)


@pytest.mark.parametrize("obj, message, untrusted", [
    (isvc(generation=2, observed=1), "KServe has not yet observed generation 2 (status is for 1)", r.READY),
    (isvc(generation=3, observed=2, model_status=MODEL_FAILED), "KServe has not yet observed generation 3 (status is for 2)",
     r.FAILED),
], ids=["stale-ready", "stale-failure-is-not-a-verdict"])
def test_isvc_state_trusts_observed_generation_only_when_told(obj: Dict[str, Any], message: str, untrusted: str) -> None:
    """A KServe with PR #6096 writes its own generation: then a lower observedGeneration means an older spec. Without
    it the field is a child's counter and KServe's conditions are read as they stand (overall's baseline guards)."""
    state = r.isvc_state(obj, TRUSTED)
    assert (state.phase, state.reason, state.message) == (r.PROGRESSING, "NotObserved", message)
    assert r.isvc_state(obj).phase == untrusted


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


def test_deployment_progress_deadline_exceeded_is_a_stall_not_a_failure() -> None:
    """KServe's raw Deployments get the default 600 s deadline (deployment_reconciler.go setDefaultDeploymentSpec); a
    storage-initializer download can take longer and the Deployment then recovers by itself."""
    obj = deployment(progressing="ProgressDeadlineExceeded",
                     counts={"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1})
    state = r.deployment_state(obj)
    assert (state.phase, state.stalled, state.failed) == (r.PROGRESSING, True, False)
    assert state.reason == "ProgressDeadlineExceeded"
    assert state.message == ('deployment qwen-predictor passed its progress deadline (ReplicaSet '
                             '"qwen-predictor-6b8f9c7d5" has timed out progressing.); still waiting, a long model '
                             'download recovers by itself')
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
    ("deployment-done-observed-behind-not-read", isvc(generation=2, observed=1), [deployment()], [], r.READY,
     "Ready and rolled out"),
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
    ([deployment()], "ImagePullBackOff"),
], ids=["image-pull-pod"])
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
        "raw_deployment": True,
        "conditions": obj["status"]["conditions"],
        "model_status": MODEL_LOADED,
        "deployments": [{"name": "qwen-predictor", "generation": 7, "observed_generation": 7, "replicas": 2,
                         "updated_replicas": 2, "ready_replicas": 2, "available_replicas": 2, "rolled_out": True}],
        "predictor_container": {"deployment": "qwen-predictor", "name": "", "image": "", "command": [], "args": [],
                                "env": []},
        "baseline": {"exists": True, "generation": 4, "labels": {}, "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
                     "deployments": {"qwen-predictor": 7}, "latest_created_revision": "", "latest_ready_revision": ""},
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


# -- the baseline: reconciled means proven by the children ---------------------------------------------------------
# Shapes as KServe writes them: PropagateRawStatus copies deploymentList[0].Status.ObservedGeneration into the
# InferenceService's status.observedGeneration, and PredictorReady from the Deployment's conditions
# (pkg/apis/serving/v1beta1/inference_service_status.go, v0.15.2 and v0.20.0); buildObjectMeta copies the
# InferenceService's labels and annotations into the Deployment and its pod template
# (pkg/controller/v1beta1/inferenceservice/components/predictor.go), so a description change rolls the Deployment
# (kserve/kserve#3817) and its counter passes the InferenceService's generation (kserve/kserve#6081).

DESCRIPTION = "cpaas.io/description"


def with_annotations(obj: Dict[str, Any], **more: str) -> Dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["annotations"].update({k.replace("_", "/"): v for k, v in more.items()})
    return obj


def described(obj: Dict[str, Any], text: str) -> Dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["annotations"][DESCRIPTION] = text
    return obj


def baseline(obj: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]]) -> r.Baseline:
    record = r.baseline_of(obj, deployments)
    baseline_ = r.Baseline.from_record(record)
    assert baseline_ is not None
    return baseline_


# Before: generation 1 ready; the Deployment at generation 2 after an earlier description change (drift).
BEFORE = described(isvc(generation=1, observed=2), "v1")
BEFORE_DEPLOYMENT = deployment(generation=2, observed=2)
ROLLING = dict(spec_replicas=1, progressing="ReplicaSetUpdated",
               counts={"replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1})


def test_metadata_change_stale_ready_is_not_accepted_until_the_children_roll() -> None:
    """A description-only change: the generation stays 1, observedGeneration (2) is already past it, and KServe 0.15 and
    0.20 keep Ready True while the Deployment rolls (kserve/kserve#4626; #5703): every old signal says ready."""
    base = baseline(BEFORE, [BEFORE_DEPLOYMENT])
    after = described(BEFORE, "v2")
    state = r.overall(after, [BEFORE_DEPLOYMENT], [], base, elapsed=1.0)
    assert (state.phase, state.reason) == (r.PROGRESSING, "NotPushed")
    assert state.message == ("waiting for KServe to apply the metadata change to the predictor (its workloads are as "
                             "before the apply; at most 20 s)")
    # KServe patched the Deployment (generation 3), which rolls; the status still says Ready with observedGeneration 2
    rolling = deployment(generation=3, observed=3, **ROLLING)
    state = r.overall(after, [rolling], [], base, elapsed=2.0)
    assert (state.phase, state.reason, state.message) == (
        r.PROGRESSING, "RollingOut", "deployment qwen-predictor: 1 old replicas pending termination")
    state = r.overall(after, [deployment(generation=3, observed=3)], [], base, elapsed=3.0)
    assert (state.phase, state.message) == (r.READY, "Ready and rolled out")


def test_dropping_an_annotation_kserve_never_copies_is_no_change_to_wait_for() -> None:
    """The takeover of a pipeline-made service drops kubectl's last-applied annotation: KServe never copies it to the
    predictor (ServiceAnnotationDisallowedList), so nothing rolls and the wait must not sit out the settle window."""
    before = with_annotations(BEFORE, **{"kubectl.kubernetes.io/last-applied-configuration": "{}"})
    base = baseline(before, [BEFORE_DEPLOYMENT])
    assert r.change_of(base, BEFORE) == r.UNCHANGED
    assert r.change_of(base, described(BEFORE, "v2")) == r.METADATA
    state = r.overall(copy.deepcopy(BEFORE), [BEFORE_DEPLOYMENT], [], base, elapsed=0.0)
    assert (state.phase, state.message) == (r.READY, "Ready and rolled out")


def test_no_change_rerun_in_the_drifted_state_is_ready_at_once() -> None:
    """observedGeneration 2 > generation 1: nothing was applied, the current state is the answer."""
    base = baseline(BEFORE, [BEFORE_DEPLOYMENT])
    assert r.change_of(base, BEFORE) == r.UNCHANGED
    state = r.overall(copy.deepcopy(BEFORE), [BEFORE_DEPLOYMENT], [], base, elapsed=0.0)
    assert (state.phase, state.message) == (r.READY, "Ready and rolled out")


def test_spec_change_kserve_does_not_push_ends_after_the_settle_window() -> None:
    """A spec change that leaves the Deployment as it was (maxReplicas under an HPA: checkDeploymentExist ignores
    Replicas, deployment_reconciler.go) keeps observedGeneration (the Deployment's, 1) below generation 2 forever."""
    before = isvc(generation=1, observed=1)
    base = baseline(before, [deployment()])
    after = isvc(generation=2, observed=1)
    rules = r.Rules(settle_seconds=5)
    assert r.overall(after, [deployment()], [], base, elapsed=4.9, rules=rules).reason == "NotPushed"
    state = r.overall(after, [deployment()], [], base, elapsed=5.0, rules=rules)
    assert (state.phase, state.message) == (
        r.READY, "Ready and rolled out (none: KServe changed no predictor workload within 5 s)")


def test_trusted_observed_generation_proves_the_change_was_seen() -> None:
    """With PR #6096 observedGeneration 2 = generation 2 says KServe saw the spec: no settle window needed."""
    base = baseline(isvc(generation=1, observed=1), [deployment()])
    state = r.overall(isvc(generation=2, observed=2), [deployment()], [], base, elapsed=0.0, rules=TRUSTED)
    assert state.ready
    behind = isvc(generation=2, observed=1)
    assert r.overall(behind, [deployment()], [], base, elapsed=0.0, rules=TRUSTED).reason == "NotPushed"
    # past the settle window, a trusted observedGeneration still behind keeps it waiting
    assert r.overall(behind, [deployment()], [], base, elapsed=60.0, rules=TRUSTED).reason == "NotObserved"


def test_old_failure_is_not_a_verdict_before_kserve_pushes_the_fix() -> None:
    """The previous spec failed to load; the fix is applied; until KServe touches the children the failure is old."""
    failed = isvc(generation=1, observed=1, conditions=raw_conditions(NOT_AVAILABLE), model_status=MODEL_FAILED)
    base = baseline(failed, [deployment()])
    after = isvc(generation=2, observed=1, conditions=raw_conditions(NOT_AVAILABLE), model_status=MODEL_FAILED)
    assert r.overall(after, [deployment()], [], base, elapsed=1.0).reason == "NotPushed"
    # once the Deployment moved, KServe's verdict counts again
    assert r.overall(after, [deployment(generation=2, observed=2)], [], base, elapsed=1.0).failed


def test_knative_change_is_proven_by_a_new_revision() -> None:
    """PropagateStatus copies latestCreatedRevision/latestReadyRevision from the Knative Service into
    status.components.predictor; Ready stays True on the old revision while the new one starts."""
    def knative(generation: int, created: str, ready: str) -> Dict[str, Any]:
        obj = isvc(generation=generation, observed=generation, mode="Knative", conditions=serverless_conditions(True))
        obj["status"]["components"] = {"predictor": {"latestCreatedRevision": created, "latestReadyRevision": ready}}
        return obj
    rev1 = "qwen-predictor-00001"
    base = baseline(knative(1, rev1, rev1), [deployment(REV1)])
    assert base.latest_created_revision == rev1
    assert r.overall(knative(2, rev1, rev1), [deployment(REV1)], [], base, elapsed=1.0).reason == "NotPushed"
    state = r.overall(knative(2, "qwen-predictor-00002", rev1), [deployment(REV1), deployment(REV2)], [], base, elapsed=1.0)
    assert (state.phase, state.reason) == (r.PROGRESSING, "RevisionNotReady")
    state = r.overall(knative(2, "qwen-predictor-00002", "qwen-predictor-00002"),
                      [deployment(REV1, spec_replicas=0, counts={}), deployment(REV2)], [], base, elapsed=1.0)
    assert state.ready


def test_created_and_unknown_changes() -> None:
    assert r.change_of(r.Baseline.from_record({"exists": False}), isvc()) == r.CREATED
    assert r.change_of(None, isvc()) == r.UNKNOWN
    assert r.Baseline.from_record(None) is None
    assert r.overall(isvc(), [deployment()], [], r.Baseline.from_record({"exists": False})).ready


def test_kserve_016_predictor_unknown_while_the_deployment_progresses() -> None:
    """0.16-0.19 (PR #4667): Progressing True with another reason than NewReplicaSetAvailable makes PredictorReady
    Unknown, so Ready is Unknown until the rollout completes."""
    rs = 'ReplicaSet "qwen-predictor-6b8f9c7d5" is progressing.'
    obj = isvc(conditions=raw_conditions(("Unknown", "ReplicaSetUpdated", rs)))
    state = r.overall(obj, [deployment(**ROLLING)], [], None)
    assert (state.phase, state.message) == (r.PROGRESSING, "PredictorReady is Unknown: ReplicaSetUpdated " + rs)


# -- failure classes -----------------------------------------------------------------------------------------------

PSA_MESSAGE = ('pods "qwen-predictor-6b8f9c7d5-" is forbidden: violates PodSecurity "baseline:latest": host namespaces '
               '(hostIPC=true)')


def replica_failure(message: str = PSA_MESSAGE) -> Dict[str, Any]:
    """As the Deployment controller writes it when its ReplicaSet cannot create pods (ReplicaFailure/FailedCreate)."""
    obj = deployment(progressing="ReplicaSetUpdated", counts={"unavailableReplicas": 1})
    obj["status"]["conditions"].append({"type": "ReplicaFailure", "status": "True", "lastUpdateTime": T0,
                                        "lastTransitionTime": T0, "reason": "FailedCreate", "message": message})
    return obj


def test_failed_create_by_pod_security_fails_with_the_fix() -> None:
    state = r.deployment_state(replica_failure())
    assert state.failed and state.reason == "FailedCreate"
    assert state.message == (
        "deployment qwen-predictor cannot create its pods (FailedCreate): {0}; namespace team-a enforces Pod Security "
        "level baseline, which forbids hostIPC. Fix: kubectl label namespace team-a "
        "pod-security.kubernetes.io/enforce=privileged --overwrite (or set isvc_manage_pod_security: true)".format(PSA_MESSAGE))
    assert state.details == {"deployment": "qwen-predictor", "replica_failure": PSA_MESSAGE, "pod_security_level": "baseline"}
    # KServe 0.16+ also sets PredictorReady False from ReplicaFailure; the Deployment's condition alone suffices (0.15)
    assert r.overall(isvc(conditions=raw_conditions(NOT_AVAILABLE)), [replica_failure()], [], None).reason == "FailedCreate"


def test_failed_create_by_quota_has_no_pod_security_fix() -> None:
    quota = 'pods "qwen-predictor-6b8f9c7d5-x" is forbidden: exceeded quota: gpu, requested: nvidia.com/gpualloc=1'
    state = r.deployment_state(replica_failure(quota))
    assert state.failed and "kubectl label" not in state.message and quota in state.message


@pytest.mark.parametrize("message, hint", [
    ("0/3 nodes are available: 3 Insufficient nvidia.com/gpualloc.",
     " (nvidia.com/gpualloc is asked for by the role variable isvc_nvidia_gpualloc)"),
    ("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", " (nvidia.com/gpu is asked for by the role variable isvc_nvidia_gpu)"),
    ("0/1 nodes are available: 1 node(s) had untolerated taint {node-role: infra}.", ""),
], ids=["hami", "device-plugin", "taint"])
def test_unschedulable_pod_is_a_stall_with_the_schedulers_reason(message: str, hint: str) -> None:
    obj = pod([container_status()], phase="Pending")
    obj["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "lastTransitionTime": T0,
                                    "reason": "Unschedulable", "message": message}]
    state = r.pod_state(obj)
    assert (state.phase, state.reason, state.stalled) == (r.PROGRESSING, "Unschedulable", True)
    assert state.message == "pod qwen-predictor-6b8f9c7d5-x2k9p cannot be scheduled: " + message + hint
    # overall reports the stall rather than the Deployment's plain "0 of 1 available"
    assert r.overall(isvc(conditions=raw_conditions(NOT_AVAILABLE)),
                     [deployment(counts={"replicas": 1, "updatedReplicas": 1})], [obj], None).message == state.message


def test_stopped_is_reported_at_once() -> None:
    """serving.kserve.io/stop: KServe clears the status, sets PredictorReady False/Stopped and Stopped True
    (components/predictor.go, controller.go)."""
    obj = with_annotations(isvc(conditions=sorted([cond("PredictorReady", "False", "Stopped"), cond("Ready", "False", "Stopped"),
                                                   cond("Stopped", "True")], key=lambda c: c["type"])), serving_kserve_io_stop="true")
    obj["metadata"]["annotations"]["serving.kserve.io/stop"] = "true"
    state = r.overall(obj, [], [], None)
    assert (state.phase, state.message) == (r.STOPPED, 'stopped (serving.kserve.io/stop is "true")')
    fresh = with_annotations(isvc(), serving_kserve_io_stop="true")
    fresh["metadata"]["annotations"]["serving.kserve.io/stop"] = "true"
    assert r.overall(fresh, [deployment()], [], None).message == (
        'stopped (serving.kserve.io/stop is "true"); KServe has not yet confirmed it with Stopped=True')


@pytest.mark.parametrize("annotation, status, expected", [
    ("RawDeployment", None, "raw"), ("Standard", None, "raw"), ("Serverless", None, "serverless"),
    ("Knative", None, "serverless"), (None, "Standard", "raw"), (None, "RawDeployment", "raw"),
    (None, "Knative", "serverless"), (None, None, "serverless"), ("ModelMesh", None, "modelmesh"),
])
def test_mode_in_both_vocabularies(annotation: Optional[str], status: Optional[str], expected: str) -> None:
    obj = isvc(annotate=annotation is not None, mode=annotation or "Knative")
    if status is None:
        obj["status"].pop("deploymentMode", None)
    else:
        obj["status"]["deploymentMode"] = status
    assert r.mode_of(obj) == expected


# -- ready_when / fail_when ----------------------------------------------------------------------------------------


def test_ready_when_must_also_hold() -> None:
    rules = r.Rules(ready_when=r.compile_expression("deployments[0].status.readyReplicas >= `1`", "ready_when"))
    assert r.overall(isvc(), [deployment()], [], None, rules=rules).ready
    never = r.Rules(ready_when=r.compile_expression("isvc.metadata.annotations.\"example.com/warm\" == 'yes'", "ready_when"))
    state = r.overall(isvc(), [deployment()], [], None, rules=never)
    assert (state.phase, state.reason) == (r.PROGRESSING, "ReadyWhen")
    assert state.message == 'Ready, but ready_when does not hold yet: isvc.metadata.annotations."example.com/warm" == \'yes\''


def test_fail_when_fails_at_once() -> None:
    rules = r.Rules(fail_when=r.compile_expression("isvc.status.modelStatus.copies.totalCopies > `0`", "isvc_fail_when"))
    state = r.overall(isvc(), [deployment()], [], None, rules=rules)
    assert (state.phase, state.reason) == (r.FAILED, "FailWhen")
    assert state.message == "isvc_fail_when holds: isvc.status.modelStatus.copies.totalCopies > `0`"


@pytest.mark.parametrize("source", ["isvc.[", "deployments[?", "`not json"])
def test_malformed_expression_names_the_option(source: str) -> None:
    with pytest.raises(ValidationError) as raised:
        r.compile_expression(source, "isvc_ready_when")
    assert raised.value.problems[0].startswith("isvc_ready_when is not a valid JMESPath expression ({0!r}): ".format(source))


def test_empty_expression_is_none() -> None:
    assert r.compile_expression("", "ready_when") is None and r.compile_expression(None, "ready_when") is None


def test_signals_carry_every_signal() -> None:
    base = baseline(BEFORE, [BEFORE_DEPLOYMENT])
    found = r.signals(described(BEFORE, "v2"), [BEFORE_DEPLOYMENT], [pod([container_status()])], base)
    assert found["change"] == r.METADATA and found["pushed"] == ""
    assert (found["generation"], found["observed_generation"]) == (1, 2)
    assert found["conditions"]["Ready"] == "True"
    assert found["deployments"][0]["name"] == "qwen-predictor" and found["deployments"][0]["generation"] == 2
    assert found["deployments"][0]["conditions"]["Progressing"].startswith("True NewReplicaSetAvailable")
    assert found["pods"] == [{"name": "qwen-predictor-6b8f9c7d5-x2k9p", "phase": "Running",
                              "state": "pod qwen-predictor-6b8f9c7d5-x2k9p has no stuck container"}]
