# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Wait for an InferenceService by WATCHING it, its predictor Deployments and their Pods.

One thread per watch feeds a queue; the main loop re-evaluates ``_readiness.overall`` on every
event, so a change is seen within milliseconds, not at the next poll. A watch that expires (410
Gone) or loses its connection lists again and resumes from the fresh resourceVersion.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from ansible_collections.aml.kserve.plugins.module_utils import _readiness
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, KubernetesError, WaitFailed, WaitTimeout
from ansible_collections.aml.kserve.plugins.module_utils._k8s import DEPLOYMENT, EVENT, ISVC, POD, KubeClient, items

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError as Urllib3HTTPError
except ImportError:  # the module reports the missing library before we get here
    pass

ISVC_LABEL = "serving.kserve.io/inferenceservice"
WATCH_SECONDS = 10          # server-side timeout of one watch request, then renewed: a 1.20 apiserver drains open watches before it restarts
RECONNECT_DELAY = 0.5       # after a lost connection, before listing again
PROGRESS_EVERY = 15.0       # seconds between progress lines when nothing changes
NAMESPACES_AT_ONCE = 32     # namespaces waited on at the same time by wait_at_once (three watches each)
WATCHED = (ISVC, DEPLOYMENT, POD, EVENT)
WAITED = (ISVC, DEPLOYMENT, POD)  # a waiter judges once it has a snapshot of each


