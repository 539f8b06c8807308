# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The deploy role's checks that span several variables, used by module_utils/_batch.py for every service of a
play batch. Each returns the problems, never raises."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.aml.kserve.plugins.module_utils._errors import ValidationError

RAW_MODES = ("RawDeployment", "Standard")
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
# Appended to a render error: the renderer names its options, the user set role variables.
RENDER_HINT = ("(Each option named above is the role variable isvc_<option>: cpu_request is isvc_cpu_request, name is "
               "isvc_name.)")


def render_problem(message: str) -> str:
    """The renderer's error, said in the role's terms."""
    return "{0} {1}".format(message, RENDER_HINT)


def render_warnings(rendered: Mapping[str, Any]) -> List[str]:
    """What the role warns about in a render result (the inference_service module's), in the role's terms."""
    from ansible_collections.aml.kserve.plugins.module_utils._render import repeated_args_warning  # when used: see filter/_isvc.py

    repeated = list(rendered.get("repeated_args") or [])
    return [repeated_args_warning(repeated, "isvc_inherit_runtime_container")] if repeated else []


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    return "" if value is None else str(value)


def _int(values: Mapping[str, Any], key: str) -> int:
    try:
        return int(values.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def _as_given(value: Any) -> Any:
    """A number as the user wrote it: the argument spec makes -1 a float (-1.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def flag(value: Any) -> bool:
    """A boolean role variable, also when an AWX survey or -e passed it as text."""
    return value.strip().lower() in ("1", "true", "yes", "on", "y", "t") if isinstance(value, str) else bool(value)


def input_problems(values: Mapping[str, Any]) -> List[str]:
    """The preflight's cross-field rules on the role variables, checked before any request."""
    present = _text(values, "isvc_state") != "absent"
    hami = [str(values.get(k)) for k in ("isvc_nvidia_gpualloc", "isvc_nvidia_gpucores", "isvc_nvidia_gpumem")
            if values.get(k) is not None and str(values.get(k))]
    branch, tag = _text(values, "isvc_model_repo_branch"), _text(values, "isvc_model_repo_tag")
    low, high = _int(values, "isvc_min_replicas"), _int(values, "isvc_max_replicas")
    rules = [
        (not present or bool(_text(values, "isvc_runtime_name")) or bool(_text(values, "isvc_runtime_class")),
         "isvc_runtime_name or isvc_runtime_class must be set: give the ClusterServingRuntime's name, or its class (the "
         "value of its cpaas.io/runtime-class label)"),
        (not present or bool(_text(values, "isvc_model_repo")),
         "isvc_model_repo must not be empty; give the name of the model project in GitLab"),
        (not (branch and tag),
         "isvc_model_repo_branch ({0}) and isvc_model_repo_tag ({1}) cannot both be set; keep one, or neither for the "
         "default branch".format(branch, tag)),
        (not _text(values, "isvc_nvidia_gpu") or not hami,
         "isvc_nvidia_gpu (NVIDIA device plugin) cannot be combined with the HAMi values "
         "isvc_nvidia_gpualloc/isvc_nvidia_gpucores/isvc_nvidia_gpumem ({0}); set those to \"\" or leave isvc_nvidia_gpu "
         "empty".format(", ".join(hami))),
        (low >= 0, "isvc_min_replicas ({0}) must be 0 or more".format(values.get("isvc_min_replicas"))),
        (high >= 1, "isvc_max_replicas ({0}) must be 1 or more".format(values.get("isvc_max_replicas"))),
        (high >= low, "isvc_max_replicas ({0}) must not be less than isvc_min_replicas ({1})".format(
            values.get("isvc_max_replicas"), values.get("isvc_min_replicas"))),
        (_int(values, "isvc_wait_timeout") >= 1,
         "isvc_wait_timeout ({0}) must be at least 1 second".format(values.get("isvc_wait_timeout"))),
        (bool(_text(values, "isvc_field_manager")),
         "isvc_field_manager must not be empty; it names this tool in the InferenceService's managedFields"),
        (_float(values, "isvc_wait_settle_seconds") >= 0,
         "isvc_wait_settle_seconds ({0}) must not be negative".format(_as_given(values.get("isvc_wait_settle_seconds")))),
    ]
    return [message for ok, message in rules if not ok] + _expression_problems(values)


def _float(values: Mapping[str, Any], key: str) -> float:
    try:
        return float(values.get(key) or 0)
    except (TypeError, ValueError):
        return 0.0


def _expression_problems(values: Mapping[str, Any]) -> List[str]:
    """isvc_ready_when and isvc_fail_when compiled, so a malformed one fails before any request."""
    from ansible_collections.aml.kserve.plugins.module_utils._readiness import compile_expression  # when used: see filter/_isvc.py

    problems: List[str] = []
    for variable in ("isvc_ready_when", "isvc_fail_when"):
        try:
            compile_expression(values.get(variable), variable)
        except ValidationError as error:
            problems.extend(error.problems)
    return problems


def pod_security_level(namespace: Optional[Mapping[str, Any]]) -> str:
    """The level a Namespace object enforces; empty when unset."""
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(POD_SECURITY_LABEL) or "")


