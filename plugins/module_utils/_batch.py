# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The deploy role's logic for the services of one play batch (one inventory host per service; a single deploy is a
batch of one). The role's tasks run the look-ups, the apply and the wait once for the batch and hand their registered
results to these functions, which decide, per service, what comes next and, in the end, its outcome.

Every step keeps a service's first problem as its ``error``: a service with an error takes no further part, and its
host fails with that message at the end. Tokens never enter what these functions return, except ``gitlab_tokens``,
which the role keeps under no_log."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Dict, List, Mapping, Tuple

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.aml.kserve.plugins.module_utils import _role_checks
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError
from ansible_collections.aml.kserve.plugins.module_utils._role_checks import flag

CONFIG_MAP = "aml-image-builder-config"
SECRET = "aml-image-builder-secret"
NO_OUTCOME = "not deployed: the rollout stopped before it (max_fail_percentage)"
REPORT_FIELDS = ("service", "namespace", "result", "commit", "endpoint", "seconds", "reason")
# Stand-ins for the model and runtime, so that every rendering option is checked before any request.
PREFLIGHT_MODEL = {"repo": "preflight", "project_id": 0, "group": "g", "subgroup": "", "branch": "main",
                   "revision": "preflight", "pipeline_tag": "preflight", "library_name": "preflight"}
PREFLIGHT_RUNTIME = {"name": "preflight", "runtime_class": "", "container": {}}
# Kept with a service's inputs when one of its variables could not be templated (plugin_utils/_play_batch.py): its error.
TEMPLATE_ERROR = "__isvc_error"

Service = Dict[str, Any]
# kubernetes.core's connection options, as isvc_kubernetes names them (per host or group: one group per cluster).
CONNECTION_OPTIONS = ("kubeconfig", "context", "host", "api_key", "ca_cert", "client_cert", "client_key",
                      "validate_certs", "proxy")


def scope(service: Mapping[str, Any]) -> str:
    """Where a service lives: its cluster (connection) and namespace; every read, apply and wait is per scope."""
    return "{0}|{1}".format(service.get("cluster", ""), service.get("namespace", ""))


def clusters(inputs: Mapping[str, Mapping[str, Any]]) -> Tuple[Dict[str, str], Dict[str, Dict[str, Any]]]:
    """Each host's cluster id and the connection of each id (c1, c2, ... in host order: the same for every caller
    that passes the same hosts). The connection may hold a token: only the role's no_log task keeps it."""
    ids: Dict[str, str] = {}
    connections: Dict[str, Dict[str, Any]] = {}
    identities: Dict[str, str] = {}
    for host in sorted(inputs):
        given = inputs[host].get("isvc_kubernetes") or {}
        connection = {k: v for k, v in given.items() if k in CONNECTION_OPTIONS and v not in (None, "")} \
            if isinstance(given, Mapping) else {}
        identity = json.dumps(connection, sort_keys=True, default=str)
        if identity not in identities:
            identities[identity] = "c{0}".format(len(identities) + 1)
            connections[identities[identity]] = connection
        ids[host] = identities[identity]
    return ids, connections


def _connection_problem(values: Mapping[str, Any]) -> str:
    given = values.get("isvc_kubernetes") or {}
    unknown = sorted(set(given) - set(CONNECTION_OPTIONS)) if isinstance(given, Mapping) else []
    if unknown:
        return "isvc_kubernetes has unknown keys ({0}); it takes kubernetes.core's connection options: {1}".format(
            ", ".join(unknown), ", ".join(CONNECTION_OPTIONS))
    return ""


def plain(value: Any) -> Any:
    """Plain data from templated variables: the argument spec validator deep-copies what it is given, and a deep copy
    of Ansible's lazy, tagged containers costs about a second per service."""
    return json.loads(json.dumps(value, default=str))


_VALIDATORS: Dict[int, ArgumentSpecValidator] = {}


def render(values: Mapping[str, Any], model: Mapping[str, Any], runtime: Mapping[str, Any], spec: Any) -> Dict[str, Any]:
    """Render as the inference_service module does, with ``spec``, its ArgumentSpec (the filter plugin passes it: a
    module_utils may not import a module), and its code; ``error`` in the role's terms."""
    from ansible_collections.aml.kserve.plugins.module_utils._render import render_result  # when used: see filter/_isvc.py

    validator = _VALIDATORS.get(id(spec))
    if validator is None:
        validator = _VALIDATORS[id(spec)] = ArgumentSpecValidator(**spec.module_kwargs())
    validated = validator.validate(_role_checks.render_params(values, spec.argument_spec, model, runtime))
    if validated.error_messages:
        return {"error": _role_checks.render_problem("; ".join(validated.error_messages))}
    try:
        return render_result(validated.validated_parameters)
    except AmlKserveError as error:
        return {"error": _role_checks.render_problem(error.msg)}


def _argument_problem(raw: Mapping[str, Any], validator: ArgumentSpecValidator) -> Tuple[Dict[str, Any], str]:
    """The role variables converted by the role's argument spec, or Ansible's own message for them, word for word
    (action validate_argument_spec): a role included with rolespec_validate: false (batch_deploy.yml, so that the
    failure becomes the service's outcome) fails with the same message."""
    if raw.get(TEMPLATE_ERROR):
        return dict(raw), str(raw[TEMPLATE_ERROR])
    checked = validator.validate({k: v for k, v in raw.items() if k in validator.argument_spec},
                                 validate_role_argument_spec=True)
    if checked.error_messages:
        return dict(raw), "Validation of arguments failed:\n" + "\n".join(checked.error_messages)
    return dict(raw, **checked.validated_parameters), ""


