# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the watch-based waiter (``_waiter``): its recovery from expired and lost watches, optional Pod
watches, the Warning events it attaches to failures, and its timeout.

``FakeKube`` stands in for ``_k8s.KubeClient`` (``resource``, ``list``, ``watch``): the waiter's logic is pure given
what the client returns, so an in-memory script of list answers and watch streams is enough. Errors are raised as
``KubeClient`` raises them: a refused request as ``KubernetesError`` with ``status`` in its details, a stream that
breaks mid-way as the raw urllib3/OS error (``KubeClient.watch`` does not wrap the iteration).
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Optional

import pytest
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from ansible_collections.aml.kserve.plugins.module_utils import _readiness, _waiter
from ansible_collections.aml.kserve.plugins.module_utils._errors import KubernetesError, WaitFailed, WaitTimeout
from ansible_collections.aml.kserve.plugins.module_utils._k8s import DEPLOYMENT, EVENT, ISVC, POD

NS = "team-a"
LABEL = "serving.kserve.io/inferenceservice"
T0 = "2025-11-26T09:00:00Z"
NOT_AVAILABLE = "PredictorReady is False: MinimumReplicasUnavailable Deployment does not have minimum availability."
LOAD_ERROR = "OSError: /mnt/models does not appear to have a file named config.json"


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_waiter, "RECONNECT_DELAY", 0.01)


# -- objects as KServe and the controllers write them --------------------------------------------------------------


def isvc(name: str, phase: str = "ready", rv: str = "1") -> Dict[str, Any]:
    """``ready``, ``progressing`` (first raw rollout) or ``failed`` (BlockedByFailedLoad)."""
    ready = phase == "ready"
    predictor = {"type": "PredictorReady", "status": "True"} if ready else {
        "type": "PredictorReady", "status": "False", "reason": "MinimumReplicasUnavailable",
        "message": "Deployment does not have minimum availability."}
    conditions = [
        {"type": "IngressReady", "status": "True", "lastTransitionTime": T0},
        dict(predictor, lastTransitionTime=T0),
        dict(predictor, type="Ready", lastTransitionTime=T0),
        {"type": "Stopped", "status": "False", "severity": "Info", "lastTransitionTime": T0},
    ]
    if ready:
        model_status: Dict[str, Any] = {"transitionStatus": "UpToDate",
                                        "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}}
    elif phase == "failed":
        model_status = {"transitionStatus": "BlockedByFailedLoad",
                        "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
                        "lastFailureInfo": {"reason": "ModelLoadFailed", "message": LOAD_ERROR, "exitCode": 1,
                                            "location": name + "-predictor-6b8f9c7d5-x2k9p", "time": T0}}
    else:
        model_status = {"transitionStatus": "InProgress",
                        "states": {"activeModelState": "", "targetModelState": "Pending"}}
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "resourceVersion": rv,
                     "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 1}},
        "status": {"observedGeneration": 1, "conditions": conditions, "deploymentMode": "Standard",
                   "url": "http://{0}-{1}.example.com".format(name, NS),
                   "address": {"url": "http://{0}-predictor.{1}.svc.cluster.local".format(name, NS)},
                   "modelStatus": model_status},
    }


def deployment(owner: str, rolled_out: bool = True) -> Dict[str, Any]:
    counts = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1} if rolled_out else {
        "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": owner + "-predictor", "namespace": NS, "generation": 1, "resourceVersion": "7",
                         "labels": {LABEL: owner, "component": "predictor"}},
            "spec": {"replicas": 1}, "status": dict(counts, observedGeneration=1)}


def pod_name(owner: str) -> str:
    return owner + "-predictor-6b8f9c7d5-x2k9p"


def pod(owner: str, crashing: bool = False) -> Dict[str, Any]:
    state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}} \
        if crashing else {"running": {"startedAt": T0}}
    status = {"name": "kserve-container", "ready": not crashing, "restartCount": 3 if crashing else 0, "state": state}
    if crashing:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "message": LOAD_ERROR}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(owner), "namespace": NS, "resourceVersion": "9",
                         "labels": {LABEL: owner, "pod-template-hash": "6b8f9c7d5"}},
            "status": {"phase": "Running", "containerStatuses": [status]}}


def warning(kind: str, name: str, reason: str, message: str, stamp: str = T0) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name + ".1879a0c2d1e0f", "namespace": NS},
            "involvedObject": {"apiVersion": "v1", "kind": kind, "name": name, "namespace": NS},
            "reason": reason, "message": message, "type": "Warning", "source": {"component": "kubelet"},
            "count": 3, "firstTimestamp": stamp, "lastTimestamp": stamp}


