# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Render the pipeline's InferenceService as a dict, from validated options. Pure: no I/O.

The field-for-field reference is the ``deploy-inference-service`` pipeline's heredoc. Where the
pipeline was wrong, we differ on purpose:
- strings land verbatim (a multi-line description broke its heredoc);
- a nested subgroup (``a/b``) is encoded into a valid label value (``a.b``) and kept raw in the
  ``aml-model-subgroup`` annotation (the pipeline's label made the apply fail);
- values that cannot be label values fail here, before anything is sent;
- runtime env entries are copied whole (the pipeline kept only ``value`` and lost ``valueFrom``).

What is copied from the runtime's container is ``inherit_runtime_container``'s choice (``all`` by default, the
pipeline's). KServe builds the predictor container by merging the runtime's container with the InferenceService's
and concatenates the args, the runtime's first (``MergeRuntimeContainers`` in KServe's
pkg/controller/v1beta1/inferenceservice/utils/utils.go, 0.14 to 0.20), so copied args are passed twice;
``repeated_args`` names them, and ``command_env`` copies the rest without them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, List, Mapping, Optional

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.aml.kserve.plugins.module_utils._errors import ValidationError
from ansible_collections.aml.kserve.plugins.module_utils import _kube_names as names

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"

RAW_MODES = ("RawDeployment", "Standard")
SERVERLESS_MODES = ("Serverless", "Knative")
DEPLOYMENT_MODES = ("auto",) + RAW_MODES + SERVERLESS_MODES
PROTOCOL_VERSIONS = ("v1", "v2", "grpc-v1", "grpc-v2")

MODEL_KEYS = ("repo", "project_id", "group", "subgroup", "branch", "revision", "pipeline_tag", "library_name")
RUNTIME_KEYS = ("name", "runtime_class")
NON_EMPTY_KEYS = ("repo", "project_id", "group", "revision", "pipeline_tag", "library_name", "name")
HAMI_OPTIONS = ("nvidia_gpualloc", "nvidia_gpucores", "nvidia_gpumem")
# option -> resource name in limits, in the pipeline's order
LIMIT_RESOURCES = (
    ("cpu_limit", "cpu"),
    ("memory_limit", "memory"),
    ("nvidia_gpualloc", "nvidia.com/gpualloc"),
    ("nvidia_gpucores", "nvidia.com/gpucores"),
    ("nvidia_gpumem", "nvidia.com/gpumem"),
    ("nvidia_gpu", "nvidia.com/gpu"),
)
REQUEST_RESOURCES = (("cpu_request", "cpu"), ("memory_request", "memory"))
DEFAULT_EPHEMERAL_STORAGE = "10Gi"
DESCRIPTION_MAX = 2048
# A storage URI as KServe's storage initializer reads it: a scheme, then the location, no whitespace.
STORAGE_URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
RENDERED_LABELS = frozenset(("aml-model-group", "aml-model-repo", "aml-model-subgroup", "aml-pipeline-tag",
                             "aml.cpaas.io/runtime-type", "service.subdomain"))
RENDERED_ANNOTATIONS = frozenset(("aml-model-repo", "aml-model-repo-branch", "aml-model-repo-id", "aml-model-repo-tag-commit",
                                  "aml-pipeline-tag", "cpaas.io/description", "serving.knative.dev/progress-deadline",
                                  "serving.kserve.io/deploymentMode", "storage-initializer-pvc-name", "aml-model-subgroup"))
SUBGROUP_ANNOTATION = "aml-model-subgroup"
# inherit_runtime_container: what is copied from the runtime's container into the predictor.
INHERIT_ALL, INHERIT_COMMAND_ENV, INHERIT_NONE = "all", "command_env", "none"
INHERIT_MODES = (INHERIT_ALL, INHERIT_COMMAND_ENV, INHERIT_NONE)
INHERITED_FIELDS = {INHERIT_ALL: ("command", "env", "args"), INHERIT_COMMAND_ENV: ("command", "env"), INHERIT_NONE: ()}


def in_cluster_endpoint(name: str, namespace: str) -> str:
    return "http://{0}-predictor.{1}.svc.cluster.local".format(name, namespace)


def resolve_deployment_mode(mode: str, min_replicas: int, max_replicas: int) -> str:
    """The pipeline's rule for ``auto``: RawDeployment when min == max, else Serverless."""
    if mode != "auto":
        return mode
    return "RawDeployment" if min_replicas == max_replicas else "Serverless"


def encode_label_path(path: str) -> str:
    """A GitLab namespace path (``team-a/nlp``) as a valid label value (``team-a.nlp``).

    Longer than a label allows: cut, with a digest of the whole path so values stay distinct.
    """
    value = path.replace("/", ".")
    if len(value) > 63:
        digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:8]
        value = value[:54].rstrip("-_.") + "-" + digest
    return value