def _check_inputs(raw: Mapping[str, Any], validator: ArgumentSpecValidator, spec: Any) -> Tuple[Dict[str, Any], str]:
    """The role variables converted by the role's argument spec, and the first problem found before any request."""
    values, error = _argument_problem(raw, validator)
    if error:
        return values, error
    problems = _role_checks.input_problems(values)
    if problems:
        return values, "Invalid role variables ({0}): {1}".format(len(problems), "; ".join(problems))
    rendered = render(values, PREFLIGHT_MODEL, PREFLIGHT_RUNTIME, spec)
    return values, rendered.get("error", "")


def _seconds(value: Any) -> int:
    """isvc_wait_timeout, also when the argument spec refused it (the service has an error then, and never waits)."""
    try:
        return int(value or 1800)
    except (TypeError, ValueError):
        return 1800


def plan(inputs: Mapping[str, Mapping[str, Any]], role_options: Mapping[str, Any], render_spec: Any) -> Dict[str, Any]:
    """Each present service of the batch checked before any request, and the reads the batch needs."""
    validator = ArgumentSpecValidator(plain(role_options))
    inputs = plain(inputs)
    cluster_ids, _connections = clusters(inputs)
    services: Dict[str, Service] = {}
    removals: Dict[str, Service] = {}
    for host, raw in inputs.items():
        if raw.get("isvc_state") == "absent":
            removals[host] = _removal(host, raw, validator, cluster_ids[host])
            continue
        values, error = _check_inputs(raw, validator, render_spec)
        error = error or _connection_problem(values)
        values.pop("isvc_kubernetes", None)  # may hold a token: the role passes it by cluster id
        token_given = bool(str(values.get("isvc_gitlab_token") or "").strip())
        values.pop("isvc_gitlab_token", None)  # read from the host's variables under no_log, never kept here
        service: Service = {
            "host": host, "name": str(values.get("isvc_name") or host), "namespace": str(values.get("isvc_namespace") or ""),
            "cluster": cluster_ids[host],
            "values": values, "error": error, "reason": "input" if error else "",
            "started": float(raw.get("__isvc_started") or 0),
            "render_only": flag(values.get("isvc_render_only")), "wait": flag(values.get("isvc_wait", True)),
            "wait_timeout": _seconds(values.get("isvc_wait_timeout")),
            "field_manager": str(values.get("isvc_field_manager") or "aml.kserve"),
            "force_conflicts": flag(values.get("isvc_force_conflicts")),
            "gitlab_url": str(values.get("isvc_gitlab_url") or "").strip(), "token_given": token_given,
        }
        service["manifest"] = "{0}/{1}/{2}.yaml".format(values.get("isvc_render_dir") or "./manifests",
                                                        service["namespace"], service["name"])
        services[host] = service
    return {"services": services, "existing_reads": existing_reads(services), "gitlab_reads": gitlab_reads(services),
            "removals": [{"host": r["host"], "cluster": r["cluster"], "namespace": r["namespace"], "name": r["name"],
                          "wait": r["wait"], "wait_timeout": r["wait_timeout"]}
                         for _host, r in sorted(removals.items()) if not r["error"]],
            "removal_services": removals}


def _removal(host: str, raw: Mapping[str, Any], validator: ArgumentSpecValidator, cluster: str) -> Service:
    """A service whose isvc_state is absent: deleted by the batch's removal task, which waits until it is gone. Its
    variables are checked by type only: nothing is rendered."""
    values, error = _argument_problem(raw, validator)
    if not error and not (str(values.get("isvc_name") or "").strip() and str(values.get("isvc_namespace") or "").strip()):
        error = "Invalid role variables (1): isvc_name and isvc_namespace are required to remove an InferenceService"
    error = error or _connection_problem(values)
    return {"host": host, "name": str(values.get("isvc_name") or host), "namespace": str(values.get("isvc_namespace") or ""),
            "cluster": cluster, "error": error, "reason": "input" if error else "",
            "started": float(raw.get("__isvc_started") or 0), "wait": flag(values.get("isvc_wait", True)),
            "wait_timeout": _seconds(values.get("isvc_wait_timeout"))}


def removal_outcomes(batch: Mapping[str, Any], registered: Any, now: float) -> Dict[str, Dict[str, Any]]:
    """The outcome of each removed service, by host: ``state`` absent and ``changed``, or ``failed`` with ``msg``."""
    deleted = {str((r.get("item") or {}).get("host")): r for r in _registered(registered)}
    found: Dict[str, Dict[str, Any]] = {}
    for host, removal in (batch.get("removal_services") or {}).items():
        outcome: Dict[str, Any] = {"name": removal["name"], "namespace": removal["namespace"], "state": "absent",
                                   "ready": False, "changed": False, "seconds": round(now - (removal["started"] or now), 1)}
        result = deleted.get(host) or {}
        error, reason = removal["error"], removal["reason"] or "delete"
        if not error and (result.get("failed") or not result):
            error = "Cannot delete InferenceService {0}/{1}: {2}".format(
                removal["namespace"], removal["name"], result.get("msg") or "the removal did not run")
        if error:
            outcome.update(failed=True, reason=reason, message=error, msg=error)
        else:
            outcome.update(changed=bool(result.get("changed")), msg="{0}/{1}: {2}".format(
                removal["namespace"], removal["name"], "deleted" if result.get("changed") else "absent already"))
        found[host] = outcome
    return found