def forbidden(kind: str) -> KubernetesError:
    """As KubeClient.call raises a 403."""
    return KubernetesError(
        'Forbidden while listing {0} in {1}: {2}s is forbidden: User "system:serviceaccount:awx:deployer" cannot list '
        'resource "{2}s" in API group "" in the namespace "{1}". Grant that permission to the identity Ansible uses '
        "(the aml.kserve.rbac role sets up what the deploy role needs)".format(kind, NS, kind.lower()),
        status=403, reason="Forbidden")


def event(kind: str, obj: Dict[str, Any]) -> Dict[str, Any]:
    return {"type": kind, "object": obj}


EXPIRED = event("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": "too old resource version: 100 (250)", "reason": "Expired", "code": 410})


# -- the fake client -----------------------------------------------------------------------------------------------

Step = Any  # a watch event dict, an exception to raise, or a callable returning an event (it may block first)


class FakeKube:
    """The KubeClient interface the waiter uses, answering from scripts and counting calls.

    ``lists[kind]``: the answers to successive list calls (item lists or exceptions; the last one repeats).
    ``watches[kind]``: the steps of successive watch calls; once used up a watch idles briefly and ends, as a
    server-side watch timeout ends it.
    """

    def __init__(self, lists: Dict[str, List[Any]], watches: Optional[Dict[str, List[List[Step]]]] = None) -> None:
        self.lists = {k: list(v) for k, v in lists.items()}
        self.watches = {k: [list(s) for s in v] for k, v in (watches or {}).items()}
        self.lock = threading.Lock()
        self.list_count: Counter = Counter()
        self.watch_count: Counter = Counter()
        self.list_calls: List[tuple] = []
        self.watch_calls: List[tuple] = []
        self.discovered: List[tuple] = []
        self.list_threads: Dict[str, threading.Thread] = {}
        self.version = 100

    def resource(self, kind: str, api_version: str) -> None:
        self.discovered.append((kind, api_version))

    def list(self, kind_version: tuple, namespace: Optional[str] = None, label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> Dict[str, Any]:
        kind = kind_version[0]
        with self.lock:
            index = self.list_count[kind]
            self.list_count[kind] += 1
            self.list_calls.append((kind, namespace, label_selector, field_selector))
            self.list_threads[kind] = threading.current_thread()
            self.version += 5
            version = str(self.version)
        script = self.lists.get(kind) or [[]]
        answer = script[min(index, len(script) - 1)]
        if isinstance(answer, BaseException):
            raise answer
        return {"apiVersion": "v1", "kind": kind + "List", "items": copy.deepcopy(answer),
                "metadata": {"resourceVersion": version}}

    def watch(self, kind_version: tuple, namespace: Optional[str], resource_version: Optional[str], timeout: int,
              field_selector: Optional[str] = None, label_selector: Optional[str] = None) -> Any:
        kind = kind_version[0]
        with self.lock:
            self.watch_count[kind] += 1
            self.watch_calls.append((kind, resource_version, timeout, field_selector, label_selector))
            steps = self.watches[kind].pop(0) if self.watches.get(kind) else []
        for step in steps:
            if isinstance(step, BaseException):
                raise step
            if callable(step):
                step = step()
            yield copy.deepcopy(step)
        time.sleep(0.02)  # an idle watch: the server holds it open, then ends it

    # gates for steps that must come after another thread's work
    def wait_list_count(self, kind: str, count: int) -> None:
        deadline = time.monotonic() + 5
        while self.list_count[kind] < count:
            assert time.monotonic() < deadline, "{0} was not listed {1} times".format(kind, count)
            time.sleep(0.005)

    def wait_list_thread_done(self, kind: str, count: int) -> None:
        """After the ``count``-th list of ``kind``, until the thread that listed has ended (its events are queued)."""
        self.wait_list_count(kind, count)
        self.list_threads[kind].join(5)
        assert not self.list_threads[kind].is_alive()


def then(gate: Callable[[], None], step: Dict[str, Any]) -> Callable[[], Dict[str, Any]]:
    def run() -> Dict[str, Any]:
        gate()
        return step
    return run


def waiter(client: FakeKube, names: List[str], timeout: float = 5.0) -> tuple:
    lines: List[str] = []
    return _waiter.InferenceServiceWaiter(client, NS, names, timeout, lines.append), lines


# -- (a) (b) an expired or broken watch lists again ----------------------------------------------------------------

BROKEN_STREAMS = [
    ("expired-410", EXPIRED, "410"),
    ("protocol-error", ProtocolError("Connection broken: ConnectionResetError(104, 'Connection reset by peer')",
                                     ConnectionResetError(104, "Connection reset by peer")), "ProtocolError"),
    ("os-error", ConnectionResetError(104, "Connection reset by peer"), "ConnectionResetError"),
    ("read-timeout", ReadTimeoutError(None, "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices",
                                      "Read timed out."), "ReadTimeoutError"),
]


@pytest.mark.parametrize("breakage, shown", [c[1:] for c in BROKEN_STREAMS], ids=[c[0] for c in BROKEN_STREAMS])
def test_broken_isvc_watch_lists_again_and_still_succeeds(breakage: Any, shown: str) -> None:
    client = FakeKube(
        lists={"InferenceService": [[isvc("qwen", "progressing")]], "Deployment": [[deployment("qwen")]],
               "Pod": [[pod("qwen")]]},
        watches={"InferenceService": [[breakage], [event("MODIFIED", isvc("qwen", "ready", rv="300"))]]},
    )
    wait, lines = waiter(client, ["qwen"])
    result = wait.wait()
    assert result["ready"] is True and result["state"] == "ready"
    assert result["message"] == "Ready and rolled out"
    assert result["watch_restarts"] == 1
    assert "notes" not in result
    assert client.list_count["InferenceService"] == 2  # the first list, then once after the breakage
    assert client.list_count["Deployment"] == 1 and client.list_count["Pod"] == 1
    assert client.list_count["Event"] == 0  # nothing failed: no Warning events listed
    # the second watch resumes from the fresh list's resourceVersion, not the first one's
    isvc_watches = [c for c in client.watch_calls if c[0] == "InferenceService"]
    first_list_version, relist_version = isvc_watches[0][1], isvc_watches[1][1]
    assert int(relist_version) > int(first_list_version)
    assert isvc_watches[0][3] == "metadata.name=qwen"
    restarted = "InferenceService watch restarted ({0}); listing again".format(shown)
    assert lines.count(restarted) == 1
    assert set(lines) <= {restarted, NOT_AVAILABLE}  # the progress line depends on when the passes fall


def test_one_service_watches_by_name_and_label() -> None:
    client = FakeKube(lists={"InferenceService": [[isvc("qwen")]], "Deployment": [[deployment("qwen")]],
                             "Pod": [[pod("qwen")]]})
    wait, _events = waiter(client, ["qwen"])
    assert wait.wait()["ready"] is True
    assert sorted(set(client.list_calls)) == [
        ("Deployment", NS, LABEL + "=qwen", None),
        ("InferenceService", NS, None, "metadata.name=qwen"),
        ("Pod", NS, LABEL + "=qwen", None),
    ]
    assert client.discovered == [ISVC, DEPLOYMENT, POD, EVENT]


def test_relist_retries_a_lost_connection_until_it_lists() -> None:
    """A relist that cannot reach the API (KubernetesError without a status) is retried, not reported."""
    unreachable = KubernetesError("Cannot reach the Kubernetes API while listing InferenceService in team-a: "
                                  "Connection refused")
    client = FakeKube(
        lists={"InferenceService": [[isvc("qwen", "progressing")], unreachable, unreachable, [isvc("qwen", "ready")]],
               "Deployment": [[deployment("qwen")]], "Pod": [[pod("qwen")]]},
        watches={"InferenceService": [[ConnectionResetError(104, "Connection reset by peer")]]},
    )
    wait, _events = waiter(client, ["qwen"])
    result = wait.wait()
    assert result["ready"] is True
    assert result["watch_restarts"] == 1
    assert client.list_count["InferenceService"] == 4


# -- (c) (d) the optional Pod watch --------------------------------------------------------------------------------


def test_forbidden_pod_list_is_a_note_not_an_error() -> None:
    client = FakeKube(lists={"InferenceService": [[isvc("qwen")]], "Deployment": [[deployment("qwen")]],
                             "Pod": [forbidden("Pod")]})
    wait, _events = waiter(client, ["qwen"])
    result = wait.wait()
    assert result["ready"] is True
    assert result["watch_restarts"] == 0
    assert result["notes"] == ["Pods not checked: " + str(forbidden("Pod"))]
    assert client.watch_count["Pod"] == 0  # a forbidden optional watch is not watched


def test_pod_relist_forbidden_after_lost_connection_still_succeeds() -> None:
    client = FakeKube(
        lists={"InferenceService": [[isvc("qwen", "progressing")]], "Deployment": [[deployment("qwen")]],
               "Pod": [[pod("qwen")], forbidden("Pod")]},
        watches={"Pod": [[OSError("Connection reset by peer")]]},
    )
    # the service turns Ready only after the Pod watch lost its connection, was refused its relist and ended
    client.watches["InferenceService"] = [[then(lambda: client.wait_list_thread_done("Pod", 2),
                                                event("MODIFIED", isvc("qwen", "ready", rv="400")))]]
    wait, lines = waiter(client, ["qwen"])
    result = wait.wait()
    assert result["ready"] is True
    assert result["watch_restarts"] == 1
    assert result["notes"] == ["Pods not checked: " + str(forbidden("Pod"))]
    assert client.list_count["Pod"] == 2
    assert "Pod watch restarted (OSError); listing again" in lines


def test_required_watch_relist_forbidden_is_an_error() -> None:
    """Unlike Pods, Deployments must be readable: a relist refused with 403 ends the wait with that error."""
    client = FakeKube(
        lists={"InferenceService": [[isvc("qwen", "progressing")]],
               "Deployment": [[deployment("qwen")], forbidden("Deployment")],
               "Pod": [[pod("qwen")]]},
        watches={"Deployment": [[ConnectionResetError(104, "Connection reset by peer")]]},
    )
    wait, _events = waiter(client, ["qwen"])
    with pytest.raises(KubernetesError) as caught:
        wait.wait()
    assert caught.value.details["status"] == 403
    assert client.list_count["Deployment"] == 2


# -- (e) several services fail in one pass: one Event list, each its own events ------------------------------------

EVENTS = [
    warning("Pod", pod_name("alpha"), "BackOff", "Back-off restarting failed container kserve-container"),
    warning("Pod", pod_name("beta"), "BackOff", "Back-off restarting failed container kserve-container"),
    warning("Deployment", "beta-predictor", "FailedCreate", "Error creating: pods is forbidden: exceeded quota"),
    warning("InferenceService", "beta", "InternalError", "fails to reconcile predictor"),
    warning("Pod", pod_name("gamma"), "Unhealthy", "Readiness probe failed: connection refused"),
    warning("Pod", "unrelated-7d9f-abcde", "FailedMount", "MountVolume.SetUp failed"),
]


def shown(e: Dict[str, Any]) -> Dict[str, Any]:
    return {"object": "{0}/{1}".format(e["involvedObject"]["kind"], e["involvedObject"]["name"]), "reason": e["reason"],
            "message": e["message"], "count": 3, "last_timestamp": T0}


def test_failures_in_one_pass_list_events_once_each_with_its_own() -> None:
    names = ["alpha", "beta", "gamma"]
    client = FakeKube(lists={
        "InferenceService": [[isvc("alpha", "failed"), isvc("beta", "failed"), isvc("gamma", "ready")]],
        "Deployment": [[deployment(n, rolled_out=n == "gamma") for n in names]],
        "Pod": [[pod("alpha", crashing=True), pod("beta", crashing=True), pod("gamma")]],
        "Event": [EVENTS],
    })
    wait, _events = waiter(client, names)
    outcomes = wait.wait_all()
    assert client.list_count["Event"] == 1
    assert [c for c in client.list_calls if c[0] == "Event"] == [("Event", NS, None, "type=Warning")]
    selector = LABEL + " in (alpha,beta,gamma)"
    assert ("Deployment", NS, selector, None) in client.list_calls and ("InferenceService", NS, None, None) in client.list_calls

    alpha, beta, gamma = (outcomes[n] for n in names)
    assert isinstance(alpha, WaitFailed) and isinstance(beta, WaitFailed)
    assert alpha.reason == "ModelLoadFailed"
    assert alpha.msg.startswith("InferenceService team-a/alpha failed: the model failed to load: " + LOAD_ERROR)
    assert alpha.details["warning_events"] == [shown(EVENTS[0])]
    assert beta.details["warning_events"] == [shown(e) for e in EVENTS[1:4]]
    assert alpha.details["pod"] == pod_name("alpha") and alpha.details["last_exit_code"] == 1
    assert alpha.details["status"]["name"] == "alpha" and alpha.details["status"]["ready"] is False
    assert gamma["ready"] is True and gamma["name"] == "gamma"


def test_failures_in_later_passes_list_events_again() -> None:
    """At most once per judging pass: a service that fails in a later pass gets a fresh listing."""
    names = ["alpha", "beta", "gamma"]
    client = FakeKube(lists={
        "InferenceService": [[isvc("alpha", "failed"), isvc("beta", "failed"), isvc("gamma", "progressing")]],
        "Deployment": [[deployment(n, rolled_out=False) for n in names]],
        "Pod": [[pod(n) for n in names]],
        "Event": [EVENTS[:4], EVENTS],
    })
    client.watches["InferenceService"] = [[then(lambda: client.wait_list_count("Event", 1),
                                                event("MODIFIED", isvc("gamma", "failed", rv="500")))]]
    wait, _events = waiter(client, names)
    outcomes = wait.wait_all()
    assert client.list_count["Event"] == 2
    assert all(isinstance(outcomes[n], WaitFailed) for n in names)
    assert outcomes["gamma"].details["warning_events"] == [shown(EVENTS[4])]
    assert outcomes["alpha"].details["warning_events"] == [shown(EVENTS[0])]


# -- (f) timeout ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("events, expected", [
    (forbidden("Event"), []),
    ([warning("Pod", pod_name("qwen"), "FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")],
     [{"object": "Pod/" + pod_name("qwen"), "reason": "FailedScheduling",
       "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", "count": 3, "last_timestamp": T0}]),
], ids=["events-forbidden", "events-listed"])
def test_timeout_reports_last_message_and_events(events: Any, expected: List[Dict[str, Any]]) -> None:
    client = FakeKube(lists={"InferenceService": [[isvc("qwen", "progressing")]],
                             "Deployment": [[deployment("qwen", rolled_out=False)]], "Pod": [[pod("qwen")]],
                             "Event": [events]})
    wait, lines = waiter(client, ["qwen"], timeout=0.3)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        wait.wait()
    assert 0.25 <= time.monotonic() - started < 3
    error = caught.value
    assert error.msg == "InferenceService team-a/qwen was not ready after 0.3 s: " + NOT_AVAILABLE
    assert error.details["warning_events"] == expected
    assert error.details["status"]["ready"] is False and error.details["status"]["state"] == "progressing"
    assert client.list_count["Event"] == 1
    assert lines == [NOT_AVAILABLE]  # and no "still waiting" line at the deadline: the timeout says it