def guard_problems(values: Mapping[str, Any], existing: Optional[Mapping[str, Any]], deployment_mode: str,
                   psa_level: Optional[str]) -> List[str]:
    """What the guard refuses before the apply: an unwanted update, a change of deployment mode, hostIPC where the
    namespace's Pod Security level forbids it (unless the role may label the namespace)."""
    name, namespace = _text(values, "isvc_name"), _text(values, "isvc_namespace")
    problems = []
    if existing:
        if not flag(values.get("isvc_update_if_exists", True)):
            problems.append(
                "InferenceService {0}/{1} already exists and isvc_update_if_exists is false; nothing was changed. Set "
                "isvc_update_if_exists to true to update it.".format(namespace, name))
        annotations = (existing.get("metadata") or {}).get("annotations") or {}
        # KServe records the mode it chose in the status when no annotation asked for one
        current = (annotations.get("serving.kserve.io/deploymentMode") or (existing.get("status") or {}).get("deploymentMode")
                   or "Serverless")
        if (current in RAW_MODES) != (deployment_mode in RAW_MODES):
            problems.append(
                "InferenceService {0}/{1} runs in {2} mode and this run renders {3}; KServe rejects a change of deployment "
                "mode. Keep the mode (RawDeployment when isvc_min_replicas equals isvc_max_replicas, else Serverless, or "
                "set isvc_deployment_mode), or remove the service first with isvc_state=absent. Nothing was "
                "changed.".format(namespace, name, current, deployment_mode))
    if _host_ipc_forbidden(values, psa_level) and not flag(values.get("isvc_manage_pod_security", False)):
        problems.append(
            "Namespace {0} enforces Pod Security level {1}, which forbids hostIPC, so the predictor's pods would never be "
            "created. Nothing was changed. Fix: kubectl label namespace {0} pod-security.kubernetes.io/enforce=privileged "
            "--overwrite (or set isvc_manage_pod_security: true, or isvc_host_ipc: false if the runtime does not need "
            "shared memory).".format(namespace, psa_level))
    return problems


def _host_ipc_forbidden(values: Mapping[str, Any], psa_level: Optional[str]) -> bool:
    return flag(values.get("isvc_host_ipc", True)) and psa_level in ("baseline", "restricted")


def needs_privileged_label(values: Mapping[str, Any], psa_level: Optional[str]) -> bool:
    """hostIPC in a namespace that forbids it, and the role may label the namespace privileged."""
    return _host_ipc_forbidden(values, psa_level) and flag(values.get("isvc_manage_pod_security", False))


def render_params(values: Mapping[str, Any], options: Mapping[str, Any], model: Mapping[str, Any],
                  runtime: Mapping[str, Any]) -> Dict[str, Any]:
    """The inference_service module's options from the role variables, as the role's render task maps them."""
    params: Dict[str, Any] = {"model": model, "runtime": runtime}
    for option in options:
        key = "isvc_" + option
        if option not in params and key in values and values[key] is not None:
            params[option] = values[key]
    if not params.get("storage_uri"):
        params.pop("storage_uri", None)
    return params