def inherit_mode(value: Any) -> Optional[str]:
    """The ``inherit_runtime_container`` choice ``value`` names, or None when it names none.

    Booleans (also as text, as ``-e`` and AWX surveys pass them) keep their old meaning: true is ``all``, false
    ``none``. Unset is the default, ``all``.
    """
    if value is None:
        return INHERIT_ALL
    if isinstance(value, str):
        value = value.strip().lower()
        if value in INHERIT_MODES:
            return value
    if isinstance(value, (bool, int, str)):
        if value in BOOLEANS_TRUE:
            return INHERIT_ALL
        if value in BOOLEANS_FALSE:
            return INHERIT_NONE
    return None


def _argument_keys(args: List[str]) -> List[str]:
    """Each argument once, as its flag (``--port`` of ``--port=8080`` or ``--port 8080``) or, positional, itself."""
    keys: List[str] = []
    after_flag = False
    for arg in args:
        if arg.startswith("-") and arg not in ("-", "--"):
            flag, has_value, _value = arg.partition("=")
            keys.append(flag)
            after_flag = not has_value
        elif after_flag:
            after_flag = False  # the value of the flag before it
        else:
            keys.append(arg)
    return list(dict.fromkeys(keys))


def repeated_args(runtime_args: Any, rendered_args: Any) -> List[str]:
    """The runtime's arguments that the predictor container would get twice, in the runtime's order.

    KServe appends the InferenceService's args to the runtime's (MergeRuntimeContainers), so an argument of the
    runtime that the rendered args also hold is passed twice: harmless for a flag whose last value wins, wrong for a
    positional argument or a repeatable flag.
    """
    runtime_keys = _argument_keys([str(a) for a in runtime_args or []])
    rendered_keys = set(_argument_keys([str(a) for a in rendered_args or []]))
    return [key for key in runtime_keys if key in rendered_keys]


def _text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    return "" if value is None else str(value)


class _Problems:
    def __init__(self) -> None:
        self.items: List[str] = []

    def add(self, option: str, value: Any, reason: Optional[str], fix: str = "") -> None:
        if reason:
            text = "{0}={1!r} {2}".format(option, value, reason)
            self.items.append(text + ("; " + fix if fix else ""))