def test_timeout_of_several_services_lists_events_once() -> None:
    client = FakeKube(lists={"InferenceService": [[isvc("alpha", "progressing"), isvc("beta", "progressing")]],
                             "Deployment": [[]], "Pod": [[]], "Event": [EVENTS]})
    wait, lines = waiter(client, ["alpha", "beta"], timeout=0.2)
    outcomes = wait.wait_all()
    assert all(isinstance(outcomes[n], WaitTimeout) for n in ("alpha", "beta"))
    assert client.list_count["Event"] == 1
    assert outcomes["beta"].details["warning_events"] == [shown(EVENTS[3])]
    assert sorted(lines) == ["alpha: " + NOT_AVAILABLE, "beta: " + NOT_AVAILABLE]


def test_service_missing_fails_at_once() -> None:
    client = FakeKube(lists={"InferenceService": [[]], "Deployment": [[]], "Pod": [[]], "Event": [[]]})
    wait, _events = waiter(client, ["qwen"])
    with pytest.raises(WaitFailed) as caught:
        wait.wait()
    assert caught.value.reason == "NotFound"
    assert caught.value.details["status"] is None and caught.value.details["warning_events"] == []


# -- _WarningEvents and _Watch on their own ------------------------------------------------------------------------


def test_warning_events_lists_once_and_keeps_the_last_ten() -> None:
    many = [warning("Pod", "p", "BackOff", "try {0}".format(i)) for i in range(12)]
    many.append({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Failed", "message": "new-style",
                 "eventTime": "2025-11-26T09:05:00.000000Z"})
    client = FakeKube(lists={"Event": [many]})
    warnings = _waiter._WarningEvents(client, NS)
    found = warnings.about({"p"})
    assert [e["message"] for e in found] == ["try {0}".format(i) for i in range(3, 12)] + ["new-style"]
    assert found[-1] == {"object": "Pod/p", "reason": "Failed", "message": "new-style", "count": 1,
                         "last_timestamp": "2025-11-26T09:05:00.000000Z"}
    assert warnings.about({"other"}) == []
    assert client.list_count["Event"] == 1


