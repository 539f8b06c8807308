# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Readiness predicates: pure functions of objects as dicts. The waiter only feeds them.

Each ``*_state`` returns a ``State``: ``ready``, ``progressing`` or ``failed``, with a one-line
message and, for a failure, its details. One predicate per kind; ``overall`` combines them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

READY = "ready"
PROGRESSING = "progressing"
FAILED = "failed"

FAILED_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")
FAILED_POD_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                      "CreateContainerConfigError", "CreateContainerError")


@dataclass
class State:
    phase: str
    message: str
    reason: str = ""
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.phase == READY

    @property
    def failed(self) -> bool:
        return self.phase == FAILED


def condition(obj: Dict[str, Any], kind: str) -> Optional[Dict[str, Any]]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def _name(obj: Dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def isvc_state(isvc: Dict[str, Any]) -> State:
    """Ready only when Ready is True for the generation we applied; failed when KServe says so for certain."""
    status = isvc.get("status") or {}
    generation = (isvc.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        # Whatever the status says (Ready or failed) is about an older spec.
        return State(PROGRESSING, "KServe has not yet observed generation {0} (status is for {1})".format(generation, observed),
                     "NotObserved")
    model_status = status.get("modelStatus") or {}
    transition = model_status.get("transitionStatus", "")
    target = (model_status.get("states") or {}).get("targetModelState", "")
    if transition in FAILED_TRANSITIONS or target == "FailedToLoad":
        failure = model_status.get("lastFailureInfo") or {}
        reason = failure.get("reason") or (transition if transition in FAILED_TRANSITIONS else target)
        message = "the model failed to load: {0}".format(failure.get("message") or reason)
        if failure.get("exitCode") is not None:
            message += " (exit code {0})".format(failure["exitCode"])
        details = {"transition_status": transition, "target_model_state": target, "last_failure_info": failure}
        return State(FAILED, message, reason, details)
    ready = condition(isvc, "Ready")
    if ready and ready.get("status") == "True":
        if generation is not None and observed is None:
            # A controller that does not report observedGeneration: trust Ready, rollouts are checked apart.
            return State(READY, "Ready (no observedGeneration reported)")
        return State(READY, "Ready")
    if ready is None:
        return State(PROGRESSING, "waiting for KServe to report the Ready condition", "NoReadyCondition")
    # Stopped is the one condition whose healthy value is False
    not_ready = [c for c in status.get("conditions") or []
                 if c.get("status") != "True" and c.get("type") not in ("Ready", "Stopped")]
    worst = not_ready[0] if not_ready else ready
    text = "{0} is {1}".format(worst.get("type"), worst.get("status"))
    if worst.get("reason") or worst.get("message"):
        text += ": " + " ".join(filter(None, (worst.get("reason"), worst.get("message"))))
    return State(PROGRESSING, text, worst.get("reason") or "NotReady")


def deployment_state(deployment: Dict[str, Any]) -> State:
    """As ``kubectl rollout status`` judges a Deployment, plus ProgressDeadlineExceeded as a failure."""
    name = _name(deployment)
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    if generation > status.get("observedGeneration", 0):
        return State(PROGRESSING, "deployment {0}: waiting for the spec update to be observed".format(name), "NotObserved")
    progressing = condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return State(FAILED, "deployment {0} exceeded its progress deadline: {1}".format(name, progressing.get("message", "")),
                     "ProgressDeadlineExceeded", {"deployment": name})
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    replicas = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < wanted:
        return State(PROGRESSING, "deployment {0}: {1} of {2} updated replicas".format(name, updated, wanted), "RollingOut")
    if replicas > updated:
        return State(PROGRESSING, "deployment {0}: {1} old replicas pending termination".format(name, replicas - updated), "RollingOut")
    if available < updated:
        return State(PROGRESSING, "deployment {0}: {1} of {2} updated replicas available".format(name, available, updated), "RollingOut")
    return State(READY, "deployment {0} rolled out".format(name))


def pod_state(pod: Dict[str, Any]) -> State:
    """Failed when a container is stuck in a state that does not heal by itself."""
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FAILED_POD_REASONS:
            terminated = (container.get("lastState") or {}).get("terminated") or {}
            details = {"pod": _name(pod), "container": container.get("name"), "restart_count": container.get("restartCount", 0)}
            message = "pod {0} container {1}: {2}".format(_name(pod), container.get("name"), waiting["reason"])
            if waiting.get("message"):
                message += " ({0})".format(waiting["message"])
            if terminated:
                details["last_exit_code"] = terminated.get("exitCode")
                details["last_exit_reason"] = terminated.get("reason")
                message += "; last exit code {0}".format(terminated.get("exitCode"))
            return State(FAILED, message, waiting["reason"], details)
    return State(READY, "pod {0} has no stuck container".format(_name(pod)))


def overall(isvc: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]], pods: List[Dict[str, Any]]) -> State:
    """The InferenceService is done when it is Ready for its generation and every predictor Deployment rolled out;
    it has failed when any of them has failed for certain."""
    if isvc is None:
        return State(FAILED, "the InferenceService does not exist (deleted while waiting?)", "NotFound")
    states = [isvc_state(isvc)] + [deployment_state(d) for d in deployments] + [pod_state(p) for p in pods]
    failures = [state for state in states if state.failed]
    if failures:
        # KServe's verdict first, then what the Deployments and Pods add (a crash loop explains a failed load).
        first = failures[0]
        details = dict(first.details)
        for other in failures[1:]:
            for key, value in other.details.items():
                details.setdefault(key, value)
        return State(FAILED, "; ".join(f.message for f in failures), first.reason, details)
    for state in states:
        if not state.ready:
            return state
    if not deployments and isvc_state(isvc).ready:
        # Serverless with scale-to-zero may have none yet; KServe's Ready is then the whole answer.
        return State(READY, "Ready (no predictor deployment)")
    return State(READY, "Ready and rolled out")


