# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters behind playbooks/batch_deploy.yml: plan the shared look-ups of a batch, and report its outcome."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Mapping

from ansible.errors import AnsibleFilterError

# The role variables a shared runtime look-up depends on.
RUNTIME_KEYS = ("isvc_runtime_name", "isvc_runtime_class")
REPORT_FIELDS = ("service", "namespace", "result", "commit", "endpoint", "seconds", "reason")


def _effective(host_vars: Mapping[str, Any], defaults: Mapping[str, Any]) -> Dict[str, Any]:
    """A service's role variables: its batch entry, else its host/group variables, else the role's defaults."""
    entry = host_vars.get("isvc_batch_entry") or {}
    values = dict(defaults)
    values.update({k: v for k, v in host_vars.items() if k.startswith("isvc_")})
    values.update(entry)
    return values


def _key(values: Mapping[str, Any], names: tuple) -> str:
    return json.dumps([values.get(n) for n in names], sort_keys=True, default=str)


def batch_plan(hostvars: Mapping[str, Any], hosts: List[str], defaults: Mapping[str, Any]) -> Dict[str, Any]:
    """Each service's identity and what its look-ups depend on, and which namespaces need reading."""
    if not isinstance(defaults, Mapping):
        raise AnsibleFilterError("batch_plan: defaults must be the role's defaults (a dict)")
    services: Dict[str, Any] = {}
    namespaces: Dict[str, Any] = {}
    for host in hosts:
        values = _effective(hostvars[host], defaults)
        namespace = values.get("isvc_namespace") or ""
        ns = namespaces.setdefault(namespace, {"needs_gitlab_config": False, "needs_gitlab_secret": False})
        ns["needs_gitlab_config"] |= not values.get("isvc_gitlab_url")
        ns["needs_gitlab_secret"] |= not values.get("isvc_gitlab_token")
        services[host] = {
            "name": values.get("isvc_name") or host,
            "namespace": namespace,
            "gitlab_url": values.get("isvc_gitlab_url") or "",
            # never the token itself in the plan: tasks read it from this host's variables under no_log
            "token_host": host if values.get("isvc_gitlab_token") else "",
            "model_args": {"repo": values.get("isvc_model_repo") or "",
                           "search_namespace": values.get("isvc_model_search_namespace") or "amlmodels",
                           "project_path": values.get("isvc_model_project_path") or None,
                           "branch": values.get("isvc_model_repo_branch") or None,
                           "tag": values.get("isvc_model_repo_tag") or None,
                           "validate_certs": bool(values.get("isvc_gitlab_validate_certs", True)),
                           "ca_path": values.get("isvc_gitlab_ca_path") or None},
            "runtime_key": _key(values, RUNTIME_KEYS),
            "runtime": {"name": values.get("isvc_runtime_name") or None,
                        "runtime_class": values.get("isvc_runtime_class") or None},
        }
    return {"services": services, "namespaces": namespaces}


def batch_by_namespace(*registered: Mapping[str, Any]) -> Dict[str, Any]:
    """Objects by namespace (or by name, for Namespaces) from k8s_info results: a cluster-wide listing, or a loop
    of per-namespace reads; skipped or failed results count as nothing read."""
    found: Dict[str, Any] = {}
    for result in registered:
        if not isinstance(result, Mapping) or result.get("skipped") or result.get("failed"):
            continue
        parts = result.get("results") if "results" in result else [result]
        for part in parts or []:
            if part.get("skipped") or part.get("failed"):
                continue
            for obj in part.get("resources") or []:
                metadata = obj.get("metadata") or {}
                found[metadata.get("namespace") or metadata.get("name", "")] = obj
    return found


def _data(objects: Mapping[str, Any], namespace: str) -> Dict[str, Any]:
    return dict((objects.get(namespace) or {}).get("data") or {})


def batch_model_lookups(plan: Mapping[str, Any], configs: Mapping[str, Any], secrets: Mapping[str, Any],
                        hostvars: Mapping[str, Any]) -> Dict[str, Any]:
    """One GitLab resolution per (GitLab URL, token, model ref), whichever namespaces the services are in."""
    lookups: Dict[str, Dict[str, Any]] = {}
    service_keys: Dict[str, str] = {}
    for host, service in sorted(plan["services"].items()):
        config = _data(configs, service["namespace"])
        url = service["gitlab_url"] or (
            "{0}://{1}".format(config.get("MODEL_REPO_GIT_SCHEME") or "https", config["MODEL_REPO_GIT_BASE"])
            if config.get("MODEL_REPO_GIT_BASE") else "")
        if service["token_host"]:
            token_vars = hostvars[service["token_host"]]
            token = (token_vars.get("isvc_batch_entry") or {}).get("isvc_gitlab_token") or token_vars.get("isvc_gitlab_token") or ""
            source = {"host": service["token_host"], "namespace": ""}
        else:
            token = _data(secrets, service["namespace"]).get("MODEL_REPO_GIT_TOKEN", "")
            source = {"host": "", "namespace": service["namespace"]}
        identity = json.dumps([url, token, service["model_args"]], sort_keys=True)
        if identity not in lookups:
            lookups[identity] = {"key": "model-{0}".format(len(lookups) + 1), "api_url": url, "token_source": source,
                                 "args": service["model_args"]}
        service_keys[host] = lookups[identity]["key"]
    return {"lookups": list(lookups.values()), "service_keys": service_keys}