class _Watch(threading.Thread):
    """List, then watch from the list's resourceVersion; on expiry or a lost connection, list again. ``namespace``
    None: across namespaces."""

    def __init__(self, client: KubeClient, kind_version: Tuple[str, str], namespace: Optional[str],
                 events: Union["queue.Queue[Any]", "_ClusterWatches"], stop: threading.Event,
                 field_selector: Optional[str] = None, label_selector: Optional[str] = None, optional: bool = False,
                 listing: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(daemon=True, name="watch-" + kind_version[0])
        self.client, self.kind_version, self.namespace = client, kind_version, namespace
        self.events, self.stop_event = events, stop
        self.field_selector, self.label_selector = field_selector, label_selector
        self.optional = optional
        self.listing = listing  # the first list, when the caller has made it
        self.restarts = 0

    def list_now(self) -> Optional[str]:
        """Send a full snapshot to the queue; return its resourceVersion (None: not allowed, optional watch)."""
        try:
            listing = self.client.list(self.kind_version, self.namespace, self.label_selector, self.field_selector)
        except KubernetesError as err:
            if self.optional and err.details.get("status") == 403:
                self.events.put(("skipped", self.kind_version[0], str(err)))
                return None
            raise
        return self._snapshot(listing)

    def _snapshot(self, listing: Dict[str, Any]) -> Optional[str]:
        self.events.put(("snapshot", self.kind_version[0], items(listing)))
        return (listing.get("metadata") or {}).get("resourceVersion")

    def run(self) -> None:
        try:
            version = self._snapshot(self.listing) if self.listing is not None else self.list_now()
        except KubernetesError as err:
            self.events.put(("error", self.kind_version[0], err))
            return
        while version is not None and not self.stop_event.is_set():
            try:
                for event in self.client.watch(self.kind_version, self.namespace, version, WATCH_SECONDS,
                                               self.field_selector, self.label_selector):
                    if self.stop_event.is_set():
                        return
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        raise ApiException(status=obj.get("code"), reason=obj.get("reason"))
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        self.events.put((event["type"], self.kind_version[0], obj))
            except (ApiException, DynamicApiError, KubernetesError, Urllib3HTTPError, OSError) as err:
                # 410 Gone (history compacted), apiserver restart, connection reset: list again.
                self.restarts += 1
                self.events.put(("restart", self.kind_version[0], str(getattr(err, "status", "")) or type(err).__name__))
                version = self._relist()

    def _relist(self) -> Optional[str]:
        while not self.stop_event.is_set():
            self.stop_event.wait(RECONNECT_DELAY)
            try:
                return self.list_now()  # an optional watch that is now forbidden reports "skipped" and ends here
            except KubernetesError as err:
                if err.details.get("status") in (401, 403, 404):
                    self.events.put(("error", self.kind_version[0], err))
                    return None
        return None


def _selectors(names: Sequence[str]) -> Dict[Tuple[str, str], Tuple[Optional[str], Optional[str]]]:
    """The (field, label) selector of each waited kind (WAITED): the InferenceService by name when there is one, the
    Deployments and Pods by the label KServe gives them."""
    if len(names) == 1:
        by_name, by_label = "metadata.name=" + names[0], "{0}={1}".format(ISVC_LABEL, names[0])
    else:
        by_name, by_label = None, "{0} in ({1})".format(ISVC_LABEL, ",".join(names))
    return {ISVC: (by_name, None), DEPLOYMENT: (None, by_label), POD: (None, by_label)}


class InferenceServiceWaiter:
    """Wait until InferenceServices of one namespace are Ready for their generation and rolled out, or have failed
    for certain. Several names share one watch per kind (their label in a set selector), so a batch of N services
    costs the requests of one."""

    def __init__(self, client: KubeClient, namespace: str, names: Sequence[str], timeout: float,
                 progress: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 baselines: Optional[Dict[str, Optional[_readiness.Baseline]]] = None,
                 rules: Optional[_readiness.Rules] = None) -> None:
        self.client, self.namespace, self.names = client, namespace, list(dict.fromkeys(names))
        self.timeout, self.progress, self.clock = timeout, progress, clock
        self.baselines: Dict[str, Optional[_readiness.Baseline]] = dict(baselines or {})
        self.rules = rules or _readiness.Rules()
        self.started = clock()
        self.isvcs: Dict[str, Dict[str, Any]] = {}
        self.deployments: Dict[str, Dict[str, Any]] = {}
        self.pods: Dict[str, Dict[str, Any]] = {}
        self.watch_restarts = 0
        self.notes: List[str] = []

    def _apply(self, what: str, kind: str, payload: Any) -> None:
        store = {"InferenceService": self.isvcs, "Deployment": self.deployments, "Pod": self.pods}[kind]
        if what == "snapshot":
            store.clear()
            store.update({o["metadata"]["name"]: o for o in payload})
        elif what in ("ADDED", "MODIFIED"):
            store[payload["metadata"]["name"]] = payload
        elif what == "DELETED":
            store.pop(payload["metadata"]["name"], None)
        elif what == "restart":
            self.watch_restarts += 1
            self.progress("{0} watch restarted ({1}); listing again".format(kind, payload))
        elif what == "skipped":
            self.notes.append("{0}s not checked: {1}".format(kind, payload))
        elif what == "error":
            raise payload

    def _owned(self, store: Dict[str, Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
        return [o for o in store.values() if ((o.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL) == name]

    def _state(self, name: str) -> _readiness.State:
        return _readiness.overall(self.isvcs.get(name), self._owned(self.deployments, name), self._owned(self.pods, name),
                                  self.baselines.get(name), self.clock() - self.started, self.rules)

    def _settle_left(self, pending: Sequence[str]) -> Optional[float]:
        """Seconds until the settle window ends, while a service waits for KServe to push its change."""
        left = self.started + self.rules.settle_seconds - self.clock()
        if left > 0 and any(self._state(name).reason == "NotPushed" for name in pending):
            return left
        return None

    def _watches(self, events: "queue.Queue[Any]", stop: threading.Event) -> List[_Watch]:
        return [_Watch(self.client, kind_version, self.namespace, events, stop, field_selector=by_field,
                       label_selector=by_label, optional=kind_version == POD)
                for kind_version, (by_field, by_label) in _selectors(self.names).items()]

    def wait(self) -> Dict[str, Any]:
        """The one service's summary; raises WaitFailed or WaitTimeout."""
        outcome = self.wait_all()[self.names[0]]
        if isinstance(outcome, AmlKserveError):
            raise outcome
        return outcome

    def wait_all(self, events: "Optional[queue.Queue[Any]]" = None) -> Dict[str, Any]:
        """Each name's outcome: its summary when ready or stopped, else the WaitFailed or WaitTimeout that says why not.
        ``events``: this namespace's share of watches over the whole cluster (wait_at_once), instead of its own."""
        self.started = self.clock()
        deadline = self.started + self.timeout
        stop = threading.Event()
        if events is None:
            events = queue.Queue()
            watches = self._watches(events, stop)
            _discover(self.client)
            for watch in watches:
                watch.start()
        snapshots = set()
        outcomes: Dict[str, Any] = {}
        last_message: Dict[str, str] = {}
        last_progress = self.clock()
        try:
            while len(outcomes) < len(self.names):
                remaining = deadline - self.clock()
                if remaining <= 0:
                    warnings = _WarningEvents(self.client, self.namespace)
                    for name in self.names:
                        if name not in outcomes:
                            outcomes[name] = self._timeout(name, last_message.get(name, ""), warnings)
                    break
                pending = [n for n in self.names if n not in outcomes]
                settle = self._settle_left(pending) if len(snapshots) == len(WAITED) else None
                wake = min(remaining, PROGRESS_EVERY, settle + 0.01 if settle is not None else PROGRESS_EVERY)
                try:
                    what, kind, payload = events.get(timeout=wake)
                except queue.Empty:
                    if self.clock() >= deadline:
                        continue  # the timeout, not another progress line
                    if settle is not None and settle <= wake:
                        self._judge(pending, outcomes, last_message, False)  # the settle window has ended
                        continue
                    for name in pending:
                        self._say(name, "still waiting: {0}".format(last_message.get(name, "")))
                    last_progress = self.clock()
                    continue
                self._apply(what, kind, payload)
                if what in ("snapshot", "skipped"):
                    snapshots.add(kind)
                if len(snapshots) < len(WAITED) or not events.empty():
                    continue  # judge on a complete, current picture
                if self._judge(pending, outcomes, last_message, self.clock() - last_progress >= PROGRESS_EVERY):
                    last_progress = self.clock()
        finally:
            stop.set()
        return outcomes

    def _judge(self, pending: Sequence[str], outcomes: Dict[str, Any], last_message: Dict[str, str], quiet: bool) -> bool:
        """One pass over the services still pending; True when a progress line was said."""
        said = False
        warnings = _WarningEvents(self.client, self.namespace)  # listed once per pass, if anything failed
        for name in pending:
            state = self._state(name)
            if state.ready or state.phase == _readiness.STOPPED:
                outcomes[name] = self.summary(name, state)
            elif state.failed:
                outcomes[name] = self._failure(name, state, warnings)
            elif state.message != last_message.get(name) or quiet:
                self._say(name, ("stalled, still waiting: " if state.stalled else "") + state.message)
                last_message[name] = state.message
                said = True
        return said

    def _say(self, name: str, line: str) -> None:
        self.progress(line if len(self.names) == 1 else "{0}: {1}".format(name, line))

    def summary(self, name: str, state: _readiness.State) -> Dict[str, Any]:
        result = _readiness.summarize(self.isvcs.get(name) or {}, self._owned(self.deployments, name))
        result.update({"ready": state.ready, "state": state.phase, "message": state.message,
                       "watch_restarts": self.watch_restarts,
                       "change": _readiness.change_of(self.baselines.get(name), self.isvcs.get(name) or {})})
        if self.notes:
            result["notes"] = list(self.notes)
        return result

    def _failure(self, name: str, state: _readiness.State, warnings: "_WarningEvents") -> WaitFailed:
        details: Dict[str, Any] = dict(state.details)
        details["warning_events"] = warnings.about(self._related_names(name))
        details["status"] = self.summary(name, state) if name in self.isvcs else None
        message = "InferenceService {0}/{1} failed: {2}".format(self.namespace, name, state.message)
        return WaitFailed(message, state.reason, **details)

    def _timeout(self, name: str, last_message: str, warnings: "_WarningEvents") -> WaitTimeout:
        state = self._state(name)
        owned = self._owned(self.deployments, name), self._owned(self.pods, name)
        return WaitTimeout(
            "InferenceService {0}/{1} was not ready after {2:g} s: {3}".format(
                self.namespace, name, self.timeout, state.message or last_message),
            reason=state.reason,
            status=self.summary(name, state) if name in self.isvcs else None,
            signals=_readiness.signals(self.isvcs.get(name), owned[0], owned[1], self.baselines.get(name)),
            warning_events=warnings.about(self._related_names(name)))

    def _related_names(self, name: str) -> Set[str]:
        """The service's name and those of its Deployments and Pods: the objects its events are about (the
        ReplicaSets of its Deployments, whose FailedCreate events tell why no pod exists, are matched by prefix)."""
        return {name} | {o["metadata"]["name"] for o in self._owned(self.deployments, name) + self._owned(self.pods, name)}


def _discover(client: KubeClient) -> None:
    """The API discovery of the watched kinds, once, before the watch threads share the client."""
    for kind_version in WATCHED:
        client.resource(*kind_version)


def wait_at_once(client: KubeClient, waiters: Sequence[InferenceServiceWaiter]) -> List[Dict[str, Any]]:
    """``wait_all`` of each waiter (one namespace each), all at the same time on one client: a batch over many
    namespaces waits as long as its slowest namespace, not as long as all of them in turn. With several namespaces,
    one list and one watch per kind for the whole cluster feed every waiter (_ClusterWatches), where the credentials
    allow it; else each namespace has its own. At most NAMESPACES_AT_ONCE are judged together; a namespace that has to
    wait for a free slot starts its own timeout when it starts. A waiter that cannot go on (RBAC, a lost apiserver) has
    its error as the outcome of each of its names; the others go on."""
    _discover(client)
    namespaces = [waiter.namespace for waiter in waiters]
    shared = _ClusterWatches.start(client, waiters) if len(set(namespaces)) == len(namespaces) > 1 else None
    # a namespace's own watches: three each, and those of finished namespaces still open until the server ends them
    client.keep_connections(len(WAITED) + 4 if shared else len(WAITED) * len(waiters) + 4)

    def outcomes_of(waiter: InferenceServiceWaiter) -> Dict[str, Any]:
        try:
            return waiter.wait_all(shared.events_of(waiter) if shared else None)
        except AmlKserveError as error:
            return {name: error for name in waiter.names}
        finally:
            if shared:
                shared.done(waiter)

    try:
        if len(waiters) == 1:
            return [outcomes_of(waiters[0])]
        with ThreadPoolExecutor(max_workers=min(len(waiters), NAMESPACES_AT_ONCE), thread_name_prefix="wait") as pool:
            return list(pool.map(outcomes_of, waiters))
    finally:
        if shared:
            shared.stop.set()


class _ClusterWatches:
    """One watch per kind over all namespaces, each event handed to the waiter of its object's namespace: a wait over
    50 namespaces sends 3 lists and 3 watches (and their renewals), not 150 of each. A list is split into one snapshot
    per namespace (empty where it found nothing); a restart, an error or a skipped kind goes to every waiter."""

    def __init__(self, queues: Dict[str, "queue.Queue[Any]"]) -> None:
        self.queues = queues
        self.stop = threading.Event()

    @classmethod
    def start(cls, client: KubeClient, waiters: Sequence[InferenceServiceWaiter]) -> "Optional[_ClusterWatches]":
        """The watches, started; None when a kind cannot be listed across namespaces (a Role per namespace): then each
        namespace is watched on its own, as its credentials allow."""
        selectors = _selectors(sorted({name for waiter in waiters for name in waiter.names}))
        listings = {}
        for kind_version, (by_field, by_label) in selectors.items():
            try:
                listings[kind_version] = client.list(kind_version, None, by_label, by_field)
            except KubernetesError:
                return None
        shared = cls({waiter.namespace: queue.Queue() for waiter in waiters})
        for kind_version, (by_field, by_label) in selectors.items():
            _Watch(client, kind_version, None, shared, shared.stop, field_selector=by_field, label_selector=by_label,
                   optional=kind_version == POD, listing=listings[kind_version]).start()
        return shared

    def events_of(self, waiter: InferenceServiceWaiter) -> "queue.Queue[Any]":
        return self.queues[waiter.namespace]

    def done(self, waiter: InferenceServiceWaiter) -> None:
        self.queues.pop(waiter.namespace, None)  # its events are no longer kept

    def put(self, event: Tuple[str, str, Any]) -> None:
        """What a _Watch sends to its queue, routed by namespace."""
        what, kind, payload = event
        queues = dict(self.queues)  # a waiter may finish meanwhile
        if what == "snapshot":
            split: Dict[str, List[Dict[str, Any]]] = {namespace: [] for namespace in queues}
            for obj in payload:
                split.get((obj.get("metadata") or {}).get("namespace"), []).append(obj)
            for namespace, events in queues.items():
                events.put((what, kind, split[namespace]))
        elif what in ("ADDED", "MODIFIED", "DELETED"):
            events = queues.get((payload.get("metadata") or {}).get("namespace"))
            if events is not None:
                events.put(event)
        else:
            for events in queues.values():
                events.put(event)


class _WarningEvents:
    """The namespace's Warning events, listed at most once however many services fail together; best effort
    (RBAC may not allow it)."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.listing: Optional[List[Dict[str, Any]]] = None

    def about(self, names: Set[str]) -> List[Dict[str, Any]]:
        """The ten most recent Warning events about any of ``names``."""
        if self.listing is None:
            try:
                self.listing = items(self.client.list(EVENT, self.namespace, field_selector="type=Warning"))
            except KubernetesError:
                self.listing = []
        found = [
            {"object": "{0}/{1}".format(e.get("involvedObject", {}).get("kind"), e.get("involvedObject", {}).get("name")),
             "reason": e.get("reason"), "message": e.get("message"), "count": e.get("count", 1),
             "last_timestamp": e.get("lastTimestamp") or e.get("eventTime")}
            for e in self.listing if _about(e.get("involvedObject") or {}, names)
        ]
        found.sort(key=lambda e: str(e["last_timestamp"] or ""))  # listed by name; the most recent are wanted
        return found[-10:]


def _about(involved: Dict[str, Any], names: Set[str]) -> bool:
    """The event is about one of ``names``, or about a ReplicaSet of a Deployment among them (``<deployment>-<hash>``)."""
    name = involved.get("name") or ""
    if name in names:
        return True
    return involved.get("kind") == "ReplicaSet" and name.rsplit("-", 1)[0] in names