def test_warning_events_forbidden_is_listed_once_and_empty() -> None:
    client = FakeKube(lists={"Event": [forbidden("Event")]})
    warnings = _waiter._WarningEvents(client, NS)
    assert warnings.about({"a"}) == [] and warnings.about({"b"}) == []
    assert client.list_count["Event"] == 1


@pytest.mark.parametrize("optional, answers, expected_kinds, count", [
    (True, [forbidden("Pod")], ["skipped"], 1),
    (False, [forbidden("Pod")], ["error"], 1),
    (False, [KubernetesError("Kubernetes API error while listing Pod in team-a: 500 etcdserver: leader changed",
                             status=500), [pod("qwen")]], ["snapshot"], 2),
], ids=["optional-forbidden-skipped", "required-forbidden-error", "server-error-retried"])
def test_watch_relist(optional: bool, answers: List[Any], expected_kinds: List[str], count: int) -> None:
    client = FakeKube(lists={"Pod": answers})
    events: "queue.Queue[Any]" = queue.Queue()
    watch = _waiter._Watch(client, POD, NS, events, threading.Event(), label_selector=LABEL + "=qwen", optional=optional)
    version = watch._relist()
    queued = []
    while not events.empty():
        queued.append(events.get_nowait())
    assert [q[0] for q in queued] == expected_kinds
    assert all(q[1] == "Pod" for q in queued)
    assert client.list_count["Pod"] == count
    if expected_kinds == ["snapshot"]:
        assert version is not None and queued[0][2][0]["metadata"]["name"] == pod_name("qwen")
    else:
        assert version is None
        assert "Forbidden while listing Pod" in str(queued[0][2])