def batch_runtime_lookups(plan: Mapping[str, Any], models: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One runtime look-up per (runtime name, class, model format) among the services whose model resolved."""
    lookups: Dict[str, Dict[str, Any]] = {}
    for host, service in plan["services"].items():
        model = models.get(plan["model_keys"][host]) or {}
        if model.get("failed") or not model.get("library_name"):
            continue
        key = service["runtime_key"] + "|" + model["library_name"]
        lookups.setdefault(key, dict(service["runtime"], key=key, model_format=model["library_name"]))
    return sorted(lookups.values(), key=lambda item: item["key"])


def _flag(value: Any) -> bool:
    """A boolean role variable, also when an AWX survey or -e passed it as text."""
    return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)


def _service(vars_: Mapping[str, Any], host: str) -> Dict[str, str]:
    return {"host": host, "name": str(vars_.get("isvc_name") or host), "namespace": str(vars_.get("isvc_namespace") or "")}


def batch_wave_apply(hostvars: Mapping[str, Any], hosts: List[str]) -> List[Dict[str, Any]]:
    """The wave's rendered InferenceServices still to apply, grouped by the server-side apply options they share.

    Left out: services that already failed (they have isvc_batch_outcome) and render-only ones."""
    groups: Dict[str, Dict[str, Any]] = {}
    for host in hosts:
        vars_ = hostvars[host]
        rendered = vars_.get("isvc_rendered") or {}
        if vars_.get("isvc_batch_outcome") or _flag(vars_.get("isvc_render_only")) or "resource" not in rendered:
            continue
        manager, force = str(vars_.get("isvc_field_manager") or "aml.kserve"), _flag(vars_.get("isvc_force_conflicts"))
        group = groups.setdefault(_key({"m": manager, "f": force}, ("m", "f")), {
            "field_manager": manager, "force_conflicts": force, "services": [], "definitions": []})
        group["services"].append(_service(vars_, host))
        group["definitions"].append(rendered["resource"])
    return list(groups.values())


def _apply_results(registered: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Per definition, from one kubernetes.core.k8s call with continue_on_error: one result, or result.results."""
    if registered.get("failed") or registered.get("skipped"):
        reason = registered.get("msg") or ("skipped" if registered.get("skipped") else "the apply failed")
        return [{"error": {"msg": reason}}] * len(registered["item"]["definitions"])
    if len(registered["item"]["definitions"]) == 1:
        return [registered]
    return list((registered.get("result") or {}).get("results") or [])


def batch_wave_applied(registered: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Each applied service's outcome by host: ``changed``, and ``error`` (empty when applied)."""
    applied: Dict[str, Dict[str, Any]] = {}
    for group in (registered or {}).get("results") or []:
        results = _apply_results(group)
        for index, service in enumerate(group["item"]["services"]):
            result = results[index] if index < len(results) else {"error": {"msg": "no result for this definition"}}
            error = result.get("error") or {}
            applied[service["host"]] = dict(service, changed=bool(result.get("changed")),
                                            error=" ".join(str(error.get("msg") or "").split()) if error else "")
    return applied


def batch_wave_waits(applied: Mapping[str, Any], hostvars: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One wait per namespace for the services applied without error whose isvc_wait is true."""
    waits: Dict[str, Dict[str, Any]] = {}
    for host, service in applied.items():
        vars_ = hostvars[host]
        if service["error"] or not _flag(vars_.get("isvc_wait", True)):
            continue
        wait = waits.setdefault(service["namespace"], {"namespace": service["namespace"], "names": [], "timeout": 1})
        wait["names"].append(service["name"])
        wait["timeout"] = max(wait["timeout"], int(vars_.get("isvc_wait_timeout") or 1800))
    return sorted(waits.values(), key=lambda w: w["namespace"])


def batch_wave_outcomes(hostvars: Mapping[str, Any], hosts: List[str], applied: Mapping[str, Any],
                        waited: Mapping[str, Any], now: float) -> Dict[str, Dict[str, Any]]:
    """The report line of each service of the wave, by host."""
    summaries: Dict[str, Dict[str, Any]] = {}
    for result in (waited or {}).get("results") or []:
        item = result.get("item") or {}
        by_name = {s.get("name"): s for s in result.get("inference_services") or []}
        for name in item.get("names") or []:
            # a wait that failed as a whole (RBAC, lost apiserver) has no entry per service: its message is theirs
            summaries[item.get("namespace", "") + "/" + name] = by_name.get(name) or {
                "ready": bool(result.get("skipped")), "message": result.get("msg") or "the wait failed"}
    outcomes: Dict[str, Dict[str, Any]] = {}
    for host in hosts:
        vars_ = hostvars[host]
        if vars_.get("isvc_batch_outcome"):
            outcomes[host] = vars_["isvc_batch_outcome"]
            continue
        service = _service(vars_, host)
        model = vars_.get("isvc_model") or {}
        outcome = {"service": service["name"], "namespace": service["namespace"], "result": "ok",
                   "commit": str(model.get("commit_id") or ""), "endpoint": "", "reason": "",
                   "seconds": round(now - float(vars_.get("isvc_batch_clock") or now), 1)}
        result = vars_.get("isvc_result") or {}
        summary = summaries.get(service["namespace"] + "/" + service["name"])
        if host not in applied:
            outcome["endpoint"] = str(result.get("manifest") or "")
            if not result:
                outcome.update(result="failed", reason="not applied: nothing was rendered for it")
        elif applied[host]["error"]:
            outcome.update(result="failed", reason="apply failed: " + applied[host]["error"])
        elif summary is not None and not summary.get("ready"):
            outcome.update(result="failed", reason=" ".join(str(summary.get("message") or "not ready").split()))
        else:
            rendered = vars_.get("isvc_rendered") or {}
            outcome["endpoint"] = str((summary or {}).get("url") or rendered.get("in_cluster_endpoint") or "")
        outcomes[host] = outcome
    return outcomes


def junit_xml(outcomes: List[Mapping[str, Any]], suite: str = "aml.kserve batch_deploy") -> str:
    """The outcomes as a JUnit XML report: one testcase per service (failed and skipped ones marked)."""
    root = ET.Element("testsuites")
    failed = [o for o in outcomes if o.get("result") == "failed"]
    skipped = [o for o in outcomes if o.get("result") == "skipped"]
    total = sum(float(o.get("seconds") or 0) for o in outcomes)
    attrs = {"name": suite, "tests": str(len(outcomes)), "failures": str(len(failed)), "errors": "0",
             "skipped": str(len(skipped)), "time": "{0:.3f}".format(total)}
    root.attrib.update(attrs)
    element = ET.SubElement(root, "testsuite", attrs)
    for outcome in outcomes:
        case = ET.SubElement(element, "testcase", {
            "classname": str(outcome.get("namespace", "")), "name": str(outcome.get("service", "")),
            "time": "{0:.3f}".format(float(outcome.get("seconds") or 0))})
        if outcome.get("result") == "failed":
            node = ET.SubElement(case, "failure", {"message": str(outcome.get("reason", ""))[:500], "type": "DeployFailed"})
            node.text = str(outcome.get("reason", ""))
        elif outcome.get("result") == "skipped":
            ET.SubElement(case, "skipped", {"message": str(outcome.get("reason", ""))})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = "commit {0}\nendpoint {1}".format(outcome.get("commit", ""), outcome.get("endpoint", ""))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def batch_table(outcomes: List[Mapping[str, Any]]) -> List[str]:
    """The outcomes as an aligned text table, one line per service (a list, so debug prints it readably)."""
    headers = ("SERVICE", "NAMESPACE", "RESULT", "COMMIT", "ENDPOINT", "SECONDS", "FAILURE")
    rows = [(str(o.get("service", "")), str(o.get("namespace", "")), str(o.get("result", "")),
             str(o.get("commit", ""))[:12], str(o.get("endpoint", "")), "{0:.1f}".format(float(o.get("seconds") or 0)),
             " ".join(str(o.get("reason", "")).split())[:120]) for o in outcomes]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [headers] + rows]
    ok = sum(1 for o in outcomes if o.get("result") == "ok")
    lines.append("{0} of {1} ready; {2} failed; {3} skipped".format(
        ok, len(outcomes), sum(1 for o in outcomes if o.get("result") == "failed"),
        sum(1 for o in outcomes if o.get("result") == "skipped")))
    return lines


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {
            "batch_plan": batch_plan,
            "batch_by_namespace": batch_by_namespace,
            "batch_model_lookups": batch_model_lookups,
            "batch_runtime_lookups": batch_runtime_lookups,
            "batch_wave_apply": batch_wave_apply,
            "batch_wave_applied": batch_wave_applied,
            "batch_wave_waits": batch_wave_waits,
            "batch_wave_outcomes": batch_wave_outcomes,
            "junit_xml": junit_xml,
            "batch_table": batch_table,
        }