def validate(params: Mapping[str, Any]) -> None:
    """Raise ValidationError listing every problem in ``params``; return quietly when none."""
    problems = _Problems()
    name = _text(params, "name")
    namespace = _text(params, "namespace")

    reason = names.check_dns1035_label(name[:63]) if name else "must not be empty"
    if not reason and len(name + "-predictor") > 63:
        reason = "is too long ({0} characters): '<name>-predictor' must fit in 63, so at most 53".format(len(name))
    problems.add("name", name, reason, "use lower case letters, digits and '-', starting with a letter")
    problems.add("namespace", namespace, names.check_dns1123_label(namespace) if namespace else "must not be empty")

    _validate_replicas(params, problems)
    _validate_resources(params, problems)

    pvc = _text(params, "pvc_name")
    if pvc:
        problems.add("pvc_name", pvc, names.check_dns1123_subdomain(pvc), "give the name of an existing PersistentVolumeClaim")
    storage_uri = _text(params, "storage_uri")
    if storage_uri and not STORAGE_URI.match(storage_uri):
        problems.add("storage_uri", storage_uri, "has no scheme or contains whitespace",
                     "give a URI KServe's storage initializer reads, e.g. hf://<namespace>/<repo>:<revision>, "
                     "s3://bucket/path, gs://bucket/path, pvc://<claim>/path or https://host/path")
    storage = _text(params, "ephemeral_storage_size")
    if storage:
        problems.add("ephemeral_storage_size", storage, names.check_quantity(storage))
    problems.add("progress_deadline", _text(params, "progress_deadline"),
                 names.check_duration(_text(params, "progress_deadline")))
    mode = _text(params, "deployment_mode") or "auto"
    if mode not in DEPLOYMENT_MODES:
        problems.add("deployment_mode", mode, "is not one of " + ", ".join(DEPLOYMENT_MODES))
    protocol = _text(params, "protocol_version")
    if protocol not in PROTOCOL_VERSIONS:
        problems.add("protocol_version", protocol, "is not one of " + ", ".join(PROTOCOL_VERSIONS))

    description = _text(params, "description")
    if len(description) > DESCRIPTION_MAX:
        problems.add("description", description[:40] + "...", "is {0} characters long; at most {1} are allowed".format(
            len(description), DESCRIPTION_MAX))
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in description):
        problems.items.append("description contains control characters (such as NUL); only tabs and line breaks are allowed")

    model = params.get("model") or {}
    runtime = params.get("runtime") or {}
    inputs_complete = all((
        _require_keys(problems, "model", model, MODEL_KEYS, "pass the registered result of aml.kserve.gitlab_model_ref"),
        _require_keys(problems, "runtime", runtime, RUNTIME_KEYS, "pass the 'runtime' returned by aml.kserve.serving_runtime_info"),
    ))
    inherit = inherit_mode(params.get("inherit_runtime_container"))
    if inherit is None:
        problems.add("inherit_runtime_container", params.get("inherit_runtime_container"),
                     "is not one of " + ", ".join(INHERIT_MODES),
                     "all copies the runtime's command, args and env, command_env its command and env (its args "
                     "then reach the container once), none nothing; true means all and false none")
    elif inputs_complete and inherit != INHERIT_NONE:
        _validate_container(runtime.get("container"), problems)

    if inputs_complete:
        for key, value in _labels(params).items():
            problems.add("label " + key, value, names.check_label_value(value), _label_fix(key))
    for option, reserved in (("labels", RENDERED_LABELS), ("annotations", RENDERED_ANNOTATIONS)):
        extra = params.get(option) or {}
        if not isinstance(extra, dict):
            problems.add(option, extra, "must be a dict of strings")
            continue
        for key, value in extra.items():
            problems.add("{0} key".format(option), key, names.check_qualified_name(str(key)))
            if key in reserved:
                problems.add("{0} key".format(option), key, "is rendered by this module and cannot be overridden",
                             "set the option it comes from instead")
            if option == "labels":
                problems.add("labels[{0!r}]".format(key), value,
                             names.check_label_value(value) if isinstance(value, str) else "must be a string", "quote it")
            elif not isinstance(value, str):
                problems.add("annotations[{0!r}]".format(key), value, "must be a string", "quote it")
    if problems.items:
        raise ValidationError(problems.items, subject="inference_service options")


def _label_fix(key: str) -> str:
    return {
        "service.subdomain": "shorten name (this label is '<name>-<group>')",
        "aml-model-repo": "rename the GitLab project to a valid label value",
    }.get(key, "")


