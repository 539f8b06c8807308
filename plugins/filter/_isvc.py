# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the deploy role's steps over a play batch (module_utils/_batch.py), for the role's and batch_deploy.yml's
own tasks only. Not an API: names start with an underscore and may change without notice.

The batch's per-service state (``services``, ``existing``, ``removal_services``) travels between the role's tasks as
JSON text, which these filters pack and unpack: Ansible hands a filter its variables as lazy, tagged containers and
copies what a set_fact returns, and for a thousand services that cost about a second per task (about 10 ms a service);
a string it passes as it is. The role's YAML never reads those keys, only the small lists the steps loop over."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Dict, List, Mapping

from ansible_collections.aml.kserve.plugins.module_utils import _batch

PACKED = ("services", "existing", "removal_services")


def unpacked(batch: Any) -> Any:
    if not isinstance(batch, Mapping):
        return batch
    return {key: json.loads(value) if key in PACKED and isinstance(value, str) else value for key, value in batch.items()}


def packed(result: Any) -> Any:
    if not isinstance(result, dict) or "services" not in result:
        return result
    return {key: json.dumps(value, default=str) if key in PACKED else value for key, value in result.items()}


def _batch_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """A step over the batch state: its first argument unpacked, what it returns packed again."""
    @functools.wraps(step)
    def run(batch: Any, *args: Any) -> Any:
        return packed(step(unpacked(batch), *args))
    return run


def packed_plan(inputs: Mapping[str, Mapping[str, Any]], role_options: Mapping[str, Any]) -> Dict[str, Any]:
    """The batch's first state (``_batch.plan``), packed as the later steps take it (action/_isvc_inputs.py)."""
    from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC  # when used: each step imports what it needs

    return packed(_batch.plan(inputs, role_options, RENDER_SPEC))


def _isvc_report(hosts: List[str], hostvars: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return _batch.report({host: _outcome(hostvars[host], host) for host in hosts}, hosts)


def _outcome(variables: Mapping[str, Any], host: str) -> Any:
    """A host's outcome: its play batch's (the summary, which registers it as isvc_result, runs after the report), or
    the isvc_result of a step that failed before there was one (roles/isvc/tasks/failed.yml)."""
    return (variables.get("__isvc_outcomes") or {}).get(host) or variables.get("isvc_result")


class FilterModule:
    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {
            "_isvc_runtime_lookups": _batch_step(_batch.runtime_lookups),
            "_isvc_waits": _batch_step(_batch.waits),
            "_isvc_outcomes": _batch_step(_batch.outcomes),
            "_isvc_stats": _batch.stats,
            "_isvc_report": _isvc_report,
            "_isvc_junit": _batch.junit_xml,
            "_isvc_table": _batch.table,
        }