def _active(services: Mapping[str, Service]) -> List[Service]:
    return [s for _host, s in sorted(services.items()) if not s["error"]]


def existing_reads(services: Mapping[str, Service]) -> List[Dict[str, Any]]:
    """One read per namespace of what exists (and of its Pod Security level, when hostIPC is asked for)."""
    reads: Dict[str, Dict[str, Any]] = {}
    for service in _active(services):
        if service["render_only"]:
            continue  # a manifest only: nothing in the cluster is read or written
        read = reads.setdefault(scope(service), {"cluster": service["cluster"], "namespace": service["namespace"],
                                                 "names": [], "pod_security": False})
        read["names"].append(service["name"])
        read["pod_security"] |= flag(service["values"].get("isvc_host_ipc", True))
    return [reads[ns] for ns in sorted(reads)]


def gitlab_reads(services: Mapping[str, Service]) -> List[Dict[str, str]]:
    """The pipeline's ConfigMap and Secret, once per namespace where a service was not given GitLab's address or token."""
    reads = set()
    for service in _active(services):
        if not service["gitlab_url"]:
            reads.add((service["cluster"], service["namespace"], "ConfigMap", CONFIG_MAP))
        if not service["token_given"]:
            reads.add((service["cluster"], service["namespace"], "Secret", SECRET))
    return [{"cluster": cluster, "namespace": ns, "kind": kind, "name": name} for cluster, ns, kind, name in sorted(reads)]


def _registered(result: Any) -> List[Dict[str, Any]]:
    """The per-item results of a registered loop (none when the task was skipped as a whole)."""
    return list((result or {}).get("results") or []) if isinstance(result, Mapping) else []


def _existing_by_namespace(registered: Any) -> Dict[str, Any]:
    """What exists by namespace: {"services": {name: object}, "pod_security_level": ...}, or the message of a failed read."""
    found: Dict[str, Any] = {}
    for result in _registered(registered):
        where = scope(result.get("item") or {})
        if result.get("failed"):
            found[where] = str(result.get("msg") or "the read of what exists failed")
        elif not result.get("skipped"):
            found[where] = {"services": {s["name"]: s.get("resource") or {} for s in result.get("inference_services") or []},
                            "baselines": {s["name"]: s.get("baseline") for s in result.get("inference_services") or []
                                          if s.get("baseline") is not None},
                            "pod_security_level": result.get("pod_security_level"),
                            "pod_security_read": "pod_security_level" in result}
    return found


def _gitlab_objects(registered: Any) -> Dict[Tuple[str, str], Any]:
    """The ConfigMap/Secret reads by (kind, namespace): the object, None when it does not exist, or a failed read."""
    found: Dict[Tuple[str, str], Any] = {}
    for result in _registered(registered):
        item = result.get("item") or {}
        key = (item.get("kind", ""), scope(item))
        if result.get("failed"):
            found[key] = {"failed": True, "msg": str(result.get("msg") or "")}
        else:
            found[key] = result.get("object")
    return found


def read_failures(registered: Any) -> Dict[str, str]:
    """Why a namespace's ConfigMap or Secret could not be read, by namespace, in the apiserver's words."""
    failures: Dict[str, str] = {}
    for result in _registered(registered):
        item = result.get("item") or {}
        if not result.get("failed") or scope(item) in failures:
            continue
        failures[scope(item)] = (
            "Cannot read {0} {1} in namespace {2}: {3}. Give this identity get on configmaps and secrets there "
            "(playbooks/prepare_rbac.yml), or set isvc_gitlab_url and isvc_gitlab_token.".format(
                item.get("kind"), item.get("name"), item.get("namespace"),
                result.get("api_message") or result.get("msg") or "the read failed"))
    return failures


def given_tokens(inputs: Mapping[str, Mapping[str, Any]]) -> Dict[str, str]:
    """The GitLab tokens given, by host (isvc_gitlab_token); the others come from their namespace's Secret."""
    found = {}
    for host, values in inputs.items():
        token = str(values.get("isvc_gitlab_token") or "")
        if token.strip():
            found[host] = token
    return found


