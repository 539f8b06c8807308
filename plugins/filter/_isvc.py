# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the deploy role's steps over a play batch (module_utils/_batch.py), for the role's and batch_deploy.yml's
own tasks only. Not an API: names start with an underscore and may change without notice."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping

from ansible_collections.aml.kserve.plugins.module_utils import _batch
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC


def _isvc_plan(hosts: List[str], hostvars: Mapping[str, Any], role_options: Mapping[str, Any]) -> Dict[str, Any]:
    return _batch.plan({host: hostvars[host]["__isvc_inputs"] for host in hosts}, role_options, RENDER_SPEC)


def _isvc_prepare(batch: Mapping[str, Any], models: Any, runtimes: Any) -> Dict[str, Any]:
    return _batch.prepare(batch, models, runtimes, RENDER_SPEC)


def _isvc_tokens(hosts: List[str], hostvars: Mapping[str, Any]) -> Dict[str, str]:
    """The GitLab tokens given per host (for the task under no_log that resolves the models)."""
    found = {}
    for host in hosts:
        token = str(hostvars[host]["__isvc_inputs"].get("isvc_gitlab_token") or "")
        if token.strip():
            found[host] = token
    return found


def _isvc_report(hosts: List[str], hostvars: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return _batch.report({host: hostvars[host].get("isvc_result") for host in hosts}, hosts)


def _isvc_clusters(hosts: List[str], hostvars: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Each cluster id's Kubernetes connection (isvc_kubernetes), for the tasks under no_log that pass it on."""
    return _batch.clusters(_batch.plain({host: hostvars[host]["__isvc_inputs"] for host in hosts}))[1]


class FilterModule:
    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {
            "_isvc_plan": _isvc_plan,
            "_isvc_tokens": _isvc_tokens,
            "_isvc_clusters": _isvc_clusters,
            "_isvc_failed_reads": _batch.failed_reads,
            "_isvc_model_lookups": _batch.model_lookups,
            "_isvc_runtime_lookups": _batch.runtime_lookups,
            "_isvc_prepare": _isvc_prepare,
            "_isvc_ownership_groups": _batch.ownership_groups,
            "_isvc_apply_groups": _batch.apply_groups,
            "_isvc_waits": _batch.waits,
            "_isvc_outcomes": _batch.outcomes,
            "_isvc_stats": _batch.stats,
            "_isvc_report": _isvc_report,
            "_isvc_junit": _batch.junit_xml,
            "_isvc_table": _batch.table,
        }
