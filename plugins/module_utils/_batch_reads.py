# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The deploy role's reads before its look-ups, for the services of a play batch, in one task: per cluster and
namespace, what exists of the services and the Pod Security level (as inference_service_info reads them), and, where
GitLab's address or token was not given, the pipeline's ConfigMap and Secret. A read that fails is its namespace's
own: the services there fail with it, the others go on (_batch.model_lookups).

One task instead of a read, the ConfigMap and Secret through kubernetes.core's lookup, a second read for the API's
words when that failed, and the choice of each service's GitLab connection: each task costs Ansible a worker and a
result, and the lookup's error told neither which object failed nor why."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.aml.kserve.plugins.module_utils import _batch, _k8s
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, KubernetesError
from ansible_collections.aml.kserve.plugins.module_utils._service_info import existing

Connect = Callable[[Mapping[str, Any]], Any]


def _client(connection: Mapping[str, Any]) -> _k8s.KubeClient:
    """A client for one cluster, its connection checked as kubernetes.core's options (types, K8S_AUTH_* fallbacks)."""
    checked = ArgumentSpecValidator(**_k8s.CONNECTION_SPEC.module_kwargs()).validate(dict(connection))
    if checked.error_messages:
        raise KubernetesError("isvc_kubernetes: " + "; ".join(checked.error_messages))
    if not _k8s.HAS_KUBERNETES:
        raise KubernetesError("The kubernetes Python library is needed on the controller: pip install kubernetes")
    return _k8s.KubeClient(params=checked.validated_parameters)


class _Clusters:
    """One client per cluster id, made when first needed; a cluster that cannot be reached fails each read of it."""

    def __init__(self, connections: Mapping[str, Mapping[str, Any]], connect: Connect) -> None:
        self._connections = connections
        self._connect = connect
        self._made: Dict[str, Any] = {}

    def read(self, item: Mapping[str, Any], read: Callable[[Any], Dict[str, Any]]) -> Dict[str, Any]:
        """``read(client)`` as the registered result of a loop item: its keys, or failed with the message."""
        cluster = str(item.get("cluster", ""))
        try:
            if cluster not in self._made:
                try:
                    self._made[cluster] = self._connect(self._connections.get(cluster) or {})
                except AmlKserveError as error:
                    self._made[cluster] = error
            if isinstance(self._made[cluster], AmlKserveError):
                raise self._made[cluster]
            return dict(read(self._made[cluster]), item=dict(item))
        except AmlKserveError as error:
            if error.details.get("status") is None:
                self._made[cluster] = error  # no answer from the apiserver: the cluster's other reads would not get one
            return {"item": dict(item), "failed": True, "msg": error.msg,
                    "api_message": getattr(error, "api_message", "") or error.msg}


def _pipeline_object(item: Mapping[str, Any]) -> Callable[[Any], Dict[str, Any]]:
    kind = _k8s.CONFIG_MAP if item["kind"] == "ConfigMap" else _k8s.SECRET

    def read(client: Any) -> Dict[str, Any]:
        found: Optional[Dict[str, Any]] = client.get(kind, item["name"], item["namespace"])
        return {"msg": [found] if found is not None else []}  # the shape kubernetes.core's k8s lookup answers
    return read


def _existing(item: Mapping[str, Any]) -> Callable[[Any], Dict[str, Any]]:
    return lambda client: existing(client, item["namespace"], list(item["names"]), bool(item["pod_security"]))


def read_batch(plan: Mapping[str, Any], connections: Mapping[str, Mapping[str, Any]], tokens: Mapping[str, str],
               connect: Connect = _client) -> Dict[str, Any]:
    """The reads of ``plan`` (_batch.plan), then each service's GitLab connection and the model look-ups
    (_batch.model_lookups). ``tokens``: the GitLab tokens given, by host."""
    clusters = _Clusters(connections, connect)
    found: List[Dict[str, Any]] = [clusters.read(item, _existing(item)) for item in plan["existing_reads"]]
    objects: List[Dict[str, Any]] = [clusters.read(item, _pipeline_object(item)) for item in plan["gitlab_reads"]]
    return _batch.model_lookups(plan, {"results": found}, {"results": objects}, tokens)
