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
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.aml.kserve.plugins.module_utils import _readiness
from ansible_collections.aml.kserve.plugins.module_utils._errors import KubernetesError, WaitFailed, WaitTimeout
from ansible_collections.aml.kserve.plugins.module_utils._k8s import DEPLOYMENT, EVENT, ISVC, POD, KubeClient, items

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError as Urllib3HTTPError
except ImportError:  # the module reports the missing library before we get here
    pass

ISVC_LABEL = "serving.kserve.io/inferenceservice"
WATCH_SECONDS = 50          # server-side timeout of one watch request; it is then renewed
RECONNECT_DELAY = 0.5       # after a lost connection, before listing again
PROGRESS_EVERY = 15.0       # seconds between progress lines when nothing changes


class _Watch(threading.Thread):
    """List, then watch from the list's resourceVersion; on expiry or a lost connection, list again."""

    def __init__(self, client: KubeClient, kind_version: Tuple[str, str], namespace: str, events: "queue.Queue[Any]",
                 stop: threading.Event, field_selector: Optional[str] = None, label_selector: Optional[str] = None,
                 optional: bool = False) -> None:
        super().__init__(daemon=True, name="watch-" + kind_version[0])
        self.client, self.kind_version, self.namespace = client, kind_version, namespace
        self.events, self.stop_event = events, stop
        self.field_selector, self.label_selector = field_selector, label_selector
        self.optional = optional
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
        self.events.put(("snapshot", self.kind_version[0], items(listing)))
        return (listing.get("metadata") or {}).get("resourceVersion")

    def run(self) -> None:
        try:
            version = self.list_now()
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
                return self.list_now()
            except KubernetesError as err:
                if err.details.get("status") in (401, 403, 404):
                    self.events.put(("error", self.kind_version[0], err))
                    return None
        return None


class InferenceServiceWaiter:
    """Wait until the InferenceService is Ready for its generation and rolled out, or has failed for certain."""

    def __init__(self, client: KubeClient, namespace: str, name: str, timeout: float,
                 progress: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.namespace, self.name = client, namespace, name
        self.timeout, self.progress, self.clock = timeout, progress, clock
        self.isvc: Optional[Dict[str, Any]] = None
        self.deployments: Dict[str, Dict[str, Any]] = {}
        self.pods: Dict[str, Dict[str, Any]] = {}
        self.watch_restarts = 0
        self.notes: List[str] = []

    def _apply(self, what: str, kind: str, payload: Any) -> None:
        store = {"Deployment": self.deployments, "Pod": self.pods}.get(kind)
        if what == "snapshot":
            if kind == "InferenceService":
                self.isvc = payload[0] if payload else None
            else:
                store.clear()
                store.update({o["metadata"]["name"]: o for o in payload})
        elif what in ("ADDED", "MODIFIED"):
            if kind == "InferenceService":
                self.isvc = payload
            else:
                store[payload["metadata"]["name"]] = payload
        elif what == "DELETED":
            if kind == "InferenceService":
                self.isvc = None
            else:
                store.pop(payload["metadata"]["name"], None)
        elif what == "restart":
            self.watch_restarts += 1
            self.progress("{0} watch restarted ({1}); listing again".format(kind, payload))
        elif what == "skipped":
            self.notes.append("{0}s not checked: {1}".format(kind, payload))
        elif what == "error":
            raise payload

    def wait(self) -> Dict[str, Any]:
        deadline = self.clock() + self.timeout
        events: "queue.Queue[Any]" = queue.Queue()
        stop = threading.Event()
        selector = "{0}={1}".format(ISVC_LABEL, self.name)
        watches = [
            _Watch(self.client, ISVC, self.namespace, events, stop, field_selector="metadata.name=" + self.name),
            _Watch(self.client, DEPLOYMENT, self.namespace, events, stop, label_selector=selector),
            _Watch(self.client, POD, self.namespace, events, stop, label_selector=selector, optional=True),
        ]
        for kind_version in (ISVC, DEPLOYMENT, POD, EVENT):
            self.client.resource(*kind_version)  # discovery once, before the threads share the client
        for watch in watches:
            watch.start()
        snapshots = set()
        last_message, last_progress = "", self.clock()
        try:
            while True:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise self._timeout(last_message)
                try:
                    what, kind, payload = events.get(timeout=min(remaining, PROGRESS_EVERY))
                except queue.Empty:
                    self.progress("still waiting: {0}".format(last_message))
                    last_progress = self.clock()
                    continue
                self._apply(what, kind, payload)
                if what in ("snapshot", "skipped"):
                    snapshots.add(kind)
                if len(snapshots) < len(watches) or not events.empty():
                    continue  # judge on a complete, current picture
                state = _readiness.overall(self.isvc, list(self.deployments.values()), list(self.pods.values()))
                if state.ready:
                    return self.summary(state)
                if state.failed:
                    raise self._failure(state)
                if state.message != last_message or self.clock() - last_progress >= PROGRESS_EVERY:
                    self.progress(state.message)
                    last_message, last_progress = state.message, self.clock()
        finally:
            stop.set()

    def summary(self, state: _readiness.State) -> Dict[str, Any]:
        result = _readiness.summarize(self.isvc or {}, list(self.deployments.values()))
        result.update({"ready": state.ready, "state": state.phase, "message": state.message,
                       "watch_restarts": self.watch_restarts})
        if self.notes:
            result["notes"] = list(self.notes)
        return result

    def _failure(self, state: _readiness.State) -> WaitFailed:
        details: Dict[str, Any] = dict(state.details)
        details["warning_events"] = self._warning_events()
        details["status"] = self.summary(state) if self.isvc else None
        message = "InferenceService {0}/{1} failed: {2}".format(self.namespace, self.name, state.message)
        return WaitFailed(message, state.reason, **details)

    def _timeout(self, last_message: str) -> WaitTimeout:
        state = _readiness.overall(self.isvc, list(self.deployments.values()), list(self.pods.values()))
        return WaitTimeout(
            "InferenceService {0}/{1} was not ready after {2:g} s: {3}".format(
                self.namespace, self.name, self.timeout, state.message or last_message),
            status=self.summary(state) if self.isvc else None, warning_events=self._warning_events())

    def _warning_events(self) -> List[Dict[str, Any]]:
        """Recent Warning events of the service, its Deployments and Pods; best effort (RBAC may not allow it)."""
        names = {self.name} | set(self.deployments) | set(self.pods)
        try:
            listing = self.client.list(EVENT, self.namespace, field_selector="type=Warning")
        except KubernetesError:
            return []
        found = [
            {"object": "{0}/{1}".format(e.get("involvedObject", {}).get("kind"), e.get("involvedObject", {}).get("name")),
             "reason": e.get("reason"), "message": e.get("message"), "count": e.get("count", 1),
             "last_timestamp": e.get("lastTimestamp") or e.get("eventTime")}
            for e in items(listing) if e.get("involvedObject", {}).get("name") in names
        ]
        return found[-10:]
