"""A stand-in for the KServe controller and the Deployment controller, for tests of waits.

Nothing reconciles InferenceServices against the test apiserver: this simulator watches them (one
watch across all namespaces, re-established on 410 Gone and connection errors) and writes, through
the status subresources, the statuses KServe v0.20 and the Deployment controller would write. It
creates the predictor Deployment(s) (and, for the ``crashloop`` scenario, a Pod and a Warning Event),
so that waits on an InferenceService, its Deployment and ``kubectl rollout status`` can be tested.

It reacts to changes of ``metadata.generation`` and of the InferenceService's labels and annotations (its own
status writes never retrigger it): KServe copies those into the predictor's pod template (``buildObjectMeta`` in
pkg/controller/v1beta1/inferenceservice/components/predictor.go), so a description change rolls the Deployment
(kserve/kserve#3817). A change that leaves the pod template and replicas as they were rolls nothing (KServe's
``checkDeploymentExist`` finds no diff, reconcilers/deployment/deployment_reconciler.go): the status is written
again as it was. Delayed steps go to timer queues, one per worker thread: an InferenceService's steps always go to
the same worker, in order, and different services' run side by side, as the controllers it stands for do (KServe's
and the Deployment controller's work queues: kube-controller-manager runs ``--concurrent-deployment-syncs``, 5 by
default). A new change invalidates the pending steps of the previous one.

Faithful to KServe, not to our assumptions (each cites the source it imitates):

- ``status.observedGeneration`` is the predictor Deployment's ``status.observedGeneration`` (raw) or the Knative
  Service's counter (``PropagateRawStatus`` / ``PropagateStatus`` in pkg/apis/serving/v1beta1/inference_service_status.go,
  kserve/kserve#6081), unless ``honest_observed_generation`` (PR #6096, unreleased).
- ``PredictorReady`` follows ``kserve_version`` (the annotation ``aml.kserve.test/kserve-version`` overrides it):
  ``0.15``, the Deployment's Available condition as it is (v0.15.2: Ready stays True while a raw Deployment rolls,
  kserve/kserve#4626); ``0.16`` (0.16-0.19, PR #4667): Unknown while Progressing, False on ProgressDeadlineExceeded
  or ReplicaFailure; ``0.20`` (default, PR #5703): like 0.16 but True while Available is True during a rollout.

Scenarios (annotation ``aml.kserve.test/scenario`` on the InferenceService, else label
``aml.kserve.test/scenario`` on its Namespace, else ``default_scenario``):

``ready``              roll out, then Ready after ``aml.kserve.test/ready-after`` seconds (default 0.5)
``never-ready``        roll out, pods never become ready
``fail-load``          roll out, then modelStatus BlockedByFailedLoad / FailedToLoad
``progress-deadline``  roll out, then the Deployment's Progressing condition is ProgressDeadlineExceeded
``crashloop``          roll out, then a Pod in CrashLoopBackOff and a Warning BackOff Event
``stale-ready``        like ``ready``; on later changes (spec or metadata) the old status stays untouched for
                       ``aml.kserve.test/stale-seconds`` (default 3) before the rollout starts
``deadline-then-ready`` roll out, ProgressDeadlineExceeded after ``ready-after``, then recovers and is Ready
                       ``aml.kserve.test/recover-after`` seconds later (default 1.5): a long model download
``failed-create``      the ReplicaSet cannot create pods: Deployment ReplicaFailure/FailedCreate with Pod
                       Security's hostIPC message (the namespace's enforce level, default baseline) and a
                       FailedCreate Warning Event on the ReplicaSet
``unschedulable``      a Pending Pod with PodScheduled=False/Unschedulable (Insufficient of the GPU resource the
                       container asks for) and a FailedScheduling Warning Event
``stopped``            as the annotation ``serving.kserve.io/stop: "true"`` (any scenario): the predictor's
                       Deployments deleted, the status cleared to PredictorReady/IngressReady False Stopped and
                       Stopped True (components/predictor.go, controller.go, ingress_reconciler.go, 0.15+)

Namespaces labelled ``aml.kserve.test/simulator=off`` are ignored.

``events`` logs what was written, as ``(time.monotonic(), namespace, name, what)`` with ``what`` one of:
``rollout-started`` (Deployment created/updated, InferenceService not ready), ``deployment-rolled-out``,
``ready``, ``never-ready``, ``failed-load``, ``progress-deadline``, ``crashloop``, ``stale-hold``,
``not-pushed`` (a change KServe pushes to no workload), ``failed-create``, ``unschedulable``, ``stopped``
(a new generation seen, old status kept), ``deleted`` (its Deployments and Pods removed), ``ignored``
(namespace switched off), ``unknown-scenario``, ``error`` and ``status-pruned`` (the apiserver stored
another status than the one written: a schema problem).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import heapq
import itertools
import json
import logging
import re
import secrets
import threading
import time
import zlib
from datetime import datetime, timezone
from typing import Any, Callable

import kubernetes.client
import kubernetes.watch
import urllib3.exceptions
import urllib3.util
from kubernetes.client.rest import ApiException

SCENARIO_ANNOTATION = "aml.kserve.test/scenario"
SCENARIO_LABEL = "aml.kserve.test/scenario"
DELAY_ANNOTATION = "aml.kserve.test/ready-after"
STALE_ANNOTATION = "aml.kserve.test/stale-seconds"
RECOVER_ANNOTATION = "aml.kserve.test/recover-after"
VERSION_ANNOTATION = "aml.kserve.test/kserve-version"
STOP_ANNOTATION = "serving.kserve.io/stop"  # pkg/constants StopAnnotationKey (0.15+)
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
KSERVE_VERSIONS = ("0.15", "0.16", "0.20")
# pkg/constants ServiceAnnotationDisallowedList: never copied into the pod template (a change of them rolls nothing)
ANNOTATIONS_NOT_PROPAGATED = frozenset({"autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale",
                                        "internal.serving.kserve.io/storage-initializer-sourceuri",
                                        "kubectl.kubernetes.io/last-applied-configuration"})
DEFAULT_RECOVER = 1.5
SIMULATOR_LABEL = "aml.kserve.test/simulator"
SIMULATED_ANNOTATION = "aml.kserve.test/simulated"

# What KServe's Hugging Face runtime reports when the model directory holds no model.
FAILED_LOAD_MESSAGE = (
    "Failed to load model: OSError: /mnt/models does not appear to have a file named config.json. "
    "Checkout 'https://huggingface.co//mnt/models/tree/None' for available files."
)
DEFAULT_DELAY = 0.5
DEFAULT_STALE_SECONDS = 3.0
SCENARIOS = frozenset({"ready", "never-ready", "fail-load", "progress-deadline", "crashloop", "stale-ready",
                       "deadline-then-ready", "failed-create", "unschedulable", "stopped"})

GROUP = "serving.kserve.io"
ISVC_VERSION = "v1beta1"
RUNTIME_VERSION = "v1alpha1"
ISVC_PLURAL = "inferenceservices"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_LABEL = "component"
REVISION_LABEL = "serving.knative.dev/revision"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
STORAGE_URI_ANNOTATION = "serving.kserve.io/storage-initializer-sourceuri"
CONTAINER = "kserve-container"
PLACEHOLDER_IMAGE = "kserve/placeholder:latest"
DOMAIN = "example.com"

RAW = "Standard"  # KServe v0.20's name for RawDeployment
SERVERLESS = "Knative"  # KServe v0.20's name for Serverless
RAW_MODES = frozenset({"RawDeployment", "Standard"})

JSON_PATCH = "application/json-patch+json"
USER_AGENT = "aml-kserve-simulator/1.0"
# Server-side watch timeout. Kept short: a 1.20 apiserver waits for open watches when it shuts down
# (KubeCluster.restart_apiserver), and our watch is always open.
WATCH_SECONDS = 5
REQUEST_TIMEOUT = (5, 30)
MAX_ATTEMPTS = 30
# Transient failures: connection refused/reset, TLS errors, timeouts (apiserver restarting).
TRANSIENT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_LOG = logging.getLogger(__name__)

Key = tuple[str, str]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _safe_encode(data: bytes, length: int) -> str:
    number = int.from_bytes(hashlib.sha256(data).digest(), "big")
    chars = []
    for _position in range(length):
        number, index = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[index])
    return "".join(chars)


def _random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SAFE_ALPHABET) for _position in range(length))


def _body(response: Any) -> dict[str, Any]:
    """The JSON body of a ``_preload_content=False`` response (read in full: the connection is reused)."""
    try:
        data = response.data
    finally:
        response.release_conn()
    return json.loads(data) if data else {}


@dataclasses.dataclass
class _Rollout:
    """What one generation of an InferenceService rolls out."""

    generation: int
    scenario: str
    mode: str
    deployment: str
    revision: str | None
    replicas: int
    delay: float
    template: dict[str, Any]
    rs_name: str
    runtime: str | None
    cluster_runtime: str | None
    first: bool = True  # no earlier pods of this Deployment serve traffic
    pushed: bool = True  # the pod template or replicas differ from the last rollout's: KServe updates its workload
    version: str = "0.20"
    stopped: bool = False
    # the predictor Deployment as the simulator last wrote it (the response of its last write), see _deployment_of
    written: dict[str, Any] | None = None


@dataclasses.dataclass
class _Tracked:
    uid: str
    obj: dict[str, Any]
    generation: int = 0
    epoch: int = 0
    revision: int = 0
    rollout: _Rollout | None = None
    rollout_epoch: int = -1
    ever_ready: bool = False
    ready_revision: str | None = None
    rolled_out_revision: str | None = None
    previous_rolled_out_revision: str | None = None
    active_model_state: str = ""
    conditions: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    done: set[str] = dataclasses.field(default_factory=set)  # what was logged for the current epoch
    crash_pod: dict[str, Any] | None = None
    meta_key: str = ""  # the labels and annotations last reconciled (KServe copies them into the pod template)
    workload_key: str | None = None  # what the last pushed rollout gave the workload (template and replicas)
    child_status: dict[str, Any] = dataclasses.field(default_factory=dict)  # the predictor Deployment's, as last written
    phase: str = "progressing"  # the last phase written to the status
    # the Namespace's labels as read for the current change: controllers read them from an informer's cache, not from
    # the apiserver at every step (read again only where Pod Security admission looks at them, _failed_create_message)
    namespace_labels: dict[str, str] = dataclasses.field(default_factory=dict)
    # whether simulated Pods may exist (crashloop, pending): unknown for an adopted object; none for a new one
    may_have_pods: bool = True


@dataclasses.dataclass
class _Queue:
    """One worker's timer queue."""

    heap: list["_Task"] = dataclasses.field(default_factory=list)
    cond: threading.Condition = dataclasses.field(default_factory=threading.Condition)