def test_watch_relist_stops_when_told() -> None:
    client = FakeKube(lists={"Pod": [KubernetesError("Cannot reach the Kubernetes API")]})
    stop = threading.Event()
    stop.set()
    watch = _waiter._Watch(client, POD, NS, queue.Queue(), stop, optional=True)
    assert watch._relist() is None
    assert client.list_count["Pod"] == 0


# -- the baseline: the waiter feeds it, the settle window wakes it -------------------------------------------------


def described(obj: Dict[str, Any], text: str) -> Dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["annotations"]["cpaas.io/description"] = text
    return obj


def test_stale_ready_after_a_metadata_change_waits_for_the_rollout() -> None:
    """The status still says Ready for the old pods (KServe 0.15/0.20 during a raw rollout); only the Deployment's
    move to generation 2 and its completed rollout end the wait."""
    before = described(isvc("qwen"), "v1")
    record = _readiness.baseline_of(before, [deployment("qwen")])
    rolled = deployment("qwen")
    rolled["metadata"]["generation"] = rolled["status"]["observedGeneration"] = 2
    rolling = copy.deepcopy(rolled)
    rolling["status"].update(replicas=2, updatedReplicas=1)
    client = FakeKube(
        lists={"InferenceService": [[described(isvc("qwen"), "v2")]], "Deployment": [[deployment("qwen")]], "Pod": [[]]},
        watches={"Deployment": [[then(lambda: time.sleep(0.3), event("MODIFIED", rolling)),
                                 then(lambda: time.sleep(0.2), event("MODIFIED", rolled))]]})
    lines: List[str] = []
    wait = _waiter.InferenceServiceWaiter(client, NS, ["qwen"], 5.0, lines.append,
                                          baselines={"qwen": _readiness.Baseline.from_record(record)})
    started = time.monotonic()
    result = wait.wait()
    assert time.monotonic() - started >= 0.45  # not at once on the stale Ready
    assert (result["ready"], result["change"], result["message"]) == (True, "metadata", "Ready and rolled out")
    assert lines[0].startswith("waiting for KServe to apply the metadata change to the predictor")
    assert "deployment qwen-predictor: 1 old replicas pending termination" in lines


