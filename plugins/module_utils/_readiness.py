# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Readiness predicates: pure functions of objects as dicts. The waiter only feeds them.

Each ``*_state`` returns a ``State``: ``ready``, ``progressing``, ``stopped`` or ``failed``, with a one-line message
and, for a failure, its details. One predicate per kind; ``overall`` combines them with the ``Baseline`` (what the
predictor's children were before the apply) and the ``Rules`` of the wait.

KServe's ``status.observedGeneration`` is NOT the InferenceService's generation: ``PropagateRawStatus`` and
``PropagateStatus`` (pkg/apis/serving/v1beta1/inference_service_status.go, every release 0.14-0.20) copy the predictor
Deployment's or Knative Service's own counter (kserve/kserve#6081; the fix, PR #6096, is not released). So that a
change was reconciled is proven by the children: a Deployment whose generation moved past the baseline's (raw), or a
new ``latestCreatedRevision`` (Knative). ``observedGeneration`` is read only when ``Rules.trust_observed_generation``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.aml.kserve.plugins.module_utils._errors import ValidationError

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
    HAS_JMESPATH = True
except ImportError:  # reported as an input problem when an expression is given
    HAS_JMESPATH = False

READY = "ready"
PROGRESSING = "progressing"
FAILED = "failed"
STOPPED = "stopped"

# What the apply did, as the baseline and the object after it tell (see change_of)
CREATED, SPEC, METADATA, UNCHANGED, UNKNOWN = "created", "spec", "metadata", "unchanged", "unknown"

FAILED_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")
FAILED_POD_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                      "CreateContainerConfigError", "CreateContainerError")
RAW_MODES = ("RawDeployment", "Standard")          # Standard is KServe 0.16+'s name
SERVERLESS_MODES = ("Serverless", "Knative")       # Knative likewise
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
STOP_ANNOTATION = "serving.kserve.io/stop"         # KServe 0.15+: pkg/constants StopAnnotationKey
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
# Extended resources the role asks for, by the role variable that sets them (HAMi and the NVIDIA device plugin)
RESOURCE_VARIABLES = (("nvidia.com/gpualloc", "isvc_nvidia_gpualloc"), ("nvidia.com/gpucores", "isvc_nvidia_gpucores"),
                      ("nvidia.com/gpumem", "isvc_nvidia_gpumem"), ("nvidia.com/gpu", "isvc_nvidia_gpu"))
_PSA_LEVEL = re.compile(r'violates PodSecurity "([a-z]+)(?::[^"]*)?"')


@dataclass
class State:
    phase: str
    message: str
    reason: str = ""
    details: Dict[str, Any] = field(default_factory=dict)
    stalled: bool = False  # progressing, but stuck until something outside changes (deadline, scheduling)

    @property
    def ready(self) -> bool:
        return self.phase == READY

    @property
    def failed(self) -> bool:
        return self.phase == FAILED

    @property
    def final(self) -> bool:
        return self.phase in (READY, FAILED, STOPPED)


@dataclass
class Expression:
    """A compiled JMESPath expression with the option (or role variable) it came from."""

    source: str
    option: str
    compiled: Any

    def holds(self, document: Dict[str, Any]) -> bool:
        result = self.compiled.search(document)
        # JMESPath's truth: false, null and empty strings, lists and objects are false; numbers are true
        return not (result is None or result is False or result in ("", [], {}))


@dataclass
class Rules:
    """How a wait judges; the defaults fit every KServe release 0.14-0.20."""

    settle_seconds: float = 20.0           # how long a change may go without KServe touching the children
    trust_observed_generation: bool = False  # True only for a KServe with PR #6096 (observedGeneration = own generation)
    ready_when: Optional[Expression] = None
    fail_when: Optional[Expression] = None


@dataclass
class Baseline:
    """What the predictor's children were before the apply (``baseline_of`` on the read before it)."""

    exists: bool = False
    generation: Optional[int] = None
    labels: Dict[str, Any] = field(default_factory=dict)
    annotations: Dict[str, Any] = field(default_factory=dict)
    deployments: Dict[str, int] = field(default_factory=dict)  # name -> metadata.generation
    latest_created_revision: str = ""
    latest_ready_revision: str = ""

    @classmethod
    def from_record(cls, record: Optional[Dict[str, Any]]) -> Optional["Baseline"]:
        """The record ``baseline_of`` returned (passed through Ansible as plain data); None when none was given."""
        if record is None:
            return None
        deployments = record.get("deployments") or {}
        return cls(exists=bool(record.get("exists")), generation=record.get("generation"),
                   labels=dict(record.get("labels") or {}), annotations=dict(record.get("annotations") or {}),
                   deployments={str(k): int(v or 0) for k, v in deployments.items()},
                   latest_created_revision=str(record.get("latest_created_revision") or ""),
                   latest_ready_revision=str(record.get("latest_ready_revision") or ""))


def compile_expression(source: Optional[str], option: str) -> Optional[Expression]:
    """``source`` compiled, None when empty; a malformed expression is an input error naming ``option``."""
    if source is None or not str(source).strip():
        return None
    if not HAS_JMESPATH:
        raise ValidationError(["{0} needs the jmespath Python library on the controller: pip install jmespath".format(option)])
    try:
        return Expression(str(source), option, jmespath.compile(str(source)))
    except JMESPathError as error:
        raise ValidationError(["{0} is not a valid JMESPath expression ({1!r}): {2}".format(
            option, str(source), " ".join(str(error).split()))])


def condition(obj: Dict[str, Any], kind: str) -> Optional[Dict[str, Any]]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def _name(obj: Dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def _metadata(obj: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return (obj or {}).get("metadata") or {}


def _predictor_status(isvc: Dict[str, Any]) -> Dict[str, Any]:
    return ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}


def mode_of(isvc: Dict[str, Any]) -> str:
    """``raw``, ``serverless`` or ``modelmesh``: the annotation in either vocabulary (RawDeployment/Standard,
    Serverless/Knative; renamed in 0.16, rewritten by the webhook from 0.17), else ``status.deploymentMode``, else
    KServe's default, Serverless."""
    wanted = (_metadata(isvc).get("annotations") or {}).get(MODE_ANNOTATION) or (isvc.get("status") or {}).get(
        "deploymentMode") or "Serverless"
    if wanted in RAW_MODES:
        return "raw"
    if wanted == "ModelMesh":
        return "modelmesh"
    return "serverless"


def is_stopped(isvc: Dict[str, Any]) -> bool:
    """``serving.kserve.io/stop: "true"`` (KServe 0.15+ deletes the predictor's workloads and sets Stopped=True)."""
    return str((_metadata(isvc).get("annotations") or {}).get(STOP_ANNOTATION, "")).lower() == "true"


def baseline_of(isvc: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The record of what exists now, to pass to the wait after the apply (plain data: it travels through Ansible)."""
    if isvc is None:
        return {"exists": False}
    meta, predictor = _metadata(isvc), _predictor_status(isvc)
    return {
        "exists": True,
        "generation": meta.get("generation"),
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
        "deployments": {_name(d): int(_metadata(d).get("generation") or 0) for d in deployments},
        "latest_created_revision": predictor.get("latestCreatedRevision") or "",
        "latest_ready_revision": predictor.get("latestReadyRevision") or "",
    }


# Annotations KServe never copies to the predictor (ServiceAnnotationDisallowedList in pkg/constants): a change of
# them alone rolls nothing, so it is no metadata change to wait for (the takeover drops kubectl's last-applied one).
NOT_PROPAGATED_ANNOTATIONS = frozenset(("autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale",
                                        "internal.serving.kserve.io/storage-initializer-sourceuri",
                                        "kubectl.kubernetes.io/last-applied-configuration"))


def _propagated(annotations: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in annotations.items() if k not in NOT_PROPAGATED_ANNOTATIONS}


def change_of(baseline: Optional[Baseline], isvc: Dict[str, Any]) -> str:
    """What the apply changed: the spec (the generation moved), only labels or annotations (KServe copies them into
    the pod template, kserve/kserve#3817, so they roll the predictor too), nothing, or the service is new."""
    if baseline is None:
        return UNKNOWN
    if not baseline.exists:
        return CREATED
    meta = _metadata(isvc)
    if meta.get("generation") != baseline.generation:
        return SPEC
    if (dict(meta.get("labels") or {}) != baseline.labels
            or _propagated(meta.get("annotations") or {}) != _propagated(baseline.annotations)):
        return METADATA
    return UNCHANGED


def pushed(baseline: Baseline, isvc: Dict[str, Any], deployments: List[Dict[str, Any]]) -> str:
    """How KServe shows it pushed the change to the predictor's children, or "" while it has not."""
    if mode_of(isvc) == "serverless":
        created = _predictor_status(isvc).get("latestCreatedRevision") or ""
        if created and created != baseline.latest_created_revision:
            return "Knative created revision {0}".format(created)
    for deployment in deployments:
        name, generation = _name(deployment), int(_metadata(deployment).get("generation") or 0)
        if name not in baseline.deployments:
            return "deployment {0} was created".format(name)
        if generation > baseline.deployments[name]:
            return "deployment {0} went from generation {1} to {2}".format(name, baseline.deployments[name], generation)
    return ""


def isvc_state(isvc: Dict[str, Any], rules: Optional[Rules] = None) -> State:
    """KServe's own verdict: Ready, a failed load, Stopped; ``observedGeneration`` only when it is trusted."""
    rules = rules or Rules()
    status = isvc.get("status") or {}
    generation = _metadata(isvc).get("generation")
    observed = status.get("observedGeneration")
    if rules.trust_observed_generation and generation is not None and observed is not None and observed < generation:
        # A KServe with PR #6096: whatever the status says (Ready or failed) is about an older spec.
        return State(PROGRESSING, "KServe has not yet observed generation {0} (status is for {1})".format(generation, observed),
                     "NotObserved")
    if is_stopped(isvc):
        stopped = condition(isvc, "Stopped")
        confirmed = bool(stopped and stopped.get("status") == "True")
        return State(STOPPED, "stopped (serving.kserve.io/stop is \"true\"){0}".format(
            "" if confirmed else "; KServe has not yet confirmed it with Stopped=True"), "Stopped")
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


def _pod_security_fix(namespace: str, message: str) -> Optional[str]:
    """The fix for pods refused by Pod Security admission, when that is what ``message`` says."""
    found = _PSA_LEVEL.search(message)
    if not found:
        return None
    level = found.group(1)
    what = "hostIPC" if "hostIPC" in message else "the pod spec"
    text = ("namespace {0} enforces Pod Security level {1}, which forbids {2}. Fix: kubectl label namespace {0} "
            "{3}=privileged --overwrite (or set isvc_manage_pod_security: true)")
    return text.format(namespace, level, what, POD_SECURITY_LABEL)


def deployment_state(deployment: Dict[str, Any]) -> State:
    """As ``kubectl rollout status`` judges a Deployment, with ReplicaFailure (pods that cannot be created: Pod
    Security, quota, admission webhooks) as a failure and ProgressDeadlineExceeded as a stall, not a failure: KServe
    gives raw Deployments the default 600 s deadline (reconcilers/deployment/deployment_reconciler.go,
    setDefaultDeploymentSpec) and a long model download passes it and then recovers by itself."""
    name = _name(deployment)
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = _metadata(deployment).get("generation", 0)
    if generation > status.get("observedGeneration", 0):
        return State(PROGRESSING, "deployment {0}: waiting for the spec update to be observed".format(name), "NotObserved")
    failure = condition(deployment, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        text = failure.get("message") or ""
        namespace = _metadata(deployment).get("namespace", "")
        fix = _pod_security_fix(namespace, text)
        message = "deployment {0} cannot create its pods ({1}): {2}".format(name, failure.get("reason") or "FailedCreate", text)
        if fix:
            message += "; " + fix
        details = {"deployment": name, "replica_failure": text}
        if fix:
            details["pod_security_level"] = _PSA_LEVEL.search(text).group(1)  # type: ignore[union-attr]
        return State(FAILED, message, failure.get("reason") or "FailedCreate", details)
    progressing = condition(deployment, "Progressing")
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    replicas = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return State(PROGRESSING, "deployment {0} passed its progress deadline ({1}); still waiting, a long model "
                     "download recovers by itself".format(name, progressing.get("message", "")),
                     "ProgressDeadlineExceeded", {"deployment": name}, stalled=True)
    if updated < wanted:
        return State(PROGRESSING, "deployment {0}: {1} of {2} updated replicas".format(name, updated, wanted), "RollingOut")
    if replicas > updated:
        return State(PROGRESSING, "deployment {0}: {1} old replicas pending termination".format(name, replicas - updated), "RollingOut")
    if available < updated:
        return State(PROGRESSING, "deployment {0}: {1} of {2} updated replicas available".format(name, available, updated), "RollingOut")
    return State(READY, "deployment {0} rolled out".format(name))


def _resource_hint(message: str) -> str:
    for resource, variable in RESOURCE_VARIABLES:
        if re.search(re.escape(resource) + r"(?![a-z])", message):
            return " ({0} is asked for by the role variable {1})".format(resource, variable)
    return ""


def pod_state(pod: Dict[str, Any]) -> State:
    """Failed when a container is stuck in a state that does not heal by itself; stalled when unschedulable."""
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
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        text = scheduled.get("message") or ""
        return State(PROGRESSING, "pod {0} cannot be scheduled: {1}{2}".format(_name(pod), text, _resource_hint(text)),
                     "Unschedulable", {"pod": _name(pod), "scheduler_message": text}, stalled=True)
    return State(READY, "pod {0} has no stuck container".format(_name(pod)))


def document(isvc: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What ``ready_when`` and ``fail_when`` are evaluated on."""
    return {"isvc": isvc or {}, "deployments": list(deployments)}


def overall(isvc: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]], pods: List[Dict[str, Any]],
            baseline: Optional[Baseline] = None, elapsed: float = 0.0, rules: Optional[Rules] = None) -> State:
    """Done when KServe is Ready for the applied change, proven by the children, and every predictor Deployment rolled
    out; failed when any part failed for certain; ``elapsed`` is the time since the wait began (the settle window)."""
    rules = rules or Rules()
    if isvc is None:
        return State(FAILED, "the InferenceService does not exist (deleted while waiting?)", "NotFound")
    kserve = isvc_state(isvc, rules)
    if kserve.phase == STOPPED:
        return kserve
    if rules.fail_when is not None and rules.fail_when.holds(document(isvc, deployments)):
        return State(FAILED, "{0} holds: {1}".format(rules.fail_when.option, rules.fail_when.source), "FailWhen",
                     {"fail_when": rules.fail_when.source})
    change = change_of(baseline, isvc)
    proof = ""
    if change in (SPEC, METADATA) and baseline is not None:
        proof = pushed(baseline, isvc, deployments)
        observed = (isvc.get("status") or {}).get("observedGeneration")
        honest = rules.trust_observed_generation and observed is not None and observed >= (
            _metadata(isvc).get("generation") or 0)
        if not proof and not honest:
            if elapsed < rules.settle_seconds:
                # Until KServe touches the children, everything they and the status say is about the old spec.
                return State(PROGRESSING, "waiting for KServe to apply the {0} change to the predictor (its workloads "
                             "are as before the apply; at most {1:g} s)".format(change, rules.settle_seconds), "NotPushed")
            proof = "none: KServe changed no predictor workload within {0:g} s".format(rules.settle_seconds)
    states = [kserve] + [deployment_state(d) for d in deployments] + [pod_state(p) for p in pods]
    failures = [state for state in states if state.failed]
    if failures:
        # KServe's verdict first, then what the Deployments and Pods add (a crash loop explains a failed load).
        first = failures[0]
        details = dict(first.details)
        for other in failures[1:]:
            for key, value in other.details.items():
                details.setdefault(key, value)
        return State(FAILED, "; ".join(f.message for f in failures), first.reason, details)
    waiting = [state for state in states if not state.ready]
    if waiting:
        stalled = next((s for s in waiting if s.stalled), None)
        return stalled or waiting[0]
    if mode_of(isvc) == "serverless" and change in (SPEC, METADATA) and not proof.startswith("none"):
        predictor = _predictor_status(isvc)
        if predictor.get("latestReadyRevision") != predictor.get("latestCreatedRevision"):
            return State(PROGRESSING, "revision {0} is not ready yet (latest ready: {1})".format(
                predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision") or "none"), "RevisionNotReady")
    if rules.ready_when is not None and not rules.ready_when.holds(document(isvc, deployments)):
        text = "Ready, but {0} does not hold yet: {1}".format(rules.ready_when.option, rules.ready_when.source)
        return State(PROGRESSING, text, "ReadyWhen")
    if not deployments:
        # Serverless with scale-to-zero may have none yet; KServe's Ready is then the whole answer.
        return State(READY, "Ready (no predictor deployment)")
    if proof.startswith("none"):
        return State(READY, "Ready and rolled out ({0})".format(proof))
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


def signals(isvc: Optional[Dict[str, Any]], deployments: List[Dict[str, Any]], pods: List[Dict[str, Any]],
            baseline: Optional[Baseline] = None) -> Dict[str, Any]:
    """The last state of every signal the wait reads, for a failure at the timeout."""
    if isvc is None:
        return {"inference_service": None}
    status = isvc.get("status") or {}
    return {
        "change": change_of(baseline, isvc),
        "pushed": pushed(baseline, isvc, deployments) if baseline is not None and baseline.exists else "",
        "generation": _metadata(isvc).get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "conditions": {c.get("type"): " ".join(filter(None, (c.get("status"), c.get("reason"), c.get("message"))))
                       for c in status.get("conditions") or []},
        "model_status": status.get("modelStatus") or {},
        "predictor": {k: v for k, v in _predictor_status(isvc).items() if k in ("latestCreatedRevision", "latestReadyRevision")},
        "deployments": [
            {"name": _name(d), "generation": _metadata(d).get("generation"),
             "observed_generation": (d.get("status") or {}).get("observedGeneration"),
             "state": deployment_state(d).message,
             "conditions": {c.get("type"): " ".join(filter(None, (c.get("status"), c.get("reason"), c.get("message"))))
                            for c in (d.get("status") or {}).get("conditions") or []}}
            for d in deployments
        ],
        "pods": [{"name": _name(p), "phase": (p.get("status") or {}).get("phase"), "state": pod_state(p).message}
                 for p in pods],
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
        "deployment_mode": annotations.get(MODE_ANNOTATION) or status.get("deploymentMode", ""),
        "raw_deployment": mode_of(isvc) == "raw",
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
        "baseline": baseline_of(isvc, deployments),
        "resource": isvc,
    }