@dataclasses.dataclass(order=True)
class _Task:
    due: float
    seq: int
    fn: Callable[..., None] = dataclasses.field(compare=False)
    args: tuple[Any, ...] = dataclasses.field(compare=False, default=())
    attempt: int = dataclasses.field(compare=False, default=0)


class KServeSimulator:
    """Watches InferenceServices and writes what KServe and the Deployment controller would write."""

    def __init__(self, api_client: Any, *, default_scenario: str = "ready", namespace: str | None = None,
                 kserve_version: str = "0.20", honest_observed_generation: bool = False, workers: int = 4) -> None:
        """``namespace`` restricts the simulator to one namespace (default: all namespaces); ``kserve_version`` (0.15,
        0.16 for 0.16-0.19, 0.20) chooses how PredictorReady follows the Deployment; ``honest_observed_generation``
        writes the InferenceService's own generation as observedGeneration (a KServe with PR #6096); ``workers`` is the
        number of InferenceServices reconciled at the same time."""
        if kserve_version not in KSERVE_VERSIONS:
            raise ValueError(f"kserve_version must be one of {KSERVE_VERSIONS}")
        self.kserve_version = kserve_version
        self.honest_observed_generation = honest_observed_generation
        self.api_client = api_client
        # Own clients (same configuration), with their own User-Agent: the audit log tells our requests apart.
        self._client = _client_like(api_client)
        self.default_scenario = default_scenario
        self.namespace = namespace
        self.events: list[tuple[float, str, str, str]] = []
        self._event_generations: list[int | None] = []
        self._custom = kubernetes.client.CustomObjectsApi(self._client)
        self._apps = kubernetes.client.AppsV1Api(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)
        self._watch_client: Any = None
        self._watch: kubernetes.watch.Watch | None = None
        self._tracked: dict[Key, _Tracked] = {}
        self._queues = [_Queue() for _index in range(max(1, workers))]
        self._seq = itertools.count()
        self._events_cond = threading.Condition()
        self._stopping = threading.Event()
        self._watch_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._watch_started = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("KServeSimulator already started")
        self._stopping.clear()
        self._watch_client = _client_like(self.api_client)
        self._threads = [
            threading.Thread(target=self._watch_loop, name="kserve-sim-watch", daemon=True),
        ] + [threading.Thread(target=self._work_loop, args=(queue,), name=f"kserve-sim-worker-{index}", daemon=True)
             for index, queue in enumerate(self._queues)]
        for thread in self._threads:
            thread.start()
        # Objects created right after start() must not be missed: wait for the watch to be open.
        self._watch_started.wait(timeout=10)

    def stop(self) -> None:
        self._stopping.set()
        for queue in self._queues:
            with queue.cond:
                queue.cond.notify_all()
        deadline = time.monotonic() + 5
        for thread in self._threads:
            while thread.is_alive() and time.monotonic() < deadline:
                with self._watch_lock:
                    if self._watch is not None:
                        self._watch.stop()  # shuts the socket down: unblocks the read
                thread.join(timeout=0.05)
        self._threads = []
        for queue in self._queues:
            with queue.cond:
                queue.heap.clear()  # pending steps die with the simulator
        if self._watch_client is not None:
            self._watch_client.rest_client.pool_manager.clear()
            self._watch_client.close()
            self._watch_client = None
        self._client.rest_client.pool_manager.clear()
        self._watch_started.clear()

    def __enter__(self) -> "KServeSimulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- event log -------------------------------------------------------------------------

    def _log(self, namespace: str, name: str, what: str, generation: int | None = None) -> None:
        with self._events_cond:
            self.events.append((time.monotonic(), namespace, name, what))
            self._event_generations.append(generation)
            self._events_cond.notify_all()
        _LOG.debug("%s/%s: %s (generation %s)", namespace, name, what, generation)

    def _log_once(self, tracked: _Tracked, namespace: str, name: str, what: str, generation: int) -> None:
        """Log a step of the current generation once, even when a later write of the step is retried."""
        if what not in tracked.done:
            tracked.done.add(what)
            self._log(namespace, name, what, generation)

    def events_for(self, namespace: str, name: str) -> list[tuple[float, str, int | None]]:
        """(time, what, generation) of everything logged for one InferenceService."""
        with self._events_cond:
            return [
                (when, what, gen)
                for (when, ns, nm, what), gen in zip(self.events, self._event_generations)
                if ns == namespace and nm == name
            ]

    def wait_for(
        self,
        namespace: str,
        name: str,
        what: str,
        timeout: float = 10,
        *,
        since: float | None = None,
        generation: int | None = None,
    ) -> float:
        """Block until ``what`` was logged for namespace/name (optionally after ``since`` or for one
        ``generation``); return its ``time.monotonic()``. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._events_cond:
            while True:
                for (when, ns, nm, logged), gen in zip(self.events, self._event_generations):
                    if (ns, nm, logged) == (namespace, name, what) and (since is None or when >= since) and (
                        generation is None or gen == generation
                    ):
                        return when
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(w, g) for (_time, ns, nm, w), g in zip(self.events, self._event_generations)
                            if (ns, nm) == (namespace, name)]
                    raise TimeoutError(f"{namespace}/{name}: no {what!r} event within {timeout}s; logged: {seen}")
                self._events_cond.wait(remaining)

    # -- threads ---------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        custom = kubernetes.client.CustomObjectsApi(self._watch_client)
        resource_version: str | None = None
        backoff = 0.1
        while not self._stopping.is_set():
            watch = kubernetes.watch.Watch()
            with self._watch_lock:
                self._watch = watch
            kwargs: dict[str, Any] = {"timeout_seconds": WATCH_SECONDS, "allow_watch_bookmarks": True}
            if resource_version:
                kwargs["resource_version"] = resource_version
            if self.namespace:
                lister: Callable[..., Any] = custom.list_namespaced_custom_object
                args: tuple[Any, ...] = (GROUP, ISVC_VERSION, self.namespace, ISVC_PLURAL)
            else:
                lister = custom.list_cluster_custom_object
                args = (GROUP, ISVC_VERSION, ISVC_PLURAL)
            func = self._signal_open(lister)
            try:
                for event in watch.stream(func, *args, **kwargs):
                    self._watch_started.set()
                    if self._stopping.is_set():
                        break
                    raw = event.get("raw_object") or {}
                    resource_version = (raw.get("metadata") or {}).get("resourceVersion") or resource_version
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self._schedule(0, self._on_event, event["type"], raw)
                    backoff = 0.1
                # The server closed the watch (timeout_seconds): resume from the last version.
                resource_version = watch.resource_version or resource_version
            except ApiException as err:
                if err.status == 410:  # Gone: start over from the current state
                    resource_version = None
                    continue
                if self._stopping.is_set():
                    break
                _LOG.info("InferenceService watch failed (%s), retrying", err.status)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            except TRANSIENT_ERRORS as err:
                if self._stopping.is_set():
                    break
                _LOG.info("InferenceService watch interrupted (%s), reconnecting", type(err).__name__)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with self._watch_lock:
                    self._watch = None

    def _signal_open(self, lister: Callable[..., Any]) -> Callable[..., Any]:
        """``lister`` that also tells start() the watch is open (its response headers arrived)."""
        @functools.wraps(lister)
        def opened(*args: Any, **kwargs: Any) -> Any:
            response = lister(*args, **kwargs)
            self._watch_started.set()
            return response

        return opened

    def _work_loop(self, queue: _Queue) -> None:
        while True:
            with queue.cond:
                while not self._stopping.is_set():
                    if queue.heap and queue.heap[0].due <= time.monotonic():
                        break
                    timeout = queue.heap[0].due - time.monotonic() if queue.heap else None
                    queue.cond.wait(timeout)
                if self._stopping.is_set():
                    return
                task = heapq.heappop(queue.heap)
            self._run(task)

    def _schedule(self, delay: float, fn: Callable[..., None], *args: Any, attempt: int = 0) -> None:
        task = _Task(time.monotonic() + delay, next(self._seq), fn, args, attempt)
        queue = self._queues[zlib.crc32(repr(_task_key(args)).encode()) % len(self._queues)]
        with queue.cond:
            heapq.heappush(queue.heap, task)
            queue.cond.notify()

    def _run(self, task: _Task) -> None:
        try:
            task.fn(*task.args)
            return
        except ApiException as err:
            if err.status == 404:
                return  # the object (or its namespace) is gone
            if err.status not in RETRY_STATUSES:
                self._report_error(task, f"{err.status} {err.reason}: {(err.body or '')[:500]}")
                return
            problem = f"{err.status} {err.reason}"
        except TRANSIENT_ERRORS as err:
            problem = f"{type(err).__name__}: {err}"
        if self._stopping.is_set():
            return
        _LOG.info("kserve simulator: %s will be retried: %s", getattr(task.fn, "__name__", task.fn), problem)
        if task.attempt + 1 >= MAX_ATTEMPTS:
            self._report_error(task, f"giving up after {MAX_ATTEMPTS} attempts: {problem}")
            return
        self._schedule(min(0.1 * 2 ** task.attempt, 2.0), task.fn, *task.args, attempt=task.attempt + 1)

    def _report_error(self, task: _Task, message: str) -> None:
        key = next((a for a in task.args if isinstance(a, tuple) and len(a) == 2), None)
        if key is None and len(task.args) == 2 and isinstance(task.args[1], dict):
            meta = task.args[1].get("metadata") or {}
            key = (meta.get("namespace", ""), meta.get("name", ""))
        _LOG.warning("kserve simulator: %s failed for %s: %s", getattr(task.fn, "__name__", task.fn), key, message)
        if key is not None:
            self._log(key[0], key[1], "error")

    # -- reconciliation --------------------------------------------------------------------

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
        key = (namespace, name)
        tracked = self._tracked.get(key)
        if kind == "DELETED":
            if tracked is not None and tracked.uid == uid:
                del self._tracked[key]
            self._cleanup(namespace, name, uid)
            self._log(namespace, name, "deleted", meta.get("generation"))
            return
        if tracked is not None and tracked.uid != uid:  # deleted and re-created in between
            del self._tracked[key]
            self._cleanup(namespace, name, tracked.uid)
            tracked = None
        generation = int(meta.get("generation") or 1)
        meta_key = _meta_key(meta)
        if tracked is not None:
            tracked.obj = obj
            if meta.get("deletionTimestamp") or generation < tracked.generation:
                return  # being deleted, or a stale retry
            if generation == tracked.generation and meta_key == tracked.meta_key:
                return  # a status-only change (our own writes among them)
        elif meta.get("deletionTimestamp"):
            return
        labels = self._namespace_labels(namespace)  # may raise: the event is retried unchanged
        if tracked is None:
            tracked = self._tracked[key] = _Tracked(uid=uid, obj=obj)
            if self._adopt(tracked, obj, generation):
                return
            tracked.may_have_pods = False  # never reconciled: no simulated Pod of it exists
        tracked.namespace_labels = labels
        tracked.generation = generation
        tracked.meta_key = meta_key
        tracked.epoch += 1
        tracked.done.clear()
        if labels.get(SIMULATOR_LABEL) == "off":
            self._log(namespace, name, "ignored", generation)
            return
        annotations = meta.get("annotations") or {}
        scenario = annotations.get(SCENARIO_ANNOTATION) or labels.get(SCENARIO_LABEL) or self.default_scenario
        if scenario not in SCENARIOS:
            _LOG.warning("kserve simulator: %s/%s: unknown scenario %r", namespace, name, scenario)
            self._log(namespace, name, "unknown-scenario", generation)
            return
        if str(annotations.get(STOP_ANNOTATION, "")).lower() == "true":
            scenario = "stopped"
        if scenario == "stale-ready" and tracked.ever_ready:
            stale = _float(annotations.get(STALE_ANNOTATION), DEFAULT_STALE_SECONDS)
            self._log(namespace, name, "stale-hold", generation)
            self._schedule(stale, self._begin, key, tracked.epoch, scenario)
            return
        self._schedule(0, self._begin, key, tracked.epoch, scenario)

    def _adopt(self, tracked: _Tracked, obj: dict[str, Any], generation: int) -> bool:
        """An object already reconciled (by an earlier simulator): take over its state, do nothing."""
        status = obj.get("status") or {}
        # observedGeneration is a child's counter (as KServe writes it): any status KServe wrote means reconciled
        if not status.get("conditions") or not status.get("deploymentMode"):
            return False
        tracked.generation = generation
        tracked.meta_key = _meta_key(obj.get("metadata") or {})
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
        tracked.conditions = dict(conditions)
        tracked.ever_ready = (conditions.get("Ready") or {}).get("status") == "True"
        predictor = (status.get("components") or {}).get("predictor") or {}
        tracked.ready_revision = predictor.get("latestReadyRevision")
        tracked.rolled_out_revision = predictor.get("latestRolledoutRevision")
        created = predictor.get("latestCreatedRevision") or ""
        if created[-5:].isdigit():
            tracked.revision = int(created[-5:])
        states = (status.get("modelStatus") or {}).get("states") or {}
        tracked.active_model_state = states.get("activeModelState") or ""
        return True

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        body = _body(self._core.read_namespace(namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        return (body.get("metadata") or {}).get("labels") or {}

    def _current(self, key: Key, epoch: int) -> _Tracked | None:
        tracked = self._tracked.get(key)
        if tracked is None or tracked.epoch != epoch or self._stopping.is_set():
            return None
        return tracked

    def _begin(self, key: Key, epoch: int, scenario: str) -> None:
        """Start the rollout of the current generation: Deployment updated, InferenceService not ready."""
        tracked = self._current(key, epoch)
        if tracked is None:
            return
        namespace, name = key
        if tracked.rollout_epoch != epoch:  # plan once per generation (this step may be retried)
            tracked.rollout = self._plan(tracked, scenario)
            tracked.rollout_epoch = epoch
        rollout = tracked.rollout
        assert rollout is not None
        if rollout.stopped:
            self._stop(key, tracked, rollout)
            return
        if not rollout.pushed:
            # KServe's checkDeploymentExist finds no diff: nothing is updated, the status is written as it was
            # (observedGeneration stays the Deployment's: below the new generation when the spec moved).
            if self._write_isvc_status(key, tracked, rollout, tracked.phase):
                self._log(namespace, name, "not-pushed", rollout.generation)
            return
        tracked.workload_key = self._workload_key(rollout)
        if tracked.may_have_pods:
            self._delete_simulated_pods(namespace, name)
            tracked.may_have_pods = False
        deployment = self._apply_deployment(tracked, rollout)
        tracked.child_status = self._write_deployment_status(deployment, rollout, "progressing")
        if not self._write_isvc_status(key, tracked, rollout, "progressing"):
            return  # a newer generation is on its way
        self._log(namespace, name, "rollout-started", rollout.generation)
        follow_up = {
            "ready": self._finish_ready,
            "stale-ready": self._finish_ready,
            "fail-load": self._fail_load,
            "progress-deadline": self._progress_deadline,
            "deadline-then-ready": self._progress_deadline,
            "crashloop": self._crashloop,
            "failed-create": self._failed_create,
            "unschedulable": self._unschedulable,
        }.get(rollout.scenario)
        if follow_up is None:  # never-ready
            self._log(namespace, name, "never-ready", rollout.generation)
        else:
            self._schedule(rollout.delay, follow_up, key, epoch)

    def _finish_ready(self, key: Key, epoch: int) -> None:
        tracked = self._current(key, epoch)
        if tracked is None or tracked.rollout is None:
            return
        rollout = tracked.rollout
        namespace, name = key
        deployment = self._deployment_of(namespace, rollout)
        tracked.child_status = self._write_deployment_status(deployment, rollout, "complete")
        if rollout.mode == SERVERLESS:
            self._scale_down_old_revisions(namespace, name, rollout)
        self._log_once(tracked, namespace, name, "deployment-rolled-out", rollout.generation)
        if self._write_isvc_status(key, tracked, rollout, "ready"):
            tracked.ever_ready = True
            self._log(namespace, name, "ready", rollout.generation)

    def _fail_load(self, key: Key, epoch: int) -> None:
        tracked = self._current(key, epoch)
        if tracked is None or tracked.rollout is None:
            return
        if self._write_isvc_status(key, tracked, tracked.rollout, "failed-load"):
            self._log(key[0], key[1], "failed-load", tracked.rollout.generation)

    def _progress_deadline(self, key: Key, epoch: int) -> None:
        tracked = self._current(key, epoch)
        if tracked is None or tracked.rollout is None:
            return
        rollout = tracked.rollout
        deployment = self._deployment_of(key[0], rollout)
        tracked.child_status = self._write_deployment_status(deployment, rollout, "deadline")
        if self._write_isvc_status(key, tracked, rollout, "deadline"):
            self._log(key[0], key[1], "progress-deadline", rollout.generation)
            if rollout.scenario == "deadline-then-ready":
                # the download ends after the deadline: the Deployment controller marks it progressed again
                recover = _float(tracked.obj["metadata"].get("annotations", {}).get(RECOVER_ANNOTATION), DEFAULT_RECOVER)
                self._schedule(recover, self._finish_ready, key, epoch)

    def _failed_create(self, key: Key, epoch: int) -> None:
        """The ReplicaSet controller could not create the pods: its Warning Event on the ReplicaSet (replica_set.go
        manageReplicas) and the Deployment's ReplicaFailure condition; nothing heals it."""
        tracked = self._current(key, epoch)
        if tracked is None or tracked.rollout is None:
            return
        rollout = tracked.rollout
        namespace, name = key
        if "event-created" not in tracked.done:  # this step may be retried
            self._create_event(namespace, {"kind": "ReplicaSet", "apiVersion": "apps/v1", "name": rollout.rs_name},
                               "FailedCreate", "Error creating: " + self._failed_create_message(namespace, rollout),
                               "replicaset-controller")
            tracked.done.add("event-created")
        deployment = self._deployment_of(namespace, rollout)
        tracked.child_status = self._write_deployment_status(deployment, rollout, "failed-create")
        if self._write_isvc_status(key, tracked, rollout, "failed-create"):
            self._log(namespace, name, "failed-create", rollout.generation)

    def _unschedulable(self, key: Key, epoch: int) -> None:
        """A Pending Pod the scheduler cannot place, with its FailedScheduling Warning Event."""
        tracked = self._current(key, epoch)
        if tracked is None or tracked.rollout is None:
            return
        rollout = tracked.rollout
        if "pod-created" not in tracked.done:
            tracked.may_have_pods = True
            self._create_pending_pod(key[0], key[1], rollout)
            tracked.done.add("pod-created")
        self._log(key[0], key[1], "unschedulable", rollout.generation)

    def _stop(self, key: Key, tracked: _Tracked, rollout: _Rollout) -> None:
        """serving.kserve.io/stop: the workloads deleted (CheckResultDelete), the status cleared but for the mode,
        PredictorReady and IngressReady False/Stopped, Stopped True."""
        namespace, name = key
        self._cleanup(namespace, name, tracked.uid)
        tracked.child_status = {}
        if self._write_isvc_status(key, tracked, rollout, "stopped"):
            self._log(namespace, name, "stopped", rollout.generation)

    def _failed_create_message(self, namespace: str, rollout: _Rollout) -> str:
        """What Pod Security admission answers the ReplicaSet controller for a hostIPC pod in a baseline namespace."""
        level = self._namespace_labels(namespace).get(POD_SECURITY_LABEL) or "baseline"
        return (f'pods "{rollout.rs_name}-{_safe_encode(rollout.rs_name.encode(), 5)}" is forbidden: violates PodSecurity "{level}:latest": '
                "host namespaces (hostIPC=true)")

    def _crashloop(self, key: Key, epoch: int) -> None:
        tracked = self._current(key, epoch)
        if tracked is None or tracked.rollout is None:
            return
        rollout = tracked.rollout
        namespace, name = key
        if "pod-created" not in tracked.done:  # this step may be retried
            tracked.may_have_pods = True
            tracked.crash_pod = self._create_crashing_pod(namespace, name, rollout)
            tracked.done.add("pod-created")
        if self._write_isvc_status(key, tracked, rollout, "crashloop", pod=tracked.crash_pod):
            self._log(namespace, name, "crashloop", rollout.generation)

    # -- planning --------------------------------------------------------------------------

    def _plan(self, tracked: _Tracked, scenario: str) -> _Rollout:
        obj = tracked.obj
        meta = obj["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        annotations = meta.get("annotations") or {}
        predictor = (obj.get("spec") or {}).get("predictor") or {}
        model = predictor.get("model") or {}
        mode = RAW if annotations.get(DEPLOYMENT_MODE_ANNOTATION) in RAW_MODES else SERVERLESS
        replicas = predictor.get("minReplicas")
        replicas = 1 if not isinstance(replicas, int) or replicas < 0 else replicas
        runtime, cluster_runtime, runtime_container = self._resolve_runtime(namespace, model)
        container = _container(meta, model, runtime_container)
        # buildObjectMeta: the runtime's, then the InferenceService's labels and annotations, then KServe's own
        labels = dict(meta.get("labels") or {})
        labels.update({
            ISVC_LABEL: name,
            COMPONENT_LABEL: "predictor",
            "app": f"isvc.{name}-predictor",
        })
        pod_annotations = {k: v for k, v in (annotations or {}).items()
                           if k != DEPLOYMENT_MODE_ANNOTATION and k not in ANNOTATIONS_NOT_PROPAGATED}
        pod_annotations[DEPLOYMENT_MODE_ANNOTATION] = mode
        if model.get("storageUri"):
            pod_annotations[STORAGE_URI_ANNOTATION] = model["storageUri"]
        workload = json.dumps([container, labels, pod_annotations, predictor.get("serviceAccountName"), replicas],
                              sort_keys=True)
        pushed = workload != tracked.workload_key
        if mode == RAW:
            revision = None
            deployment = f"{name}-predictor"
        else:
            if pushed:  # Knative makes a revision of each new template; none when nothing changed
                tracked.revision += 1
            revision = f"{name}-predictor-{tracked.revision:05d}"
            deployment = f"{revision}-deployment"
            labels.update({
                REVISION_LABEL: revision,
                "serving.knative.dev/configuration": f"{name}-predictor",
                "serving.knative.dev/service": f"{name}-predictor",
            })
        template: dict[str, Any] = {
            "metadata": {"labels": labels, "annotations": pod_annotations},
            "spec": {"containers": [container]},
        }
        if predictor.get("serviceAccountName"):
            template["spec"]["serviceAccountName"] = predictor["serviceAccountName"]
        template_hash = _safe_encode(json.dumps(template, sort_keys=True).encode(), 10)
        first = mode == SERVERLESS or not tracked.ever_ready
        return _Rollout(
            generation=int(meta.get("generation") or 1),
            scenario=scenario,
            mode=mode,
            deployment=deployment,
            revision=revision,
            replicas=replicas,
            # the annotation, else the namespace label (for tools that cannot annotate, such as the pipeline)
            delay=_float(annotations.get(DELAY_ANNOTATION) or tracked.namespace_labels.get(DELAY_ANNOTATION),
                         DEFAULT_DELAY),
            template=template,
            rs_name=f"{deployment}-{template_hash}",
            runtime=runtime,
            cluster_runtime=cluster_runtime,
            first=first,
            pushed=pushed,
            version=self._version(annotations),
            stopped=scenario == "stopped",
        )

    def _version(self, annotations: dict[str, Any]) -> str:
        wanted = str(annotations.get(VERSION_ANNOTATION) or self.kserve_version)
        return wanted if wanted in KSERVE_VERSIONS else self.kserve_version

    @staticmethod
    def _workload_key(rollout: _Rollout) -> str:
        template = rollout.template
        labels = {k: v for k, v in template["metadata"]["labels"].items()
                  if k not in (REVISION_LABEL, "serving.knative.dev/configuration", "serving.knative.dev/service")}
        return json.dumps([template["spec"]["containers"][0], labels, template["metadata"]["annotations"],
                           template["spec"].get("serviceAccountName"), rollout.replicas], sort_keys=True)

    def _resolve_runtime(self, namespace: str, model: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
        """(ServingRuntime name, ClusterServingRuntime name, its kserve-container) for the model."""
        wanted = model.get("runtime")
        if wanted:
            for plural, scoped in (("servingruntimes", True), ("clusterservingruntimes", False)):
                try:
                    if scoped:
                        runtime = self._custom.get_namespaced_custom_object(
                            GROUP, RUNTIME_VERSION, namespace, plural, wanted, _request_timeout=REQUEST_TIMEOUT)
                    else:
                        runtime = self._custom.get_cluster_custom_object(
                            GROUP, RUNTIME_VERSION, plural, wanted, _request_timeout=REQUEST_TIMEOUT)
                except ApiException as err:
                    if err.status == 404:
                        continue
                    raise
                container = _runtime_container(runtime)
                return (wanted, None, container) if scoped else (None, wanted, container)
            return None, None, {}
        model_format = (model.get("modelFormat") or {}).get("name")
        if not model_format:
            return None, None, {}
        found = self._custom.list_cluster_custom_object(
            GROUP, RUNTIME_VERSION, "clusterservingruntimes", _request_timeout=REQUEST_TIMEOUT)
        for runtime in found.get("items") or []:
            spec = runtime.get("spec") or {}
            if spec.get("disabled"):
                continue
            for supported in spec.get("supportedModelFormats") or []:
                if supported.get("name") == model_format and supported.get("autoSelect"):
                    return None, runtime["metadata"]["name"], _runtime_container(runtime)
        return None, None, {}

    # -- Deployments and Pods --------------------------------------------------------------

    def _deployment_body(self, tracked: _Tracked, rollout: _Rollout) -> dict[str, Any]:
        meta = tracked.obj["metadata"]
        labels = dict(rollout.template["metadata"]["labels"])
        selector = {"app": labels["app"]}
        if rollout.revision:
            selector[REVISION_LABEL] = rollout.revision
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": rollout.deployment,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": {DEPLOYMENT_MODE_ANNOTATION: rollout.mode},
                "ownerReferences": [{
                    "apiVersion": f"{GROUP}/{ISVC_VERSION}",
                    "kind": "InferenceService",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }],
            },
            "spec": {
                "replicas": rollout.replicas,
                "selector": {"matchLabels": selector},
                "template": rollout.template,
            },
        }

    def _apply_deployment(self, tracked: _Tracked, rollout: _Rollout) -> dict[str, Any]:
        body = self._deployment_body(tracked, rollout)
        namespace = body["metadata"]["namespace"]
        try:
            return _body(self._apps.create_namespaced_deployment(
                namespace, body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        except ApiException as err:
            if err.status != 409:
                raise
        patch = [
            {"op": "add", "path": "/metadata/labels", "value": body["metadata"]["labels"]},
            {"op": "add", "path": "/metadata/ownerReferences", "value": body["metadata"]["ownerReferences"]},
            {"op": "add", "path": "/spec", "value": body["spec"]},
        ]
        return _body(self._apps.patch_namespaced_deployment(
            rollout.deployment, namespace, patch, _content_type=JSON_PATCH,
            _preload_content=False, _request_timeout=REQUEST_TIMEOUT))

    def _deployment_of(self, namespace: str, rollout: _Rollout) -> dict[str, Any]:
        """The rollout's Deployment as last written. The Deployment controller reads Deployments from its informer's
        cache (pkg/controller/deployment/deployment_controller.go, dLister), not from the apiserver at each step, and
        here nothing but the simulator writes them (no kube-controller-manager runs): its last write is the cache."""
        return rollout.written or self._read_deployment(namespace, rollout.deployment)

    def _read_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return _body(self._apps.read_namespaced_deployment(
            name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))

    def _write_deployment_status(self, deployment: dict[str, Any], rollout: _Rollout, phase: str) -> dict[str, Any]:
        """Write what the Deployment controller writes: ``progressing``, ``complete``, ``deadline`` or
        ``failed-create`` (no pod of the new ReplicaSet could be created); return the status written."""
        replicas = int((deployment.get("spec") or {}).get("replicas") or 0)
        old = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or []}
        rs_name = rollout.rs_name if deployment["metadata"]["name"] == rollout.deployment else (
            deployment["metadata"]["name"] + "-" + _safe_encode(deployment["metadata"]["name"].encode(), 10))
        if phase == "complete":
            counts = {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
                      "availableReplicas": replicas}
        elif phase == "failed-create":  # the new ReplicaSet has no pod; old ones (an update) still serve
            old_pods = 0 if rollout.first else replicas
            counts = {"replicas": old_pods, "updatedReplicas": 0, "readyReplicas": old_pods,
                      "availableReplicas": old_pods, "unavailableReplicas": replicas - old_pods}
        elif rollout.first or replicas == 0:
            counts = {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": 0,
                      "availableReplicas": 0, "unavailableReplicas": replicas}
        else:  # rolling update with maxSurge 25% (rounded up): the old pods still serve
            counts = {"replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas,
                      "availableReplicas": replicas, "unavailableReplicas": 1}
        available = counts["availableReplicas"] >= replicas
        conditions = [
            _deployment_condition(old, "Available", available,
                                  "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                                  "Deployment has minimum availability." if available
                                  else "Deployment does not have minimum availability."),
        ]
        if phase == "complete":
            conditions.append(_deployment_condition(
                old, "Progressing", True, "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'))
        elif phase == "deadline":
            conditions.append(_deployment_condition(
                old, "Progressing", False, "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.'))
        else:
            conditions.append(_deployment_condition(
                old, "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'))
        if phase == "failed-create":
            conditions.append(_deployment_condition(
                old, "ReplicaFailure", True, "FailedCreate",
                self._failed_create_message(deployment["metadata"]["namespace"], rollout)))
        status: dict[str, Any] = {"observedGeneration": deployment["metadata"]["generation"], "conditions": conditions}
        status.update({k: v for k, v in counts.items() if v})
        patch = [{"op": "add", "path": "/status", "value": status}]
        written = _body(self._apps.patch_namespaced_deployment_status(
            deployment["metadata"]["name"], deployment["metadata"]["namespace"], patch,
            _content_type=JSON_PATCH, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        if deployment["metadata"]["name"] == rollout.deployment:
            rollout.written = written
        return status

    def _scale_down_old_revisions(self, namespace: str, name: str, rollout: _Rollout) -> None:
        """Knative keeps the old revisions' Deployments, scaled to zero once traffic moved."""
        found = _body(self._apps.list_namespaced_deployment(
            namespace, label_selector=f"{ISVC_LABEL}={name},{REVISION_LABEL}",
            _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        for item in found.get("items") or []:
            if item["metadata"]["name"] == rollout.deployment or not (item.get("spec") or {}).get("replicas"):
                continue
            patch = [{"op": "replace", "path": "/spec/replicas", "value": 0}]
            scaled = _body(self._apps.patch_namespaced_deployment(
                item["metadata"]["name"], namespace, patch, _content_type=JSON_PATCH,
                _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
            self._write_deployment_status(scaled, rollout, "complete")

    def _create_crashing_pod(self, namespace: str, name: str, rollout: _Rollout) -> dict[str, Any]:
        template_hash = rollout.rs_name.rsplit("-", 1)[-1]
        pod_name = f"{rollout.rs_name}-{_random_suffix()}"
        labels = dict(rollout.template["metadata"]["labels"])
        labels.update({ISVC_LABEL: name, "pod-template-hash": template_hash})
        container = rollout.template["spec"]["containers"][0]
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": namespace,
                "labels": labels,
                "annotations": dict(rollout.template["metadata"]["annotations"], **{SIMULATED_ANNOTATION: "true"}),
            },
            "spec": {"containers": [container], "restartPolicy": "Always"},
        }
        pod = _body(self._core.create_namespaced_pod(
            namespace, body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        uid = pod["metadata"]["uid"]
        started = _now()
        message = FAILED_LOAD_MESSAGE
        unready = f"containers with unready status: [{CONTAINER}]"
        status = {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "False", "lastTransitionTime": started,
                 "reason": "ContainersNotReady", "message": unready},
                {"type": "ContainersReady", "status": "False", "lastTransitionTime": started,
                 "reason": "ContainersNotReady", "message": unready},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
            ],
            "startTime": started,
            "qosClass": "BestEffort",
            "containerStatuses": [{
                "name": CONTAINER,
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 3,
                "state": {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 40s restarting failed container={CONTAINER} pod={pod_name}_{namespace}({uid})",
                }},
                "lastState": {"terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "message": message,
                    "startedAt": started,
                    "finishedAt": started,
                    "containerID": "containerd://" + hashlib.sha256(pod_name.encode()).hexdigest(),
                }},
            }],
        }
        # The Event goes first: a waiter that fails on the Pod status reads the events right then.
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod_name}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "name": pod_name, "namespace": namespace, "uid": uid,
                "fieldPath": f"spec.containers{{{CONTAINER}}}",
            },
            "reason": "BackOff",
            "message": f"Back-off restarting failed container {CONTAINER} in pod {pod_name}_{namespace}({uid})",
            "type": "Warning",
            "source": {"component": "kubelet"},
            "count": 3,
            "firstTimestamp": started,
            "lastTimestamp": started,
        }
        _body(self._core.create_namespaced_event(
            namespace, event, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        pod = _body(self._core.patch_namespaced_pod_status(
            pod_name, namespace, [{"op": "add", "path": "/status", "value": status}],
            _content_type=JSON_PATCH, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        return pod

    def _create_event(self, namespace: str, involved: dict[str, Any], reason: str, message: str, component: str) -> None:
        now = _now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{involved['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": dict(involved, namespace=namespace),
            "reason": reason,
            "message": message,
            "type": "Warning",
            "source": {"component": component},
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
        }
        _body(self._core.create_namespaced_event(
            namespace, event, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))

    def _create_pending_pod(self, namespace: str, name: str, rollout: _Rollout) -> dict[str, Any]:
        """A Pod that no node can take: the scheduler's PodScheduled=False/Unschedulable and FailedScheduling event
        (kube-scheduler's message for an extended resource no node offers)."""
        template_hash = rollout.rs_name.rsplit("-", 1)[-1]
        pod_name = f"{rollout.rs_name}-{_random_suffix()}"
        labels = dict(rollout.template["metadata"]["labels"], **{ISVC_LABEL: name, "pod-template-hash": template_hash})
        container = rollout.template["spec"]["containers"][0]
        wanted = ((container.get("resources") or {}).get("limits") or {})
        resource = next((r for r in ("nvidia.com/gpualloc", "nvidia.com/gpu") if r in wanted), "cpu")
        message = f"0/3 nodes are available: 3 Insufficient {resource}."
        body = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": namespace, "labels": labels,
                         "annotations": dict(rollout.template["metadata"]["annotations"], **{SIMULATED_ANNOTATION: "true"})},
            "spec": {"containers": [container], "restartPolicy": "Always"},
        }
        pod = _body(self._core.create_namespaced_pod(
            namespace, body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        self._create_event(namespace, {"kind": "Pod", "apiVersion": "v1", "name": pod_name, "uid": pod["metadata"]["uid"]},
                           "FailedScheduling", message, "default-scheduler")
        status = {"phase": "Pending", "qosClass": "Burstable", "conditions": [
            {"type": "PodScheduled", "status": "False", "lastTransitionTime": _now(), "reason": "Unschedulable",
             "message": message}]}
        return _body(self._core.patch_namespaced_pod_status(
            pod_name, namespace, [{"op": "add", "path": "/status", "value": status}],
            _content_type=JSON_PATCH, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))

    def _delete_simulated_pods(self, namespace: str, name: str) -> None:
        found = _body(self._core.list_namespaced_pod(
            namespace, label_selector=f"{ISVC_LABEL}={name}", _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        for item in found.get("items") or []:
            if (item["metadata"].get("annotations") or {}).get(SIMULATED_ANNOTATION) != "true":
                continue
            try:
                _body(self._core.delete_namespaced_pod(
                    item["metadata"]["name"], namespace, grace_period_seconds=0,
                    _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
            except ApiException as err:
                if err.status != 404:
                    raise

    def _cleanup(self, namespace: str, name: str, uid: str) -> None:
        """No garbage collector runs: delete the Deployments and Pods made for this InferenceService."""
        found = _body(self._apps.list_namespaced_deployment(
            namespace, label_selector=f"{ISVC_LABEL}={name}", _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        for item in found.get("items") or []:
            owners = item["metadata"].get("ownerReferences") or []
            if not any(o.get("kind") == "InferenceService" and o.get("uid") == uid for o in owners):
                continue
            try:
                _body(self._apps.delete_namespaced_deployment(
                    item["metadata"]["name"], namespace, _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT))
            except ApiException as err:
                if err.status != 404:
                    raise
        self._delete_simulated_pods(namespace, name)

    # -- InferenceService status -----------------------------------------------------------

    def _write_isvc_status(self, key: Key, tracked: _Tracked, rollout: _Rollout, phase: str,
                           pod: dict[str, Any] | None = None) -> bool:
        """Write the status for the rollout's generation; False when the spec has moved on meanwhile."""
        status = self._isvc_status(key, tracked, rollout, phase, pod)
        namespace, name = key
        patch = [
            {"op": "test", "path": "/metadata/generation", "value": rollout.generation},
            {"op": "add", "path": "/status", "value": status},
        ]
        try:
            stored = self._custom.patch_namespaced_custom_object_status(
                GROUP, ISVC_VERSION, namespace, ISVC_PLURAL, name, patch,
                _content_type=JSON_PATCH, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as err:
            if err.status not in (409, 422):
                raise
            # A failed "test" (the spec moved on: the next generation takes over) or an invalid status.
            current = self._custom.get_namespaced_custom_object(
                GROUP, ISVC_VERSION, namespace, ISVC_PLURAL, name, _request_timeout=REQUEST_TIMEOUT)
            if current["metadata"].get("generation") != rollout.generation:
                return False
            raise
        if stored.get("status") != status:
            _LOG.warning("kserve simulator: %s/%s: the apiserver stored another status than written:\n%s\n%s",
                         namespace, name, json.dumps(status, sort_keys=True), json.dumps(stored.get("status"), sort_keys=True))
            self._log(namespace, name, "status-pruned", rollout.generation)
        tracked.phase = phase
        if phase == "ready":
            tracked.active_model_state = "Loaded"
            if rollout.revision:
                if tracked.rolled_out_revision != rollout.revision:
                    tracked.previous_rolled_out_revision = tracked.rolled_out_revision
                tracked.ready_revision = rollout.revision
                tracked.rolled_out_revision = rollout.revision
        return True

    def _isvc_status(self, key: Key, tracked: _Tracked, rollout: _Rollout, phase: str,
                     pod: dict[str, Any] | None) -> dict[str, Any]:
        namespace, name = key
        serverless = rollout.mode == SERVERLESS
        if phase == "stopped":
            return self._stopped_status(tracked, rollout)
        ready = phase == "ready"
        url = f"http://{name}-{namespace}.{DOMAIN}"
        predictor_url = f"http://{name}-predictor-{namespace}.{DOMAIN}"
        address = {"url": f"http://{name}-predictor.{namespace}.svc.cluster.local"}
        serving = ready or tracked.ever_ready  # an earlier revision/ReplicaSet still serves
        config = f"{name}-predictor"

        # PredictorReady, as KServe derives it from the Deployment (raw) or the Knative Service.
        if not serverless:
            predictor = _propagate_raw_status(rollout.version, tracked.child_status)
            # PropagateModelStatus: Ready (the old pods during an update, 0.15 and 0.20) reads as Loaded, unless a
            # container of the new pods already failed
            ready = predictor[0] == "True" and phase not in ("failed-load", "crashloop")
        elif ready:
            predictor = ("True", "", "")
        elif serverless:
            if phase in ("failed-load", "crashloop"):
                predictor = ("False", "RevisionFailed", f'Revision "{rollout.revision}" failed with message: '
                             f"Container failed with: {FAILED_LOAD_MESSAGE}.")
            elif phase == "deadline":
                predictor = ("False", "RevisionFailed",
                             f'Revision "{rollout.revision}" failed with message: Initial scale was never achieved.')
            else:
                predictor = ("False", "RevisionMissing",
                             f'Configuration "{config}" is waiting for a Revision to become ready.')
        if serverless and not serving:
            ingress = ("False", "PredictorIngressNotCreated", "Ingress has not been created yet")
        else:
            ingress = ("True", "", "")
        wanted: list[tuple[str, tuple[str, str, str], str]] = [
            ("IngressReady", ingress, ""),
            ("PredictorReady", predictor, ""),
            ("Stopped", ("False", "", ""), "Info"),
        ]
        if serverless:
            route = ("True", "", "") if serving else (
                "False", "RevisionMissing", f'Configuration "{config}" does not have any ready Revision.')
            configuration = ("True", "", "") if ready else predictor
            wanted += [
                ("PredictorConfigurationReady", configuration, "Info"),
                ("PredictorRouteReady", route, "Info"),
                ("LatestDeploymentReady", ("True", "", "") if configuration[0] == "True"
                 else (configuration[0], "PredictorConfigurationReady not ready", ""), "Info"),
                ("RoutesReady", ("True", "", "") if route[0] == "True"
                 else (route[0], "PredictorRouteReady not ready", ""), "Info"),
            ]
        unhappy = next((c for c in (predictor, ingress) if c[0] != "True"), None)
        wanted.append(("Ready", unhappy or ("True", "", ""), ""))
        conditions = [self._condition(tracked, ctype, state, severity) for ctype, state, severity in wanted]
        conditions.sort(key=lambda c: c["type"])

        status: dict[str, Any] = {
            "observedGeneration": self._observed_generation(tracked, rollout),
            "conditions": conditions,
            "deploymentMode": rollout.mode,
        }
        if rollout.runtime:
            status["servingRuntimeName"] = rollout.runtime
        if rollout.cluster_runtime:
            status["clusterServingRuntimeName"] = rollout.cluster_runtime
        if not serverless or serving:
            status["url"] = url
            status["address"] = dict(address)

        component: dict[str, Any] = {}
        if serverless:
            component["latestCreatedRevision"] = rollout.revision
            ready_revision = rollout.revision if ready else tracked.ready_revision
            rolled_out = rollout.revision if ready else tracked.rolled_out_revision
            previous = tracked.previous_rolled_out_revision
            if ready and tracked.rolled_out_revision != rollout.revision:
                previous = tracked.rolled_out_revision
            if ready_revision:
                component["latestReadyRevision"] = ready_revision
            if rolled_out:
                component["latestRolledoutRevision"] = rolled_out
            if previous:
                component["previousRolledoutRevision"] = previous
            if ready_revision:
                component["traffic"] = [{"latestRevision": True, "percent": 100, "revisionName": ready_revision}]
            if serving:
                component["url"] = predictor_url
                component["address"] = dict(address)
        elif serving:
            component["url"] = predictor_url
        status["components"] = {"predictor": component}

        copies: dict[str, Any] = {"failedCopies": 0}
        if ready:
            if rollout.replicas:
                copies["totalCopies"] = rollout.replicas
            model_status: dict[str, Any] = {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "copies": copies,
            }
        elif phase in ("failed-load", "crashloop"):
            copies.update({"failedCopies": max(rollout.replicas, 1), "totalCopies": max(rollout.replicas, 1)})
            pod_name = (pod or {}).get("metadata", {}).get("name") or f"{rollout.rs_name}-{_random_suffix()}"
            model_status = {
                "transitionStatus": "BlockedByFailedLoad",
                "states": {"activeModelState": tracked.active_model_state, "targetModelState": "FailedToLoad"},
                "lastFailureInfo": {
                    "reason": "ModelLoadFailed",
                    "message": FAILED_LOAD_MESSAGE,
                    "exitCode": 1,
                    "location": pod_name,
                    "time": _now(),
                },
                "copies": copies,
            }
        else:
            if not rollout.first and rollout.replicas:
                copies["totalCopies"] = rollout.replicas
            model_status = {
                "transitionStatus": "InProgress",
                "states": {"activeModelState": tracked.active_model_state, "targetModelState": "Pending"},
                "copies": copies,
            }
        status["modelStatus"] = model_status
        return status

    def _observed_generation(self, tracked: _Tracked, rollout: _Rollout) -> int:
        """What KServe writes: the Deployment's counter (PropagateRawStatus: deploymentList[0].Status.ObservedGeneration)
        or the Knative Service's (PropagateStatus: serviceStatus.ObservedGeneration, one per template KServe wrote),
        kserve/kserve#6081; the InferenceService's own only with PR #6096."""
        if self.honest_observed_generation:
            return rollout.generation
        if rollout.mode == SERVERLESS:
            return max(tracked.revision, 1)
        return int(tracked.child_status.get("observedGeneration") or 1)

    def _stopped_status(self, tracked: _Tracked, rollout: _Rollout) -> dict[str, Any]:
        """components/predictor.go: ``isvc.Status = InferenceServiceStatus{}`` but for the deployment mode,
        PredictorReady False/Stopped; ingress_reconciler.go IngressReady False/Stopped; controller.go Stopped True."""
        wanted = [("IngressReady", ("False", "Stopped", ""), ""), ("PredictorReady", ("False", "Stopped", ""), ""),
                  ("Ready", ("False", "Stopped", ""), ""), ("Stopped", ("True", "", ""), "Info")]
        conditions = [self._condition(tracked, ctype, state, severity) for ctype, state, severity in wanted]
        return {"conditions": conditions, "deploymentMode": rollout.mode}

    @staticmethod
    def _condition(tracked: _Tracked, ctype: str, state: tuple[str, str, str], severity: str) -> dict[str, Any]:
        value, reason, message = state
        condition: dict[str, Any] = {"type": ctype, "status": value}
        if severity:
            condition["severity"] = severity
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        old = tracked.conditions.get(ctype)
        same = old is not None and all(old.get(k) == condition.get(k) for k in ("status", "reason", "message", "severity"))
        condition["lastTransitionTime"] = old["lastTransitionTime"] if same and old.get("lastTransitionTime") else _now()
        tracked.conditions[ctype] = condition
        return condition


# -- helpers ---------------------------------------------------------------------------------


def _task_key(args: tuple[Any, ...]) -> Key:
    """The InferenceService a step is for: its key (the first argument), or the object of a watch event."""
    if args and isinstance(args[0], tuple):
        return args[0]
    meta = (args[1].get("metadata") or {}) if len(args) > 1 and isinstance(args[1], dict) else {}
    return (meta.get("namespace", ""), meta.get("name", ""))


def _client_like(api_client: Any) -> Any:
    """A client with ``api_client``'s configuration, our User-Agent, and no sleeping retries in urllib3:
    its default honours a starting apiserver's ``503 Retry-After`` (seconds); our loops back off themselves."""
    configuration = copy.deepcopy(api_client.configuration)
    configuration.retries = urllib3.util.Retry(
        total=2, connect=2, read=0, redirect=0, status=0, other=0, respect_retry_after_header=False)
    client = kubernetes.client.ApiClient(configuration)
    client.user_agent = USER_AGENT
    return client


def _float(value: Any, default: float) -> float:
    try:
        return max(float(value), 0.0) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _runtime_container(runtime: dict[str, Any]) -> dict[str, Any]:
    # KServe takes the container named kserve-container and refuses a runtime without one (InvalidSpec,
    # MergeServingRuntimeAndInferenceServiceSpecs); the first container stands in for it here.
    containers = (runtime.get("spec") or {}).get("containers") or []
    for container in containers:
        if container.get("name") == CONTAINER:
            return container
    return containers[0] if containers else {}


# The fields of spec.predictor.model that are not the inline corev1.Container (KServe's ModelSpec and
# PredictorExtensionSpec, pkg/apis/serving/v1beta1/predictor_model.go and predictor.go; confidential is 0.20's).
MODEL_ONLY_FIELDS = frozenset({"modelFormat", "runtime", "storageUri", "runtimeVersion", "protocolVersion", "storage",
                               "confidential"})
# corev1.Container's lists that a strategic merge patch merges by key (their patchMergeKey tags in
# k8s.io/api/core/v1/types.go); every other list is replaced whole, maps merge key by key.
CONTAINER_MERGE_KEYS = {"env": "name", "ports": "containerPort", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}
# Placeholders KServe fills in from the InferenceService's ObjectMeta (ReplacePlaceholders runs a Go template over
# the merged container's JSON): {{.Name}}, {{.Namespace}}, {{.Labels.key}}, {{index .Annotations "a/b"}}, ...
_PLACEHOLDER = re.compile(r'\{\{\s*(?:\.(Name|Namespace)|\.(Labels|Annotations)\.([A-Za-z0-9_]+)'
                          r'|index\s+\.(Labels|Annotations)\s+"([^"]*)")\s*\}\}')


def _go_json(container: dict[str, Any]) -> dict[str, Any]:
    """``container`` as Go's json.Marshal of a corev1.Container writes it: empty fields (omitempty) left out."""
    return {k: copy.deepcopy(v) for k, v in (container or {}).items() if v not in (None, "", [], {})}


def _strategic_merge_map(original: dict[str, Any], patch: dict[str, Any], merge_keys: dict[str, str]) -> dict[str, Any]:
    """mergeMap of k8s.io/apimachinery/pkg/util/strategicpatch/patch.go, for patches without directives."""
    for key, value in patch.items():
        if value is None:
            original.pop(key, None)
        elif key not in original or type(original[key]) is not type(value):
            original[key] = copy.deepcopy(value)
        elif isinstance(value, dict):
            original[key] = _strategic_merge_map(original[key], value, {})
        elif isinstance(value, list) and key in merge_keys:
            original[key] = _strategic_merge_list(original[key], value, merge_keys[key])
        else:
            original[key] = copy.deepcopy(value)
    return original


def _strategic_merge_list(original: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    """mergeSlice for a list of maps with a merge key: items of the same key merged, new ones added, then ordered
    as normalizeElementOrder/mergeSortedSlice order them (the patch's order, the server-only items in between)."""
    merged = copy.deepcopy(original)
    server_order = [item.get(merge_key) for item in original]
    for item in patch:
        found = next((i for i, old in enumerate(merged) if old.get(merge_key) == item.get(merge_key)), None)
        if found is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[found] = _strategic_merge_map(merged[found], item, {})
    patch_order = [item.get(merge_key) for item in patch]
    patch_items = sorted((m for m in merged if m.get(merge_key) in patch_order),
                         key=lambda m: patch_order.index(m.get(merge_key)))
    server_only = [m for m in merged if m.get(merge_key) not in patch_order]
    result: list[Any] = []
    while server_only or patch_items:
        if not patch_items:
            result.append(server_only.pop(0))
        elif not server_only:
            result.append(patch_items.pop(0))
        else:
            left, right = server_only[0].get(merge_key), patch_items[0].get(merge_key)
            if left in server_order and right in server_order and server_order.index(left) < server_order.index(right):
                result.append(server_only.pop(0))
            else:
                result.append(patch_items.pop(0))
    return result


def merge_runtime_containers(runtime_container: dict[str, Any], isvc_container: dict[str, Any], *,
                             reconcile_env_values: bool = True) -> dict[str, Any]:
    """KServe's MergeRuntimeContainers (pkg/controller/v1beta1/inferenceservice/utils/utils.go, 0.14 to 0.20): the
    InferenceService's container strategic-merged onto the runtime's (command and other lists replaced, env merged by
    name, maps key by key), the name kept from the runtime's when the InferenceService's has none, and the args
    concatenated, the runtime's first ("Strategic merge patch will replace args but more useful behaviour here is to
    concatenate").

    ``reconcile_env_values``: 0.20 (MergeContainerWithPatch, pkg/utils/container_merge.go) clears ``value`` or
    ``valueFrom`` of an env entry that the merge left with both, the InferenceService's choice winning; 0.14 to 0.19
    keep both, which the apiserver then refuses in the Deployment.
    """
    base, overlay = _go_json(runtime_container), _go_json(isvc_container)
    overlay.setdefault("name", "")  # corev1.Container's name has no omitempty: always in the patch
    merged = _strategic_merge_map(copy.deepcopy(base), overlay, CONTAINER_MERGE_KEYS)
    if reconcile_env_values:
        overlay_env = {e.get("name"): e for e in overlay.get("env") or []}
        for entry in merged.get("env") or []:
            wanted = overlay_env.get(entry.get("name"))
            if wanted is None or not entry.get("value") or not entry.get("valueFrom"):
                continue
            if wanted.get("valueFrom"):
                entry.pop("value")
            elif wanted.get("value"):
                entry.pop("valueFrom")
    if not merged.get("name"):
        merged["name"] = base.get("name", "")
    args = list(base.get("args") or []) + list(overlay.get("args") or [])
    merged.pop("args", None)
    if args:
        merged["args"] = args
    return merged


def replace_placeholders(value: Any, meta: dict[str, Any]) -> Any:
    """KServe's ReplacePlaceholders for the placeholders it is used with; a missing key reads as Go's <no value>."""
    if isinstance(value, dict):
        return {k: replace_placeholders(v, meta) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_placeholders(v, meta) for v in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        field, mapping, key = match.group(1), match.group(2) or match.group(4), match.group(3) or match.group(5)
        if field:
            return str(meta.get(field.lower()) or "")
        found = (meta.get(mapping.lower()) or {}).get(key)
        return "<no value>" if found is None else str(found)

    return _PLACEHOLDER.sub(fill, value)


def _container(meta: dict[str, Any], model: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    """The predictor container, as KServe builds it (buildPodSpec in
    pkg/controller/v1beta1/inferenceservice/components/predictor.go): the runtime's kserve-container merged with the
    InferenceService's model container, then the placeholders filled in from the InferenceService's metadata."""
    isvc_container = {k: v for k, v in model.items() if k not in MODEL_ONLY_FIELDS}
    container = replace_placeholders(merge_runtime_containers(runtime, isvc_container), meta)
    container["name"] = container.get("name") or CONTAINER
    container.setdefault("image", PLACEHOLDER_IMAGE)  # a Deployment needs one; a real runtime always has one
    if container.get("resources"):
        # Quantities may arrive as YAML numbers (the pipeline writes `cpu: 1`); the API takes them as strings too.
        container["resources"] = {kind: {res: str(qty) for res, qty in (values or {}).items()}
                                  for kind, values in container["resources"].items() if isinstance(values, dict)}
    return container


def _meta_key(meta: dict[str, Any]) -> str:
    """The labels and annotations KServe copies into the pod template (a change of them is reconciled)."""
    return json.dumps([meta.get("labels") or {}, meta.get("annotations") or {}], sort_keys=True)


def _propagate_raw_status(version: str, deployment_status: dict[str, Any]) -> tuple[str, str, str]:
    """PredictorReady from the predictor Deployment's conditions, as PropagateRawStatus
    (pkg/apis/serving/v1beta1/inference_service_status.go) writes it in each KServe release."""
    found = {c.get("type"): (c.get("status", ""), c.get("reason", ""), c.get("message", ""))
             for c in deployment_status.get("conditions") or []}
    available, progressing, failure = found.get("Available"), found.get("Progressing"), found.get("ReplicaFailure")
    if version == "0.15":  # v0.15.2: the Available condition, as it is
        return available or ("Unknown", "", "")
    result = available if available and available[0] == "True" else ("False", "", "")
    if progressing and progressing[0] == "False":
        if progressing[2]:  # "If there is a message, we assume there was a problem": ProgressDeadlineExceeded
            result = ("False", progressing[1], progressing[2])
    elif progressing and progressing[0] == "True":
        if progressing[1] == "NewReplicaSetAvailable":
            result = progressing
        elif version == "0.16" or not (available and available[0] == "True"):
            # v0.16.0-v0.19 (PR #4667): Unknown while progressing; v0.20 (PR #5703) only without availability
            result = ("Unknown", progressing[1], progressing[2])
    if available and available[0] == "False":  # "a critical signal": Available False wins
        result = available
    if failure and failure[0] == "True":  # ReplicaFailure (FailedCreate) wins over everything
        result = ("False", failure[1], failure[2])
    return result


def _deployment_condition(old: dict[str, dict[str, Any]], ctype: str, value: bool, reason: str,
                          message: str) -> dict[str, Any]:
    now = _now()
    status = "True" if value else "False"
    previous = old.get(ctype) or {}
    transition = previous.get("lastTransitionTime") if previous.get("status") == status else None
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": transition or now,
        "reason": reason,
        "message": message,
    }