def test_a_change_pushed_nowhere_ends_when_the_settle_window_does() -> None:
    """No event comes at all: the waiter wakes up at the end of the settle window and takes the current state."""
    before = isvc("qwen")
    record = _readiness.baseline_of(before, [deployment("qwen")])
    after = copy.deepcopy(before)
    after["metadata"]["generation"] = 2  # observedGeneration (the Deployment's) stays 1
    client = FakeKube(lists={"InferenceService": [[after]], "Deployment": [[deployment("qwen")]], "Pod": [[]]})
    wait = _waiter.InferenceServiceWaiter(client, NS, ["qwen"], 10.0, lambda line: None,
                                          baselines={"qwen": _readiness.Baseline.from_record(record)},
                                          rules=_readiness.Rules(settle_seconds=0.4))
    started = time.monotonic()
    result = wait.wait()
    assert 0.4 <= time.monotonic() - started < 2
    assert result["message"] == "Ready and rolled out (none: KServe changed no predictor workload within 0.4 s)"


def test_timeout_carries_every_signal_and_the_replicasets_events() -> None:
    rs_event = warning("ReplicaSet", "qwen-predictor-6b8f9c7d5", "FailedCreate", "Error creating: forbidden")
    client = FakeKube(lists={"InferenceService": [[isvc("qwen", "progressing")]],
                             "Deployment": [[deployment("qwen", rolled_out=False)]], "Pod": [[]],
                             "Event": [[rs_event, warning("ReplicaSet", "other-predictor-6b8f9c7d5", "FailedCreate", "x")]]})
    wait, _lines = waiter(client, ["qwen"], timeout=0.2)
    with pytest.raises(WaitTimeout) as caught:
        wait.wait()
    details = caught.value.details
    assert [e["object"] for e in details["warning_events"]] == ["ReplicaSet/qwen-predictor-6b8f9c7d5"]
    assert details["signals"]["conditions"]["PredictorReady"] == (
        "False MinimumReplicasUnavailable Deployment does not have minimum availability.")
    assert details["signals"]["deployments"][0]["state"] == "deployment qwen-predictor: 0 of 1 updated replicas available"
    assert details["reason"] == "MinimumReplicasUnavailable"