def _validate_replicas(params: Mapping[str, Any], problems: _Problems) -> None:
    low, high = params.get("min_replicas"), params.get("max_replicas")
    ints = True
    for option, value in (("min_replicas", low), ("max_replicas", high)):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.add(option, value, "must be a whole number")
            ints = False
    if not ints:
        return
    problems.add("min_replicas", low, "must be 0 or more" if low < 0 else None)
    problems.add("max_replicas", high, "must be 1 or more" if high < 1 else None)
    if high < low:
        problems.items.append("max_replicas={0} is less than min_replicas={1}; raise max_replicas or lower min_replicas".format(high, low))


def _validate_resources(params: Mapping[str, Any], problems: _Problems) -> None:
    for option in ("cpu_request", "memory_request", "cpu_limit", "memory_limit"):
        value = _text(params, option)
        if value:
            problems.add(option, value, names.check_quantity(value), "leave it empty to not set it")
    for kind in ("cpu", "memory"):
        request, limit = _text(params, kind + "_request"), _text(params, kind + "_limit")
        low, high = names.parse_quantity(request), names.parse_quantity(limit)
        if low is not None and high is not None and low > high:
            problems.items.append("{0}_request={1!r} is more than {0}_limit={2!r}; a request must not exceed its limit".format(
                kind, request, limit))
    checks = {"nvidia_gpualloc": (1, None), "nvidia_gpucores": (1, 100), "nvidia_gpumem": (1, None), "nvidia_gpu": (1, None)}
    for option, (low, high) in checks.items():
        value = _text(params, option)
        if value:
            problems.add(option, value, names.check_positive_int(value, low, high), "leave it empty to not set it")
    hami = [o for o in HAMI_OPTIONS if _text(params, o)]
    if _text(params, "nvidia_gpu") and hami:
        problems.items.append(
            "nvidia_gpu (NVIDIA device plugin) cannot be combined with HAMi options ({0}); set those to '' "
            "or leave nvidia_gpu empty".format(", ".join("{0}={1!r}".format(o, _text(params, o)) for o in hami)))


def _require_keys(problems: _Problems, option: str, value: Any, keys: tuple, fix: str) -> bool:
    if not isinstance(value, dict):
        problems.items.append("{0} must be a dict; {1}".format(option, fix))
        return False
    missing = [k for k in keys if value.get(k) is None]
    if missing:
        problems.items.append("{0} lacks {1}; {2}".format(option, ", ".join(missing), fix))
    # What the pipeline refuses to go on without (its `exit 1` on an empty repo, commit, tag or runtime).
    empty = [k for k in keys if k not in missing and k in NON_EMPTY_KEYS and str(value[k]) == ""]
    if empty:
        problems.items.append("{0}.{1} must not be empty; {2}".format(option, (", " + option + ".").join(empty), fix))
    return not missing and not empty


def _validate_container(container: Any, problems: _Problems) -> None:
    """The runtime container's command/args are lists of strings, env a list of dicts (as in a Pod spec)."""
    if container is None:
        return
    if not isinstance(container, dict):
        problems.items.append("runtime.container must be a dict with command/args/env (as serving_runtime_info returns)")
        return
    for field in ("command", "args"):
        value = container.get(field)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            problems.items.append("runtime.container.{0} must be a list of strings, not {1!r}".format(field, value))
    env = container.get("env")
    if env is not None and (not isinstance(env, list) or not all(isinstance(e, dict) and e.get("name") for e in env)):
        problems.items.append("runtime.container.env must be a list of {{name, value | valueFrom}} dicts, not {0!r}".format(env))


def _labels(params: Mapping[str, Any]) -> Dict[str, str]:
    model, runtime = params["model"], params["runtime"]
    group = str(model["group"])
    labels = {
        "aml-model-group": group,
        "aml-model-repo": str(model["repo"]),
        "aml-model-subgroup": encode_label_path(str(model["subgroup"])),
        "aml-pipeline-tag": str(model["pipeline_tag"]),
        "aml.cpaas.io/runtime-type": str(runtime.get("runtime_class") or ""),
        "service.subdomain": "{0}-{1}".format(params["name"], group),
    }
    return labels