def gitlab_connection(service: Service, config: Any, secret: Any, token: str) -> Tuple[str, str, str]:
    """GitLab's address and token for a service: given, else (as the pipeline) from the namespace's ConfigMap and
    Secret; the third value says what is missing, with the fix."""
    namespace = service["namespace"]
    data = dict((config or {}).get("data") or {}) if isinstance(config, Mapping) else {}
    url = service["gitlab_url"]
    if not url and data.get("MODEL_REPO_GIT_BASE"):
        url = "{0}://{1}".format(data.get("MODEL_REPO_GIT_SCHEME") or "https", data["MODEL_REPO_GIT_BASE"]).strip()
    if not service["token_given"]:
        encoded = dict((secret or {}).get("data") or {}).get("MODEL_REPO_GIT_TOKEN") if isinstance(secret, Mapping) else None
        try:
            token = base64.b64decode(encoded or "").decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            token = ""
    token = token.strip()
    problems = []
    if not url:
        problems.append(
            ("ConfigMap {0} does not exist in namespace {1}".format(CONFIG_MAP, namespace) if not config else
             "ConfigMap {0} in namespace {1} lacks the key MODEL_REPO_GIT_BASE".format(CONFIG_MAP, namespace))
            + ". Set isvc_gitlab_url, or create it: kubectl create configmap {0} -n {1} "
              "--from-literal=MODEL_REPO_GIT_BASE=gitlab.example.com --from-literal=MODEL_REPO_GIT_SCHEME=https".format(
                  CONFIG_MAP, namespace))
    if not token:
        problems.append(
            ("Secret {0} does not exist in namespace {1}".format(SECRET, namespace) if not secret else
             "Secret {0} in namespace {1} lacks the key MODEL_REPO_GIT_TOKEN".format(SECRET, namespace))
            + ". Set isvc_gitlab_token, or create it: kubectl create secret generic {0} -n {1} "
              "--from-literal=MODEL_REPO_GIT_TOKEN=<token with read_api scope>".format(SECRET, namespace))
    return url, token, " ".join(problems)


def model_lookups(batch: Mapping[str, Any], existing: Any, gitlab_read: Any, tokens: Mapping[str, str]) -> Dict[str, Any]:
    """After the reads: services whose namespace could not be read fail; one GitLab resolution per (GitLab, token,
    model ref), whichever namespaces the services are in. ``tokens`` holds the tokens given per host."""
    services = plain(batch["services"])
    found = _existing_by_namespace(existing)
    objects = _gitlab_objects(gitlab_read)
    failures = read_failures(gitlab_read)
    lookups: Dict[str, Dict[str, Any]] = {}
    secret_tokens: Dict[str, str] = {}
    for host, service in sorted(services.items()):
        if service["error"]:
            continue
        where = scope(service)
        if not service["render_only"] and isinstance(found.get(where), str):
            service["error"] = found[where]
            service["reason"] = "read"
            continue
        if where in failures:
            service["error"] = failures[where]
            service["reason"] = "gitlab"
            continue
        url, token, problem = gitlab_connection(service, objects.get(("ConfigMap", where)),
                                                objects.get(("Secret", where)), str(tokens.get(host) or ""))
        if problem:
            service["error"] = problem
            service["reason"] = "gitlab"
            continue
        values = service["values"]
        args = {"repo": values.get("isvc_model_repo") or "",
                "search_namespace": values.get("isvc_model_search_namespace") or "amlmodels",
                "project_path": values.get("isvc_model_project_path") or None,
                "branch": values.get("isvc_model_repo_branch") or None, "tag": values.get("isvc_model_repo_tag") or None,
                "validate_certs": flag(values.get("isvc_gitlab_validate_certs", True)),
                "ca_path": values.get("isvc_gitlab_ca_path") or None}
        identity = json.dumps([url, token, args], sort_keys=True)
        if identity not in lookups:
            key = "model-{0}".format(len(lookups) + 1)
            lookups[identity] = {"key": key, "api_url": url, "args": args}
            secret_tokens[key] = token
        service["model_key"] = lookups[identity]["key"]
    return {"services": services, "existing": found, "lookups": list(lookups.values()), "gitlab_tokens": secret_tokens,
            "removal_services": batch.get("removal_services") or {}}


def _by_item_key(registered: Any) -> Dict[str, Dict[str, Any]]:
    """The results of a look-up loop by item key, as plain data: they go through the render's argument spec (see plain)."""
    return {str((r.get("item") or {}).get("key")): r for r in plain(_registered(registered))}


def runtime_lookups(batch: Mapping[str, Any], models: Any) -> List[Dict[str, Any]]:
    """One runtime look-up per (runtime name, class, model format) among the services whose model resolved."""
    resolved = _by_item_key(models)
    lookups: Dict[str, Dict[str, Any]] = {}
    for service in _active(batch["services"]):
        model = resolved.get(service.get("model_key", "")) or {}
        if model.get("failed") or not model.get("library_name"):
            continue
        values = service["values"]
        runtime = {"name": values.get("isvc_runtime_name") or None, "runtime_class": values.get("isvc_runtime_class") or None,
                   "model_format": model["library_name"], "cluster": service["cluster"]}
        key = json.dumps(runtime, sort_keys=True)
        lookups.setdefault(key, dict(runtime, key=key))
    return [lookups[k] for k in sorted(lookups)]


def _runtime_key(values: Mapping[str, Any], model_format: Any, cluster: str) -> str:
    return json.dumps({"name": values.get("isvc_runtime_name") or None,
                       "runtime_class": values.get("isvc_runtime_class") or None, "model_format": model_format,
                       "cluster": cluster}, sort_keys=True)


