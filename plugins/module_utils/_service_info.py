# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""What inference_service_info does: a read of InferenceServices with their summaries, or a wait on them, in one
namespace or across namespaces (the waits all at once, _waiter.wait_at_once)."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.aml.kserve.plugins.module_utils import _k8s, _readiness
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, ValidationError, WaitFailed, WaitTimeout, as_result
from ansible_collections.aml.kserve.plugins.module_utils._k8s import KubeClient
from ansible_collections.aml.kserve.plugins.module_utils._waiter import ISVC_LABEL, InferenceServiceWaiter, wait_at_once


def services_result(client: KubeClient, params: Dict[str, Any], echo: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """The module's result; ``echo`` shows progress lines as they happen (the action plugin passes Display's)."""
    result = _services_result(client, params, echo)
    if not params.get("return_resource", True):
        for summary in result.get("inference_services") or []:
            summary.pop("resource", None)  # inference_service is one of these
    return result


def _services_result(client: KubeClient, params: Dict[str, Any], echo: Optional[Callable[[str], None]]) -> Dict[str, Any]:
    rules = wait_rules(params)  # a malformed expression fails here, before any request
    if params["services"] is not None:
        return _across_namespaces(client, params, rules, echo)
    namespace, name, names = params["namespace"], params["name"], params["names"]
    result = {"changed": False}
    if params["pod_security"]:
        result["pod_security_level"] = client.pod_security_level(namespace)
    if params["wait"]:
        result.update(_wait(client, namespace, name, names, params["wait_timeout"], echo, rules,
                            _baselines(name, params)))
        return result
    summaries = _read(client, namespace, name, names, params["label_selector"])
    result["inference_services"] = summaries
    if name and summaries:
        result["inference_service"] = summaries[0]
    return result


def existing(client: KubeClient, namespace: str, names: List[str], pod_security: bool) -> Dict[str, Any]:
    """What exists of ``names`` in ``namespace`` (as the module's O(names) read returns it) and, when asked, the
    namespace's Pod Security level (None when it cannot be read): the deploy role's read before its look-ups."""
    found: Dict[str, Any] = {"inference_services": _read(client, namespace, names=names)}
    if pod_security:
        found["pod_security_level"] = client.pod_security_level(namespace)
    return found


def _read(client: KubeClient, namespace: str, name: Optional[str] = None, names: Optional[List[str]] = None,
          label_selector: Optional[str] = None) -> List[Dict[str, Any]]:
    if names is not None:
        services = [s for s in _k8s.items(client.list(_k8s.ISVC, namespace)) if s["metadata"]["name"] in names]
    else:
        selector = None if name else label_selector
        field_selector = "metadata.name=" + name if name else None
        services = _k8s.items(client.list(_k8s.ISVC, namespace, label_selector=selector, field_selector=field_selector))
    found = [isvc["metadata"]["name"] for isvc in services]
    deployments = _k8s.items(client.list(_k8s.DEPLOYMENT, namespace, label_selector="{0} in ({1})".format(
        ISVC_LABEL, ",".join(found)))) if found else []  # one listing for all of them, not one per service
    summaries = []
    for isvc in services:
        owned = [d for d in deployments
                 if ((d.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL) == isvc["metadata"]["name"]]
        summaries.append(_readiness.summarize(isvc, owned))
    return summaries


def wait_rules(params: Dict[str, Any]) -> _readiness.Rules:
    """The wait's rules from the options; expressions compiled (ValidationError names the option)."""
    problems, compiled = [], {}
    for option in ("ready_when", "fail_when"):
        try:
            compiled[option] = _readiness.compile_expression(params.get(option), option)
        except ValidationError as error:
            problems.extend(error.problems)
    if params.get("settle_seconds") is not None and params["settle_seconds"] < 0:
        problems.append("settle_seconds ({0}) must not be negative".format(params["settle_seconds"]))
    if problems:
        raise ValidationError(problems)
    return _readiness.Rules(settle_seconds=params.get("settle_seconds", 20.0),
                            trust_observed_generation=bool(params.get("trust_observed_generation")), **compiled)


def _baselines(name: Optional[str], params: Dict[str, Any]) -> Dict[str, _readiness.Baseline]:
    if name:
        return {name: _readiness.Baseline.from_record(params.get("baseline"))}
    return {each: _readiness.Baseline.from_record(record) for each, record in (params.get("baselines") or {}).items()}


def _wait(client: KubeClient, namespace: str, name: Optional[str], names: Optional[List[str]], timeout: int,
          echo: Optional[Callable[[str], None]], rules: _readiness.Rules, baselines: Dict[str, _readiness.Baseline]) -> Dict[str, Any]:
    started = time.monotonic()
    progress: List[str] = []
    report = _reporter(started, progress, echo, namespace + "/" + name if name else namespace, says_where=False)
    waiter = InferenceServiceWaiter(client, namespace, [name] if name else names, timeout, report,
                                    baselines=baselines, rules=rules)
    if name:
        try:
            summary = waiter.wait()
        except (WaitFailed, WaitTimeout) as error:
            error.details["progress"] = progress  # what it went through, with the failure
            raise
        report(summary["message"])
        return dict(inference_services=[summary], inference_service=summary, progress=progress,
                    waited=round(time.monotonic() - started, 3))
    outcomes = waiter.wait_all()
    services = [_outcome_entry(namespace, each, outcomes[each]) for each in waiter.names]  # in the order asked
    report(_tally(services))
    return _after_wait(services, progress, started, "in " + namespace)


def _across_namespaces(client: KubeClient, params: Dict[str, Any], rules: _readiness.Rules,
                       echo: Optional[Callable[[str], None]]) -> Dict[str, Any]:
    """O(services): one read, or one wait, per namespace, the waits all at once."""
    if params["pod_security"]:
        raise ValidationError(["pod_security reads the level of one namespace: give namespace (and name or names), "
                               "not services"])
    by_namespace = {}
    for service in params["services"]:
        by_namespace.setdefault(service["namespace"], {})[service["name"]] = service.get("baseline")
    if not params["wait"]:
        found = {}
        for namespace, names in by_namespace.items():
            for summary in _read(client, namespace, names=list(names)):
                found[(namespace, summary["name"])] = summary
        return {"changed": False, "inference_services": [found[(s["namespace"], s["name"])] for s in params["services"]
                                                         if (s["namespace"], s["name"]) in found]}
    started = time.monotonic()
    progress: List[str] = []
    # interleaved across namespaces, so each progress line says where (the waiter names a service among several)
    waiters = [InferenceServiceWaiter(client, namespace, list(records), params["wait_timeout"],
                                      _reporter(started, progress, echo, namespace + "/" + next(iter(records))
                                                if len(records) == 1 else namespace, says_where=True), rules=rules,
                                      baselines={n: _readiness.Baseline.from_record(r) for n, r in records.items()})
               for namespace, records in by_namespace.items()]
    outcomes = {}
    for waiter, found in zip(waiters, wait_at_once(client, waiters)):
        outcomes[waiter.namespace] = found
        if len(found) == 1 and not isinstance(found[waiter.names[0]], AmlKserveError):
            waiter.progress(found[waiter.names[0]]["message"])  # as a wait for one service ends
    services = [_outcome_entry(s["namespace"], s["name"], outcomes[s["namespace"]][s["name"]]) for s in params["services"]]
    where = "in " + waiters[0].namespace if len(waiters) == 1 else "in {0} namespaces".format(len(waiters))
    if len(services) > 1:
        progress.append("{0:.1f}s {1} {2}".format(time.monotonic() - started, _tally(services), where))
        if echo is not None:
            echo(progress[-1])
    return _after_wait(services, progress, started, where)


def _reporter(started: float, progress: List[str], echo: Optional[Callable[[str], None]], where: str,
              says_where: bool) -> Callable[[str], None]:
    """A waiter's progress callback: each line kept with its time (and where, when the lines of several namespaces
    interleave), and shown through ``echo`` as it happens, always with where."""
    def report(line: str) -> None:
        elapsed = "{0:.1f}s".format(time.monotonic() - started)
        progress.append("{0} {1}: {2}".format(elapsed, where, line) if says_where else "{0} {1}".format(elapsed, line))
        if echo is not None:
            echo("{0}: {1} {2}".format(where, elapsed, line))
    return report


def _outcome_entry(namespace: str, name: str, outcome: Any) -> Dict[str, Any]:
    """A service's entry after a wait: its summary, or why it is not ready (KServe's reason, timeout, or read)."""
    if not isinstance(outcome, AmlKserveError):
        return outcome
    if isinstance(outcome, WaitFailed):
        state, reason = "failed", outcome.reason
    elif isinstance(outcome, WaitTimeout):
        state, reason = "timeout", outcome.details.get("reason") or "timeout"
    else:  # the namespace could not be watched (RBAC, a lost apiserver)
        state, reason = "failed", "read"
    return dict(as_result(outcome), name=name, namespace=namespace, ready=False, state=state, reason=reason,
                message=outcome.msg)


def _tally(services: List[Dict[str, Any]]) -> str:
    failed = sum(1 for s in services if s.get("state") in ("failed", "timeout"))
    stopped = sum(1 for s in services if s.get("state") == _readiness.STOPPED)
    return "{0} of {1} ready{2}".format(len(services) - failed - stopped, len(services),
                                        ", {0} stopped".format(stopped) if stopped else "")


def _after_wait(services: List[Dict[str, Any]], progress: List[str], started: float, where: str) -> Dict[str, Any]:
    summary = dict(inference_services=services, progress=progress, waited=round(time.monotonic() - started, 3))
    failed = [s for s in services if s.get("state") in ("failed", "timeout")]
    if failed:
        reasons = {s.get("reason") for s in failed}
        raise WaitFailed("{0} of {1} InferenceServices {2} are not ready: {3}".format(
            len(failed), len(services), where, "; ".join(s["message"] for s in failed)),
            # their reason when they share one (KServe's, such as ModelLoadFailed), else NotReady
            reasons.pop() if len(reasons) == 1 and None not in reasons else "NotReady", **summary)
    return summary
