# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters behind playbooks/batch_deploy.yml: plan the shared look-ups of a batch, and report its outcome."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Mapping, Optional

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.aml.kserve.plugins.module_utils import _role_checks
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError
from ansible_collections.aml.kserve.plugins.module_utils._render import render_result
from ansible_collections.aml.kserve.plugins.module_utils._role_checks import flag
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC

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


def batch_wave_namespaces(plan: Mapping[str, Any], hosts: List[str]) -> List[Dict[str, Any]]:
    """The wave's services by namespace, to read what exists of them with one request per namespace."""
    found: Dict[str, List[str]] = {}
    for host in hosts:
        service = plan["services"][host]
        found.setdefault(service["namespace"], []).append(service["name"])
    return [{"namespace": ns, "names": names} for ns, names in sorted(found.items())]


def _existing(registered: Mapping[str, Any]) -> Dict[str, Any]:
    """What exists, by namespace: {name: object}, or the message of a read that failed."""
    found: Dict[str, Any] = {}
    for result in (registered or {}).get("results") or []:
        namespace = (result.get("item") or {}).get("namespace", "")
        if result.get("failed"):
            found[namespace] = str(result.get("msg") or "the read of what exists failed")
        else:
            found[namespace] = {s["name"]: s.get("resource") or {} for s in result.get("inference_services") or []}
    return found