def prepare(batch: Mapping[str, Any], models: Any, runtimes: Any, render_spec: Any) -> Dict[str, Any]:
    """Each service rendered with its model and runtime and checked by the guard, as the role does; the namespaces to
    label privileged for hostIPC, the apply groups and the manifests to write."""
    services = plain(batch["services"])
    existing = batch.get("existing") or {}
    resolved, chosen = _by_item_key(models), _by_item_key(runtimes)
    for service in services.values():
        if service["error"]:
            continue
        values = service["values"]
        model = resolved.get(service.get("model_key", "")) or {"failed": True, "msg": "no model look-up"}
        if model.get("failed"):
            service["error"] = str(model.get("msg") or "the model could not be resolved")
            service["reason"] = "gitlab"
            continue
        runtime = chosen.get(_runtime_key(values, model.get("library_name"), service["cluster"])) or {"failed": True, "msg": "no runtime look-up"}
        if runtime.get("failed"):
            service["error"] = str(runtime.get("msg") or "no serving runtime fits")
            service["reason"] = "runtime"
            continue
        service["model"] = {k: model.get(k) for k in ("project_path", "commit_id", "revision", "repo", "library_name")}
        service["runtime"] = {"name": (runtime.get("runtime") or {}).get("name", ""), "choice": runtime.get("choice", "")}
        rendered = render(values, model, runtime.get("runtime") or {}, render_spec)
        if rendered.get("error"):
            service["error"] = rendered["error"]
            service["reason"] = "input"
            continue
        service["rendered"] = rendered
        if service["render_only"]:
            continue  # as the role: a manifest only, no guard, no writes
        namespace = existing.get(scope(service)) or {}
        psa_level = namespace.get("pod_security_level")
        problems = _role_checks.guard_problems(values, (namespace.get("services") or {}).get(service["name"]),
                                               rendered["deployment_mode"], psa_level)
        if problems:
            service["error"] = " ".join(problems)
            service["reason"] = "guard"
            continue
        service["label_namespace"] = _role_checks.needs_privileged_label(values, psa_level)
        service["pod_security_unread"] = flag(values.get("isvc_host_ipc", True)) and namespace.get("pod_security_read") \
            and psa_level is None
    active = _active(services)
    return {
        "services": services,
        "label_namespaces": [dict(zip(("cluster", "namespace"), w.split("|", 1)))
                             for w in sorted({scope(s) for s in active if s.get("label_namespace")})],
        "manifests": [{"path": s["manifest"], "resource": s["rendered"]["resource"]} for s in active if s["render_only"]],
        "existing": existing,
        "removal_services": batch.get("removal_services") or {},
    }


def label_failures(labelled: Any) -> Dict[str, str]:
    """Why a namespace could not be labelled privileged (isvc_manage_pod_security), by namespace."""
    return {scope(r.get("item") or {}): "Cannot label namespace {0} privileged for hostIPC (isvc_manage_pod_security): "
            "{1}".format((r.get("item") or {}).get("namespace"), r.get("msg") or "the patch failed")
            for r in _registered(labelled) if r.get("failed")}


def _found(batch: Mapping[str, Any], service: Service) -> Any:
    """What the read before the look-ups found of the service (None: it did not exist)."""
    return (((batch.get("existing") or {}).get(scope(service)) or {}).get("services") or {}).get(service["name"])


def _to_write(services: Mapping[str, Service], unlabelled: Mapping[str, str]) -> List[Service]:
    """The services to write: active, not render-only, in a namespace that could be labelled."""
    return [s for s in _active(services) if not s["render_only"] and scope(s) not in unlabelled]


def _update_if_exists(service: Service) -> bool:
    return flag(service["values"].get("isvc_update_if_exists", True))


def ownership_groups(batch: Mapping[str, Any], labelled: Any = None) -> List[Dict[str, Any]]:
    """The InferenceServices that exist, rendered, for inference_service_ownership, one call per field manager,
    force_conflicts and isvc_update_if_exists, each with what was read of it; none of a namespace that could not be
    labelled. One that did not exist needs no request to decide how it is written (apply_groups decides)."""
    groups: Dict[str, Dict[str, Any]] = {}
    for service in _to_write(batch["services"], label_failures(labelled)):
        found = _found(batch, service)
        if not found:
            continue
        update = _update_if_exists(service)
        key = json.dumps([service["cluster"], service["field_manager"], service["force_conflicts"], update])
        group = groups.setdefault(key, {"cluster": service["cluster"], "field_manager": service["field_manager"],
                                        "force_conflicts": service["force_conflicts"],
                                        "update_if_exists": update, "hosts": [], "resources": [], "existing": []})
        group["hosts"].append(service["host"])
        group["resources"].append(service["rendered"]["resource"])
        group["existing"].append(found)
    return [groups[k] for k in sorted(groups)]


