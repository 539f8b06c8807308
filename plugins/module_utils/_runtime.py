# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Choose a KServe (Cluster)ServingRuntime for a model, as the pipeline's ``get_runtime`` does, but
deterministically and without giving up when the first runtime of a class does not fit. Pure."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.aml.kserve.plugins.module_utils._errors import RuntimeLookupError

DEFAULT_CLASS_LABEL = "cpaas.io/runtime-class"


def _name(runtime: Dict[str, Any]) -> str:
    return runtime.get("metadata", {}).get("name", "")


def runtime_class(runtime: Dict[str, Any], class_label: str) -> str:
    return (runtime.get("metadata", {}).get("labels") or {}).get(class_label, "")


def supported_formats(runtime: Dict[str, Any]) -> List[str]:
    return [f.get("name", "") for f in (runtime.get("spec", {}).get("supportedModelFormats") or [])]


def supports(runtime: Dict[str, Any], model_format: Optional[str]) -> bool:
    return not model_format or model_format in supported_formats(runtime)


def check_by_name(runtime: Dict[str, Any], kind: str, wanted_class: Optional[str], class_label: str,
                  model_format: Optional[str]) -> None:
    """The pipeline's checks for a runtime chosen by name."""
    name = _name(runtime)
    actual = runtime_class(runtime, class_label)
    if wanted_class and actual != wanted_class:
        raise RuntimeLookupError(
            "{0} {1!r} has runtime class {2!r} (label {3}), but runtime_class {4!r} was asked for; fix one of "
            "them or leave runtime_class empty".format(kind, name, actual, class_label, wanted_class))
    if runtime.get("spec", {}).get("disabled"):
        raise RuntimeLookupError("{0} {1!r} is disabled (spec.disabled); KServe will not serve with it. Enable it or "
                                 "choose another runtime".format(kind, name))
    if not supports(runtime, model_format):
        raise RuntimeLookupError(
            "{0} {1!r} does not support the model format {2!r} (the README's library_name); it supports: {3}".format(
                kind, name, model_format, ", ".join(supported_formats(runtime)) or "nothing"),
            supported_model_formats=supported_formats(runtime))


def choose_by_class(runtimes: List[Dict[str, Any]], kind: str, wanted_class: str, class_label: str,
                    model_format: Optional[str]) -> Tuple[Dict[str, Any], str]:
    """The first runtime by name that is enabled and supports the format; and why it was chosen."""
    if not runtimes:
        raise RuntimeLookupError("No {0} has the label {1}={2}; check runtime_class, or pass the runtime's name".format(
            kind, class_label, wanted_class))
    ordered = sorted(runtimes, key=_name)
    skipped = []
    for runtime in ordered:
        if runtime.get("spec", {}).get("disabled"):
            skipped.append("{0} (disabled)".format(_name(runtime)))
        elif not supports(runtime, model_format):
            skipped.append("{0} (supports {1})".format(_name(runtime), ", ".join(supported_formats(runtime)) or "nothing"))
        else:
            note = "chose {0} {1!r}, the first by name of class {2!r} that is enabled and supports {3!r}".format(
                kind, _name(runtime), wanted_class, model_format)
            if skipped:
                note += "; skipped: " + "; ".join(skipped)
            return runtime, note
    raise RuntimeLookupError(
        "No enabled {0} of class {1!r} supports the model format {2!r}: {3}".format(
            kind, wanted_class, model_format, "; ".join(skipped)), candidates=[_name(r) for r in ordered])


def summarize(runtime: Dict[str, Any], kind: str, class_label: str) -> Dict[str, Any]:
    """What callers need of a runtime; the first container's fields copied whole (env ``valueFrom`` kept)."""
    spec = runtime.get("spec", {})
    containers = spec.get("containers") or [{}]
    first = containers[0]
    container = {key: copy.deepcopy(first.get(key)) for key in ("name", "image")}
    for key in ("command", "args", "env"):
        container[key] = copy.deepcopy(first.get(key) or [])
    return {
        "name": _name(runtime),
        "kind": kind,
        "namespace": runtime.get("metadata", {}).get("namespace", ""),
        "runtime_class": runtime_class(runtime, class_label),
        "supported_model_formats": copy.deepcopy(spec.get("supportedModelFormats") or []),
        "protocol_versions": list(spec.get("protocolVersions") or []),
        "disabled": bool(spec.get("disabled", False)),
        "container": container,
    }