PREDICTOR_CONTAINER = "kserve-container"
REVISION_LABEL = "serving.knative.dev/revision"


def _current_deployment(isvc: Dict[str, Any], deployments: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The Deployment of the predictor's current spec: the latest created revision's (Serverless), else the one
    named ``<name>-predictor`` (RawDeployment), else the newest."""
    if not deployments:
        return None
    predictor = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    latest = predictor.get("latestCreatedRevision")
    name = "{0}-predictor".format((isvc.get("metadata") or {}).get("name", ""))
    for deployment in deployments:
        if latest and ((deployment.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL) == latest:
            return deployment
    for deployment in deployments:
        if _name(deployment) == name:
            return deployment
    return max(deployments, key=lambda d: ((d.get("metadata") or {}).get("creationTimestamp") or "", _name(d)))


def predictor_container(isvc: Dict[str, Any], deployments: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The predictor container KServe runs, as its Deployment's pod template holds it (the runtime's container
    merged with the InferenceService's); empty when there is no Deployment yet.

    Env values are left out, names and ``valueFrom`` references kept: a runtime may carry a credential as a plain
    value, and results must hold none.
    """
    deployment = _current_deployment(isvc, deployments)
    if deployment is None:
        return {}
    template = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = template.get("containers") or []
    container = next((c for c in containers if c.get("name") == PREDICTOR_CONTAINER), containers[0] if containers else {})
    env = []
    for item in container.get("env") or []:
        entry = {"name": item.get("name", "")}
        if item.get("valueFrom"):
            entry["valueFrom"] = item["valueFrom"]
        env.append(entry)
    return {
        "deployment": _name(deployment),
        "name": container.get("name", ""),
        "image": container.get("image", ""),
        "command": list(container.get("command") or []),
        "args": list(container.get("args") or []),
        "env": env,
    }


def summarize(isvc: Dict[str, Any], deployments: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What inference_service_info returns for one InferenceService."""
    metadata = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    name, namespace = metadata.get("name", ""), metadata.get("namespace", "")
    annotations = metadata.get("annotations") or {}
    state = overall(isvc, deployments, [])
    return {
        "name": name,
        "namespace": namespace,
        "ready": state.ready,
        "state": state.phase,
        "message": state.message,
        "url": status.get("url", ""),
        "in_cluster_endpoint": (status.get("address") or {}).get("url") or "http://{0}-predictor.{1}.svc.cluster.local".format(name, namespace),
        "generation": metadata.get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "deployment_mode": annotations.get("serving.kserve.io/deploymentMode") or status.get("deploymentMode", ""),
        "conditions": status.get("conditions") or [],
        "model_status": status.get("modelStatus") or {},
        "deployments": [
            {
                "name": _name(d),
                "generation": (d.get("metadata") or {}).get("generation"),
                "observed_generation": (d.get("status") or {}).get("observedGeneration"),
                "replicas": (d.get("spec") or {}).get("replicas", 1),
                "updated_replicas": (d.get("status") or {}).get("updatedReplicas", 0),
                "ready_replicas": (d.get("status") or {}).get("readyReplicas", 0),
                "available_replicas": (d.get("status") or {}).get("availableReplicas", 0),
                "rolled_out": deployment_state(d).ready,
            }
            for d in deployments
        ],
        "predictor_container": predictor_container(isvc, deployments),
        "resource": isvc,
    }