def apply_groups(batch: Mapping[str, Any], labelled: Any, ownership: Any, check_mode: bool = False) -> Dict[str, Any]:
    """After the labels and inference_service_ownership: each service's problem is its own; the definitions it
    returned (with their preconditions), and those of the services that did not exist (_ownership.new_object),
    grouped into one kubernetes.core.k8s call per field manager, force_conflicts and method."""
    from ansible_collections.aml.kserve.plugins.module_utils._ownership import new_object  # when used: see filter/_isvc.py

    services = plain(batch["services"])
    unlabelled = label_failures(labelled)
    for service in _to_write(services, {}):
        if scope(service) in unlabelled:
            service["error"] = unlabelled[scope(service)]
            service["reason"] = "apply"
    owned_by_host: Dict[str, Dict[str, Any]] = {}
    for result in _registered(ownership):
        item = result.get("item") or {}
        prepared_services = result.get("services") or []
        for index, host in enumerate(item.get("hosts") or []):
            if result.get("failed") and not prepared_services:
                owned_by_host[host] = {"failed": True, "msg": str(result.get("msg") or "the ownership check failed")}
                continue
            owned_by_host[host] = dict(prepared_services[index], force_conflicts=bool(item.get("force_conflicts"))) \
                if index < len(prepared_services) else {"failed": True, "msg": "no ownership result for this InferenceService"}
    groups: Dict[str, Dict[str, Any]] = {}
    for service in _to_write(services, unlabelled):
        host = service["host"]
        if _found(batch, service):
            owned = owned_by_host.get(host) or {"failed": True, "msg": "no ownership result for this InferenceService"}
        else:
            method, definition = new_object(service["rendered"]["resource"], _update_if_exists(service))
            owned = {"method": method, "definition": definition, "force_conflicts": service["force_conflicts"]}
        if owned.get("failed"):
            service["error"] = str(owned.get("msg") or "the ownership check failed")
            service["reason"] = "apply"
            continue
        # a check-mode dry-run cannot see the migration it did not write: its old fields would conflict
        force = bool(owned.get("force_conflicts")) or (check_mode and bool(owned.get("migrated")))
        service["method"] = str(owned.get("method") or "apply")
        key = json.dumps([service["cluster"], service["field_manager"], force, service["method"]])
        group = groups.setdefault(key, {"cluster": service["cluster"], "field_manager": service["field_manager"],
                                        "force_conflicts": force,
                                        "method": service["method"], "hosts": [], "definitions": []})
        group["hosts"].append(host)
        group["definitions"].append(owned.get("definition") or service["rendered"]["resource"])
    return dict(batch, services=services, apply=[groups[k] for k in sorted(groups)])