def _baselines(registered: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """What each found service's predictor children were before the apply, by namespace and name (the wait's baseline)."""
    found: Dict[str, Dict[str, Any]] = {}
    for result in (registered or {}).get("results") or []:
        namespace = (result.get("item") or {}).get("namespace", "")
        if not result.get("failed"):
            found[namespace] = {s["name"]: s.get("baseline") or {"exists": True}
                                for s in result.get("inference_services") or []}
    return found


def _plain(value: Any) -> Any:
    """Plain data from templated variables: the argument spec validator deep-copies what it is given, and a deep copy
    of Ansible's lazy, tagged containers costs about a second per service."""
    return json.loads(json.dumps(value, default=str))


# The renderer's own argument spec, as the inference_service action validates it; built once.
RENDER_VALIDATOR = ArgumentSpecValidator(**RENDER_SPEC.module_kwargs())


def _prepare_one(values: Dict[str, Any], role_validator: ArgumentSpecValidator, model: Mapping[str, Any],
                 runtime: Mapping[str, Any], existing: Any, namespace_object: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Validate, check and render one service as the deploy role would; ``error`` says why not."""
    role_options = role_validator.argument_spec
    checked = role_validator.validate({k: v for k, v in values.items() if k in role_options})
    if checked.error_messages:
        return {"error": "Invalid role variables: " + "; ".join(checked.error_messages)}
    values = dict(values, **checked.validated_parameters)
    problems = _role_checks.input_problems(values)
    if problems:
        return {"error": "Invalid role variables ({0}): {1}".format(len(problems), "; ".join(problems))}
    if values.get("isvc_state") == "absent":
        return {"error": "isvc_state=absent: batch_deploy.yml deploys; remove services with playbooks/undeploy.yml"}
    if model.get("failed"):
        return {"error": str(model.get("msg") or "the model could not be resolved")}
    if runtime.get("failed"):
        return {"error": str(runtime.get("msg") or "no serving runtime fits")}
    params = _role_checks.render_params(values, RENDER_SPEC.argument_spec, model, runtime.get("runtime") or {})
    validated = RENDER_VALIDATOR.validate(params)
    if validated.error_messages:
        return {"error": _role_checks.render_problem("; ".join(validated.error_messages))}
    try:
        rendered = render_result(validated.validated_parameters)
    except AmlKserveError as error:
        return {"error": _role_checks.render_problem(error.msg)}
    if flag(values.get("isvc_render_only")):
        return {"rendered": rendered, "label_namespace": False}  # as the role: a manifest only, no guard, no writes
    if isinstance(existing, str):
        return {"error": existing}
    psa_level = _role_checks.pod_security_level(namespace_object) if namespace_object else None
    problems = _role_checks.guard_problems(values, (existing or {}).get(values["isvc_name"]),
                                           rendered["deployment_mode"], psa_level)
    if problems:
        return {"error": " ".join(problems)}
    return {"rendered": rendered, "label_namespace": _role_checks.needs_privileged_label(values, psa_level)}


def batch_wave_prepare(hostvars: Mapping[str, Any], hosts: List[str], defaults: Mapping[str, Any],
                       role_options: Mapping[str, Any], shared: Mapping[str, Any], existing: Mapping[str, Any],
                       stopped: bool = False) -> Dict[str, Dict[str, Any]]:
    """Each service of the wave validated, checked and rendered as the deploy role does it, in one task."""
    shared, defaults = _plain(shared), _plain(defaults)
    plan, found = shared["plan"], _existing(_plain(existing))
    baselines = _baselines(_plain(existing))
    role_validator = ArgumentSpecValidator(_plain(role_options))
    prepared: Dict[str, Dict[str, Any]] = {}
    for host in hosts:
        values = _plain(_effective(hostvars[host], defaults))
        service = plan["services"][host]
        values["isvc_name"] = service["name"]
        model = shared["models"].get(plan["model_keys"][host]) or {"failed": True, "msg": "no model look-up"}
        runtime = shared["runtimes"].get(service["runtime_key"] + "|" + str(model.get("library_name"))) or {
            "failed": True, "msg": "no runtime look-up"}
        entry = {"host": host, "name": service["name"], "namespace": service["namespace"],
                 "clock": float(values.get("isvc_batch_clock") or 0), "commit": str(model.get("commit_id") or ""),
                 "wait": flag(values.get("isvc_wait", True)), "wait_timeout": values.get("isvc_wait_timeout") or 1800,
                 "field_manager": str(values.get("isvc_field_manager") or "aml.kserve"),
                 "force_conflicts": flag(values.get("isvc_force_conflicts")),
                 "render_only": flag(values.get("isvc_render_only")),
                 # the wait judges by the same rules as the role's: against what existed before the apply
                 "baseline": (baselines.get(service["namespace"]) or {}).get(service["name"]) or {"exists": False},
                 "wait_rules": {"settle_seconds": float(values.get("isvc_wait_settle_seconds", 20)),
                                "trust_observed_generation": flag(values.get("isvc_wait_trust_observed_generation")),
                                "ready_when": str(values.get("isvc_ready_when") or ""),
                                "fail_when": str(values.get("isvc_fail_when") or "")},
                 "manifest": "{0}/{1}/{2}.yaml".format(values.get("isvc_render_dir") or "./manifests", service["namespace"],
                                                       service["name"])}
        if stopped:
            entry.update(result="skipped", error="not deployed: an earlier wave failed beyond isvc_batch_max_fail_percentage")
        else:
            entry.update(_prepare_one(values, role_validator, model, runtime, found.get(service["namespace"], {}),
                                      (shared.get("namespaces") or {}).get(service["namespace"])))
        prepared[host] = entry
    return prepared


def batch_wave_apply(prepared: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The wave's rendered InferenceServices to apply, grouped by the server-side apply options they share; those that
    failed before and render-only ones are left out."""
    groups: Dict[str, Dict[str, Any]] = {}
    for entry in prepared.values():
        if entry.get("error") or entry["render_only"]:
            continue
        group = groups.setdefault(_key(entry, ("field_manager", "force_conflicts")), {
            "field_manager": entry["field_manager"], "force_conflicts": entry["force_conflicts"], "services": [],
            "definitions": []})
        group["services"].append({k: entry[k] for k in ("host", "name", "namespace")})
        group["definitions"].append(entry["rendered"]["resource"])
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


def batch_wave_waits(applied: Mapping[str, Any], prepared: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One wait per namespace (and set of wait rules) for the services applied without error whose isvc_wait is true,
    each with its baseline, so that the batch waits by the role's rules."""
    waits: Dict[str, Dict[str, Any]] = {}
    for host, service in applied.items():
        entry = prepared[host]
        if service["error"] or not entry["wait"]:
            continue
        rules = entry.get("wait_rules") or {"settle_seconds": 20.0, "trust_observed_generation": False,
                                            "ready_when": "", "fail_when": ""}
        key = json.dumps([service["namespace"], rules], sort_keys=True)
        wait = waits.setdefault(key, dict({"namespace": service["namespace"], "names": [], "timeout": 1,
                                           "baselines": {}}, **rules))
        wait["names"].append(service["name"])
        wait["baselines"][service["name"]] = entry.get("baseline") or {"exists": False}
        wait["timeout"] = max(wait["timeout"], int(entry["wait_timeout"]))
    return [waits[key] for key in sorted(waits)]


def batch_wave_outcomes(prepared: Mapping[str, Any], applied: Mapping[str, Any], waited: Mapping[str, Any],
                        now: float) -> Dict[str, Dict[str, Any]]:
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
    for host, entry in prepared.items():
        outcome = {"service": entry["name"], "namespace": entry["namespace"], "result": "ok", "commit": entry["commit"],
                   "endpoint": "", "reason": "", "seconds": round(now - (entry["clock"] or now), 1)}
        summary = summaries.get(entry["namespace"] + "/" + entry["name"])
        if entry.get("error"):
            outcome.update(result=entry.get("result") or "failed", reason=" ".join(entry["error"].split()))
        elif entry["render_only"]:
            outcome["endpoint"] = entry["manifest"]
        elif host not in applied or applied[host]["error"]:
            outcome.update(result="failed", reason="apply failed: " + (applied.get(host) or {}).get("error", "not applied"))
        elif summary is not None and summary.get("state") == "stopped":  # serving.kserve.io/stop, as asked
            outcome["reason"] = " ".join(str(summary.get("message") or "stopped").split())
        elif summary is not None and not summary.get("ready"):
            outcome.update(result="failed", reason=" ".join(str(summary.get("message") or "not ready").split()))
        else:
            outcome["endpoint"] = str((summary or {}).get("url") or entry["rendered"].get("in_cluster_endpoint") or "")
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
            "batch_wave_namespaces": batch_wave_namespaces,
            "batch_wave_prepare": batch_wave_prepare,
            "batch_wave_apply": batch_wave_apply,
            "batch_wave_applied": batch_wave_applied,
            "batch_wave_waits": batch_wave_waits,
            "batch_wave_outcomes": batch_wave_outcomes,
            "junit_xml": junit_xml,
            "batch_table": batch_table,
        }