def test_stopped_is_an_outcome_of_its_own() -> None:
    stopped = isvc("qwen", "progressing")
    stopped["metadata"]["annotations"]["serving.kserve.io/stop"] = "true"
    client = FakeKube(lists={"InferenceService": [[stopped]], "Deployment": [[]], "Pod": [[]]})
    wait, _lines = waiter(client, ["qwen"])
    result = wait.wait()
    assert (result["ready"], result["state"]) == (False, "stopped")


# -- waits of several namespaces at once ---------------------------------------------------------------------------


class Namespaces:
    """One FakeKube per namespace behind one client, as one KubeClient serves a batch's namespaces; the identity has a
    Role in each namespace, so a list across namespaces is forbidden (each namespace is then watched on its own)."""

    def __init__(self, **by_namespace: FakeKube) -> None:
        self.by_namespace = by_namespace
        self.discovered: List[tuple] = []
        self.kept: List[int] = []
        self.cluster_lists: List[str] = []

    def resource(self, kind: str, api_version: str) -> None:
        self.discovered.append((kind, api_version))

    def keep_connections(self, count: int) -> None:
        self.kept.append(count)

    def list(self, kind_version: tuple, namespace: Optional[str] = None, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        if namespace is None:
            self.cluster_lists.append(kind_version[0])
            raise KubernetesError("Forbidden while listing {0}: cannot list at the cluster scope".format(kind_version[0]),
                                  status=403, reason="Forbidden")
        return self.by_namespace[namespace].list(kind_version, namespace, *args, **kwargs)

    def watch(self, kind_version: tuple, namespace: Optional[str], *args: Any, **kwargs: Any) -> Any:
        return self.by_namespace[namespace].watch(kind_version, namespace, *args, **kwargs)


def test_namespaces_are_waited_on_at_once_and_one_that_cannot_be_read_fails_alone() -> None:
    team_b = FakeKube(lists={"InferenceService": [[isvc("llama", "progressing")]], "Deployment": [[deployment("llama")]],
                             "Pod": [[pod("llama")]]},
                      watches={"InferenceService": [[event("MODIFIED", isvc("llama", "ready", rv="300"))]]})
    # qwen in team-a becomes ready only once team-b's wait has listed: waits one after the other would time it out
    team_a = FakeKube(lists={"InferenceService": [[isvc("qwen", "progressing")]], "Deployment": [[deployment("qwen")]],
                             "Pod": [[pod("qwen")]]},
                      watches={"InferenceService": [[then(lambda: team_b.wait_list_count("InferenceService", 1),
                                                          event("MODIFIED", isvc("qwen", "ready", rv="300")))]]})
    team_c = FakeKube(lists={"InferenceService": [forbidden("InferenceService")], "Deployment": [[]], "Pod": [[]]})
    client = Namespaces(**{"team-a": team_a, "team-b": team_b, "team-c": team_c})
    lines: List[str] = []
    waiters = [_waiter.InferenceServiceWaiter(client, ns, names, 3.0, lines.append)
               for ns, names in (("team-a", ["qwen"]), ("team-b", ["llama"]), ("team-c", ["mistral", "phi"]))]
    started = time.monotonic()
    found = _waiter.wait_at_once(client, waiters)
    assert time.monotonic() - started < 2.5, "not one after the other"
    assert [sorted(f) for f in found] == [["qwen"], ["llama"], ["mistral", "phi"]], "in the order of the waiters"
    assert (found[0]["qwen"]["ready"], found[1]["llama"]["ready"]) == (True, True)
    assert found[2]["mistral"] is found[2]["phi"] and isinstance(found[2]["phi"], KubernetesError)
    assert found[2]["phi"].details["status"] == 403
    # discovery once, before the threads; the cluster scope was refused at its first list, so a pool of connections
    # for three watches a namespace
    assert client.discovered[:4] == [ISVC, DEPLOYMENT, POD, EVENT] and client.kept == [3 * 3 + 4]
    assert client.cluster_lists == ["InferenceService"]


def test_more_namespaces_than_slots_each_get_their_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_waiter, "NAMESPACES_AT_ONCE", 2)
    spaces = {"ns{0}".format(i): FakeKube(lists={"InferenceService": [[isvc("m{0}".format(i))]],
                                                 "Deployment": [[deployment("m{0}".format(i))]], "Pod": [[]]})
              for i in range(5)}
    client = Namespaces(**spaces)
    waiters = [_waiter.InferenceServiceWaiter(client, ns, ["m" + ns[2:]], 3.0, lambda line: None) for ns in spaces]
    running, most = [], []
    lock = threading.Lock()
    wait_all = _waiter.InferenceServiceWaiter.wait_all

    def counted(self: _waiter.InferenceServiceWaiter, *args: Any) -> Dict[str, Any]:
        with lock:
            running.append(self.namespace)
            most.append(len(running))
        try:
            time.sleep(0.05)  # long enough for the others to start, if they may
            return wait_all(self, *args)
        finally:
            with lock:
                running.remove(self.namespace)

    monkeypatch.setattr(_waiter.InferenceServiceWaiter, "wait_all", counted)
    found = _waiter.wait_at_once(client, waiters)
    assert [f["m{0}".format(i)]["ready"] for i, f in enumerate(found)] == [True] * 5
    assert all(space.list_count["InferenceService"] == 1 for space in spaces.values())
    assert max(most) == 2, "two at once, never more"