def _apply_results(group: Mapping[str, Any], result: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Per definition of ``group``, from its kubernetes.core.k8s call with continue_on_error: one result, or
    result.results."""
    count = len(group["definitions"])
    if result.get("failed") or result.get("skipped"):
        reason = result.get("msg") or ("skipped" if result.get("skipped") else "the apply failed")
        return [{"error": {"msg": reason}}] * count
    if count == 1:
        return [dict(result)]
    return list((result.get("result") or {}).get("results") or [])


def applied_group(group: Mapping[str, Any], result: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Each service of an apply group by host: ``changed``, and ``error`` (empty when applied) in words that say what
    happened to the object and what to do; ``diff`` in diff mode."""
    from ansible_collections.aml.kserve.plugins.module_utils._ownership import apply_problem  # when used: see filter/_isvc.py

    results = _apply_results(group, result)
    found: Dict[str, Dict[str, Any]] = {}
    for index, host in enumerate(group["hosts"]):
        one = results[index] if index < len(results) else {"error": {"msg": "no result for this definition"}}
        metadata = group["definitions"][index].get("metadata") or {}
        problem = apply_problem(one, str(metadata.get("namespace", "")), str(metadata.get("name", "")),
                                group.get("method", "apply"), "isvc_force_conflicts", "isvc_update_if_exists")
        found[host] = {"changed": bool(one.get("changed")), "error": problem}
        if one.get("diff"):
            found[host]["diff"] = one["diff"]
    return found


def applied(registered: Any, services: Mapping[str, Service]) -> Dict[str, Dict[str, Any]]:
    """Each applied service's outcome by host (_batch_cluster.apply's); when the apply step failed as a whole, its
    message for every service."""
    if isinstance(registered, Mapping) and isinstance(registered.get("services"), Mapping):
        return dict(registered["services"])
    reason = str((registered or {}).get("msg") or "the apply failed") if isinstance(registered, Mapping) else "not applied"
    return {host: {"changed": False, "error": reason} for host in services}


def waits(prepared: Mapping[str, Any], registered: Any) -> List[Dict[str, Any]]:
    """The waits for the services applied without error whose isvc_wait is true: one task item per cluster, timeout
    and rules, with its services (inference_service_info waits for each namespace's with one watch per kind, the
    namespaces at the same time)."""
    done = applied(registered, prepared["services"])
    found: Dict[Tuple[str, int, str], Dict[str, Any]] = {}
    for service in _active(prepared["services"]):
        if service["render_only"] or not service["wait"] or (done.get(service["host"]) or {"error": "x"})["error"]:
            continue
        values = service["values"]
        # the wait's rules (issue 11): services that share them share a wait
        rules = {"settle_seconds": values.get("isvc_wait_settle_seconds", 20),
                 "trust_observed_generation": flag(values.get("isvc_wait_trust_observed_generation", False)),
                 "ready_when": values.get("isvc_ready_when") or None, "fail_when": values.get("isvc_fail_when") or None}
        key = (service["cluster"], service["wait_timeout"], json.dumps(rules, sort_keys=True))
        wait = found.setdefault(key, dict(rules, cluster=key[0], timeout=key[1], services=[]))
        # what the service's children were before the apply: Ready counts only once KServe has pushed this change
        baseline = ((prepared.get("existing") or {}).get(scope(service)) or {}).get("baselines", {}).get(service["name"])
        wait["services"].append({"namespace": service["namespace"], "name": service["name"],
                                 "baseline": baseline or {"exists": False}})
    for wait in found.values():
        wait["services"].sort(key=lambda s: (s["namespace"], s["name"]))
        spaces, first, count = {s["namespace"] for s in wait["services"]}, wait["services"][0], len(wait["services"])
        plural = "s" if len(spaces) > 1 else ""
        wait["label"] = ("{0}/{1}".format(first["namespace"], first["name"]) if count == 1 else
                         "{0} InferenceServices in {1} namespace{2}".format(count, len(spaces), plural))
    return [found[k] for k in sorted(found)]


def _wait_summaries(registered: Any) -> Dict[str, Dict[str, Any]]:
    summaries: Dict[str, Dict[str, Any]] = {}
    for result in _registered(registered):
        item = result.get("item") or {}
        by_name = {(s.get("namespace"), s.get("name")): s for s in result.get("inference_services") or []}
        for service in item.get("services") or []:
            where = scope({"cluster": item.get("cluster"), "namespace": service["namespace"]})
            # a wait that failed as a whole (a bad option, no client) has no entry per service: its message is theirs
            summaries[where + "/" + service["name"]] = by_name.get((service["namespace"], service["name"])) or {
                "ready": False, "failed": True, "message": result.get("msg") or "the wait failed",
                # KServe's reason; a timeout carries the last status; else the wait could not read (RBAC, connection)
                "reason": result.get("reason") or ("timeout" if "status" in result else "read")}
    return summaries


def _summary_line(outcome: Mapping[str, Any], check_mode: bool) -> str:
    state = "ready" if outcome["ready"] else ("checked" if check_mode else outcome.get("state") or "applied (not waited)")
    line = ("{namespace}/{name}: {state}, {project_path}@{revision} on {runtime} ({deployment_mode}), in cluster "
            "{in_cluster_endpoint}, outside {outside}".format(**dict(outcome, state=state,
                                                                     outside=outcome["out_cluster_endpoint"] or "(none yet)")))
    return _with_warnings(line, outcome.get("warnings") or [])


def _with_warnings(text: str, warnings: List[str]) -> str:
    """A message and its warnings after it: ``<text>. WARNING: <first> WARNING: <second>``."""
    return text + "".join(". WARNING: " + w if i == 0 else " WARNING: " + w for i, w in enumerate(warnings))


def pod_security_warnings(service: Service) -> List[str]:
    """Why hostIPC could not be checked against the namespace's Pod Security level, kept with the service's outcome
    (its message, isvc_result and isvc_results), also when the wait fails: that may be the reason."""
    if not service.get("pod_security_unread"):
        return []
    return ["the Pod Security level of namespace {0} could not be read (no get on the Namespace), so hostIPC was not "
            "checked against it; if the predictor's pods are not created, see the PSA fix in the README".format(
                service["namespace"])]


def outcomes(prepared: Mapping[str, Any], registered_apply: Any, registered_wait: Any, manifests: Any, now: float,
             check_mode: bool = False, registered_removal: Any = None) -> Dict[str, Dict[str, Any]]:
    """The outcome of each service of the batch, by host: the role's result, and ``failed`` with ``msg``."""
    done = applied(registered_apply, prepared["services"])
    summaries = _wait_summaries(registered_wait)
    written = {(r.get("item") or {}).get("path"): r for r in _registered(manifests)}
    found = removal_outcomes(prepared, registered_removal, now)
    for host, service in prepared["services"].items():
        outcome: Dict[str, Any] = {"name": service["name"], "namespace": service["namespace"], "msg": "", "ready": False,
                                   "changed": False, "seconds": round(now - (service["started"] or now), 1)}
        error, reason = service["error"], service.get("reason") or "error"
        if not error and service["render_only"]:
            result = written.get(service["manifest"]) or {"failed": True, "msg": "the manifest was not written"}
            if result.get("failed"):
                error, reason = ("Cannot write the manifest under isvc_render_dir ({0}): {1}. Set isvc_render_dir to a "
                                 "directory this controller user may create and write.".format(
                                     service["values"].get("isvc_render_dir"), result.get("msg")), "write")
            outcome.update(manifest=service["manifest"], changed=bool(result.get("changed")))
        elif not error:
            apply = done.get(host) or {"error": "not applied", "changed": False}
            summary = summaries.get(scope(service) + "/" + service["name"])
            if apply["error"]:
                error, reason = apply["error"], "apply"
            # the wait decides: a service it did not fail (stopped, not waited) is not a failure
            elif summary is not None and not summary.get("ready") and (summary.get("failed") or summary.get("msg")):
                # the wait's own reason (KServe's, such as ModelLoadFailed), or timeout
                error = str(summary.get("message") or "not ready")
                reason = str(summary.get("reason") or ("timeout" if summary.get("state") == "timeout" else "failed"))
            outcome.update(changed=apply["changed"], ready=bool((summary or {}).get("ready")),
                           state=str((summary or {}).get("state") or ""),
                           out_cluster_endpoint=str((summary or {}).get("url") or ""),
                           waited=(summary or {}).get("waited", 0))
        warnings = pod_security_warnings(service)  # only of a service the guard let through
        if error:
            error = _with_warnings(error.rstrip("."), warnings) if warnings else error  # it may say why the wait failed
            # issue 14's failure record: which service, a short class and the failed step's message
            outcome.update(failed=True, reason=reason, message=error, msg=error)
            found[host] = outcome
            continue
        rendered, model = service["rendered"], service["model"]
        outcome.update(in_cluster_endpoint=rendered["in_cluster_endpoint"], deployment_mode=rendered["deployment_mode"],
                       project_path=model["project_path"], commit_id=model["commit_id"], revision=model["revision"],
                       runtime=service["runtime"]["name"], runtime_choice=service["runtime"]["choice"],
                       warnings=_role_checks.render_warnings(rendered) + warnings)
        outcome.setdefault("out_cluster_endpoint", "")
        outcome["msg"] = (_summary_line(outcome, check_mode) if not service["render_only"] else
                          "{0}/{1}: manifest {2}".format(service["namespace"], service["name"], service["manifest"]))
        found[host] = outcome
    return found


def host_result(outcome: Mapping[str, Any]) -> Dict[str, Any]:
    """A service's outcome as its host's task result: shown in full (as a debug task's is), changed when the apply
    changed it, failed with its own message when it failed. Registered, it is the role's isvc_result."""
    return dict(outcome, changed=bool(outcome.get("changed")), failed=bool(outcome.get("failed")),
                msg=str(outcome.get("msg") or ""), _ansible_verbose_always=True)


def stats(outcomes_by_host: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """isvc_results for set_stats: every outcome by namespace/name, the failed ones with their reason."""
    return {"{0}/{1}".format(o["namespace"], o["name"]): dict(o) for o in outcomes_by_host.values()}


# -- the batch report ---------------------------------------------------------------------------------------------


def report(results: Mapping[str, Mapping[str, Any]], hosts: List[str]) -> List[Dict[str, Any]]:
    """One report line per host of the play, from each host's isvc_result; a host with none was not reached (the
    rollout stopped before it at max_fail_percentage) and is reported as skipped."""
    lines = []
    for host in hosts:
        result = results.get(host) or {}
        failed = bool(result.get("failed"))
        lines.append({"service": str(result.get("name") or host.split("@")[0]),
                      "namespace": str(result.get("namespace") or ""),
                      "result": "failed" if failed else ("ok" if result else "skipped"),
                      "commit": str(result.get("commit_id") or ""),
                      "endpoint": str(result.get("out_cluster_endpoint") or result.get("in_cluster_endpoint")
                                      or result.get("manifest") or ""),
                      "seconds": float(result.get("seconds") or 0),
                      "reason": " ".join(str(result.get("msg") or "").split()) if failed else ("" if result else NO_OUTCOME)})
    return sorted(lines, key=lambda line: (line["namespace"], line["service"]))


def junit_xml(lines: List[Mapping[str, Any]], suite: str = "aml.kserve batch_deploy") -> str:
    """The report as JUnit XML: one testcase per service (failed ones marked)."""
    import xml.etree.ElementTree as ET  # when used: 18 ms to import, for the report only

    root = ET.Element("testsuites")
    failed = [o for o in lines if o.get("result") == "failed"]
    skipped = [o for o in lines if o.get("result") == "skipped"]
    attrs = {"name": suite, "tests": str(len(lines)), "failures": str(len(failed)), "errors": "0",
             "skipped": str(len(skipped)),
             "time": "{0:.3f}".format(sum(float(o.get("seconds") or 0) for o in lines))}
    root.attrib.update(attrs)
    element = ET.SubElement(root, "testsuite", attrs)
    for line in lines:
        case = ET.SubElement(element, "testcase", {"classname": str(line.get("namespace", "")),
                                                   "name": str(line.get("service", "")),
                                                   "time": "{0:.3f}".format(float(line.get("seconds") or 0))})
        if line.get("result") == "failed":
            node = ET.SubElement(case, "failure", {"message": str(line.get("reason", ""))[:500], "type": "DeployFailed"})
            node.text = str(line.get("reason", ""))
        elif line.get("result") == "skipped":
            ET.SubElement(case, "skipped", {"message": str(line.get("reason", ""))})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = "commit {0}\nendpoint {1}".format(line.get("commit", ""), line.get("endpoint", ""))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def table(lines: List[Mapping[str, Any]]) -> List[str]:
    """The report as an aligned text table, one line per service (a list, so debug prints it readably)."""
    headers = ("SERVICE", "NAMESPACE", "RESULT", "COMMIT", "ENDPOINT", "SECONDS", "FAILURE")
    rows = [(str(o.get("service", "")), str(o.get("namespace", "")), str(o.get("result", "")), str(o.get("commit", ""))[:12],
             str(o.get("endpoint", "")), "{0:.1f}".format(float(o.get("seconds") or 0)),
             " ".join(str(o.get("reason", "")).split())[:120]) for o in lines]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    text = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [headers] + rows]
    counts = [sum(1 for o in lines if o.get("result") == r) for r in ("ok", "failed", "skipped")]
    text.append("{0} of {3} deployed; {1} failed; {2} skipped".format(*counts, len(lines)))
    return text