def _resources(params: Mapping[str, Any]) -> Dict[str, Dict[str, str]]:
    requests = {res: _text(params, opt) for opt, res in REQUEST_RESOURCES if _text(params, opt)}
    limits = {res: _text(params, opt) for opt, res in LIMIT_RESOURCES if _text(params, opt)}
    if not _text(params, "pvc_name"):
        limits["ephemeral-storage"] = _text(params, "ephemeral_storage_size") or DEFAULT_EPHEMERAL_STORAGE
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def render(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Validate ``params`` (the module's options) and return the InferenceService dict."""
    validate(params)
    model, runtime = params["model"], params["runtime"]
    name, namespace = params["name"], params["namespace"]
    mode = resolve_deployment_mode(params.get("deployment_mode") or "auto", params["min_replicas"], params["max_replicas"])
    subgroup = str(model["subgroup"])

    annotations = {
        "aml-model-repo": str(model["repo"]),
        "aml-model-repo-branch": str(model["branch"] or ""),
        "aml-model-repo-id": str(model["project_id"]),
        "aml-model-repo-tag-commit": str(model["revision"]),
        "aml-pipeline-tag": str(model["pipeline_tag"]),
        "cpaas.io/description": _text(params, "description"),
        "serving.knative.dev/progress-deadline": params["progress_deadline"],
        "serving.kserve.io/deploymentMode": mode,
    }
    if _text(params, "pvc_name"):
        annotations["storage-initializer-pvc-name"] = params["pvc_name"]
    if encode_label_path(subgroup) != subgroup:
        annotations[SUBGROUP_ANNOTATION] = subgroup
    annotations.update({str(k): v for k, v in (params.get("annotations") or {}).items()})
    labels = _labels(params)
    labels.update({str(k): str(v) for k, v in (params.get("labels") or {}).items()})

    model_spec: Dict[str, Any] = {
        "modelFormat": {"name": str(model["library_name"])},
        "protocolVersion": params["protocol_version"],
    }
    resources = _resources(params)
    if resources:
        model_spec["resources"] = resources
    container = runtime.get("container") or {}
    for field in INHERITED_FIELDS[inherit_mode(params.get("inherit_runtime_container")) or INHERIT_ALL]:
        if container.get(field):
            model_spec[field] = list(container[field])
    model_spec["storageUri"] = _text(params, "storage_uri") or "hf://{0}/{1}:{2}".format(namespace, model["repo"], model["revision"])
    model_spec["runtime"] = str(runtime["name"])
    model_spec["name"] = "kserve-container"

    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "predictor": {
                "minReplicas": params["min_replicas"],
                "maxReplicas": params["max_replicas"],
                "hostIPC": bool(params.get("host_ipc", True)),
                "model": model_spec,
            }
        },
    }


def render_result(params: Mapping[str, Any]) -> Dict[str, Any]:
    """What the inference_service module (and its action plugin) return."""
    resource = render(params)
    container = params["runtime"].get("container")
    runtime_args = container.get("args") if isinstance(container, dict) else None  # unchecked when not copied
    repeated = repeated_args(runtime_args, resource["spec"]["predictor"]["model"].get("args"))
    result = {
        "changed": False,
        "resource": resource,
        "deployment_mode": resource["metadata"]["annotations"]["serving.kserve.io/deploymentMode"],
        "in_cluster_endpoint": in_cluster_endpoint(params["name"], params["namespace"]),
        "inherit_runtime_container": inherit_mode(params.get("inherit_runtime_container")),
        "repeated_args": repeated,
    }
    if repeated:
        result["warnings"] = [repeated_args_warning(repeated, "inherit_runtime_container")]
    return result


def repeated_args_warning(repeated: List[str], option: str) -> str:
    """The warning for ``repeated`` (from repeated_args), naming ``option``, the module's or the role's."""
    return ("the predictor container gets the runtime's args twice ({0}): KServe appends the InferenceService's args "
            "to the runtime's (MergeRuntimeContainers, in every release). Set {1} to command_env to pass them "
            "once.".format(", ".join(repeated), option))