def in_namespace(obj: Dict[str, Any], namespace: str) -> Dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    return obj


def test_several_namespaces_share_one_watch_per_kind_when_the_cluster_may_be_listed() -> None:
    """Lists and watches across namespaces (namespace None), each event judged by the waiter of its namespace."""
    client = FakeKube(
        lists={"InferenceService": [[in_namespace(isvc("qwen", "progressing"), "team-a"),
                                     in_namespace(isvc("llama", "ready"), "team-b"),
                                     in_namespace(isvc("qwen", "ready"), "team-z")]],  # not waited on: not judged
               "Deployment": [[in_namespace(deployment("qwen"), "team-a"), in_namespace(deployment("llama"), "team-b")]],
               "Pod": [[]]},
        watches={"InferenceService": [[event("MODIFIED", in_namespace(isvc("qwen", "failed", rv="300"), "team-a")),
                                       event("MODIFIED", in_namespace(isvc("qwen", "ready", rv="301"), "team-z"))],
                                      [], []]})
    kept: List[int] = []
    client.keep_connections = kept.append  # type: ignore[attr-defined]
    lines: List[str] = []
    waiters = [_waiter.InferenceServiceWaiter(client, ns, names, 3.0, lines.append)
               for ns, names in (("team-a", ["qwen"]), ("team-b", ["llama", "phi"]))]
    found = _waiter.wait_at_once(client, waiters)  # type: ignore[arg-type]
    assert isinstance(found[0]["qwen"], WaitFailed) and found[0]["qwen"].reason == "ModelLoadFailed"
    assert found[1]["llama"]["ready"] is True
    # phi is in no list: it does not exist in team-b
    assert isinstance(found[1]["phi"], WaitFailed) and "does not exist" in found[1]["phi"].msg
    # each waiter saw its own namespace's objects only
    for one in waiters:
        seen = list(one.isvcs.values()) + list(one.deployments.values())
        assert {o["metadata"]["namespace"] for o in seen} == {one.namespace}, one.namespace
    assert sorted(waiters[1].deployments) == ["llama-predictor"]
    # one list of each kind, across namespaces, the Deployments and Pods by the waited names' label
    assert sorted(c[:3] for c in client.list_calls if c[0] != "Event") == [
        ("Deployment", None, LABEL + " in (llama,phi,qwen)"), ("InferenceService", None, None),
        ("Pod", None, LABEL + " in (llama,phi,qwen)")]
    assert all(c[1] is not None for c in client.list_calls if c[0] == "Event")  # Warning events: the failed namespace's
    assert kept == [3 + 4]
