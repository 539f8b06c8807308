# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The deploy role's steps that talk to the clusters of a play batch besides the apply and the wait, each one task:

- read_batch, before the look-ups: per cluster and namespace, what exists of the services and the Pod Security level
  (as inference_service_info reads them), and, where GitLab's address or token was not given, the pipeline's ConfigMap
  and Secret; then each service's GitLab connection (_batch.model_lookups).
- prepare_apply, after the render: the namespaces labelled privileged for hostIPC (isvc_manage_pod_security), the
  ownership of the services that exist (what inference_service_ownership does, _takeover), and the apply groups
  (_batch.apply_groups).
- apply: each apply group through kubernetes.core.k8s (one server-side apply of its list of definitions), kept as
  each service's outcome: what kubernetes.core returns (every object in full, its arguments again) stays in the
  task's process instead of reaching Ansible's main process, which copies a result several times and forks a worker
  for every later task at its size.

A request that fails is its namespace's or its service's own: those services fail with it, the others go on. One
task each instead of three or four: a task costs Ansible a worker and a result (about 20 ms each)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.aml.kserve.plugins.module_utils import _batch, _k8s, _takeover
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, KubernetesError
from ansible_collections.aml.kserve.plugins.module_utils._service_info import existing

Connect = Callable[[Mapping[str, Any]], Any]


def _client(connection: Mapping[str, Any]) -> _k8s.KubeClient:
    """A client for one cluster, its connection checked as kubernetes.core's options (types, K8S_AUTH_* fallbacks)."""
    checked = ArgumentSpecValidator(**_k8s.CONNECTION_SPEC.module_kwargs()).validate(dict(connection))
    if checked.error_messages:
        raise KubernetesError("isvc_kubernetes: " + "; ".join(checked.error_messages))
    return _k8s.KubeClient(params=checked.validated_parameters)


def cluster_secrets(connections: Mapping[str, Mapping[str, Any]]) -> List[str]:
    """The values of the connection options kubernetes.core marks no_log (api_key, password), to scrub."""
    secret = [name for name, spec in _k8s.CONNECTION_SPEC.argument_spec.items() if spec.get("no_log")]
    return [c[name] for c in connections.values() if isinstance(c, Mapping) for name in secret
            if isinstance(c.get(name), str) and c[name]]


class _Clusters:
    """One client per cluster id, made when first needed; a cluster that cannot be reached fails each read of it."""

    def __init__(self, connections: Mapping[str, Mapping[str, Any]], connect: Connect) -> None:
        self._connections = connections
        self._connect = connect
        self._made: Dict[str, Any] = {}

    def _client(self, cluster: str) -> Any:
        """The cluster's client, or the error that it could not be made with (raised again for each step)."""
        if cluster not in self._made:
            try:
                self._made[cluster] = self._connect(self._connections.get(cluster) or {})
            except AmlKserveError as error:
                self._made[cluster] = error
        return self._made[cluster]

    def run(self, item: Mapping[str, Any], step: Callable[[Any], Dict[str, Any]]) -> Dict[str, Any]:
        """``step(client)`` as the registered result of a loop item: its keys, or failed with the message."""
        cluster = str(item.get("cluster", ""))
        client = self._client(cluster)
        try:
            if isinstance(client, AmlKserveError):
                raise client
            return dict(step(client), item=dict(item))
        except AmlKserveError as error:
            if error.details.get("status") is None:
                self._made[cluster] = error  # no answer from the apiserver: the cluster's other steps would get none
            return {"item": dict(item), "failed": True, "msg": error.msg,
                    "api_message": getattr(error, "api_message", "") or error.msg}


def _pipeline_object(item: Mapping[str, Any]) -> Callable[[Any], Dict[str, Any]]:
    kind = _k8s.CONFIG_MAP if item["kind"] == "ConfigMap" else _k8s.SECRET

    def read(client: Any) -> Dict[str, Any]:
        return {"object": client.get(kind, item["name"], item["namespace"])}  # None when it does not exist
    return read


def _existing(item: Mapping[str, Any]) -> Callable[[Any], Dict[str, Any]]:
    return lambda client: existing(client, item["namespace"], list(item["names"]), bool(item["pod_security"]))


def read_batch(plan: Mapping[str, Any], connections: Mapping[str, Mapping[str, Any]], tokens: Mapping[str, str],
               connect: Connect = _client) -> Dict[str, Any]:
    """The reads of ``plan`` (_batch.plan), then each service's GitLab connection and the model look-ups
    (_batch.model_lookups). ``tokens``: the GitLab tokens given, by host."""
    clusters = _Clusters(connections, connect)
    found: List[Dict[str, Any]] = [clusters.run(item, _existing(item)) for item in plan["existing_reads"]]
    objects: List[Dict[str, Any]] = [clusters.run(item, _pipeline_object(item)) for item in plan["gitlab_reads"]]
    return _batch.model_lookups(plan, {"results": found}, {"results": objects}, tokens)


PRIVILEGED = {"metadata": {"labels": {_k8s.POD_SECURITY_LABEL: "privileged"}}}


def _label(namespace: str, check_mode: bool) -> Callable[[Any], Dict[str, Any]]:
    """What ``kubectl label namespace <ns> pod-security.kubernetes.io/enforce=privileged --overwrite`` sends; nothing
    is written in check mode."""
    def label(client: Any) -> Dict[str, Any]:
        if not check_mode:
            client.merge_patch(_k8s.NAMESPACE, namespace, None, PRIVILEGED)
        return {"changed": True}
    return label


def _take_over(group: Mapping[str, Any], check_mode: bool, diff_mode: bool) -> Callable[[Any], Dict[str, Any]]:
    """inference_service_ownership for one group (_batch.ownership_groups), each service's problem its own."""
    return lambda client: _takeover.takeover(client, group["resources"], group["existing"], group["field_manager"],
                                             group["force_conflicts"], group["update_if_exists"], check_mode,
                                             diff_mode, "isvc_force_conflicts")


def prepare_apply(batch: Mapping[str, Any], connections: Mapping[str, Mapping[str, Any]], check_mode: bool,
                  diff_mode: bool, connect: Connect = _client) -> Dict[str, Any]:
    """After the render (_batch.prepare): label the namespaces it asks for, take over or check the services that
    exist, then group the definitions to apply. ``changed`` when a label or a migration was written (or would be, in
    check mode); ``diff``, in diff mode, the migrations."""
    clusters = _Clusters(connections, connect)
    labelled = [clusters.run(item, _label(item["namespace"], check_mode)) for item in batch["label_namespaces"]]
    owned = [clusters.run(group, _take_over(group, check_mode, diff_mode))
             for group in _batch.ownership_groups(batch, {"results": labelled})]
    found = _batch.apply_groups(batch, {"results": labelled}, {"results": owned}, check_mode)
    found["changed"] = any(r.get("changed") for r in labelled + owned if not r.get("failed"))
    if diff_mode:
        found["diff"] = [d for r in owned for d in r.get("diff") or []]
    return found


def apply_arguments(group: Mapping[str, Any], connection: Mapping[str, Any]) -> Dict[str, Any]:
    """kubernetes.core.k8s's arguments for one apply group (_batch.apply_groups): its definitions in one server-side
    apply (a create where the group's method says so), each one's error kept, on the group's cluster."""
    arguments: Dict[str, Any] = {
        "state": "present",
        "definition": list(group["definitions"]),
        "apply": group["method"] == "apply",
        "server_side_apply": {"field_manager": group["field_manager"], "force_conflicts": bool(group["force_conflicts"])},
        "continue_on_error": True,
    }
    arguments.update({k: v for k, v in connection.items() if k in _batch.CONNECTION_OPTIONS})
    return arguments


def apply(groups: List[Mapping[str, Any]], connections: Mapping[str, Mapping[str, Any]],
          kubernetes_core_k8s: Callable[[Dict[str, Any]], Mapping[str, Any]]) -> Dict[str, Any]:
    """Each group through ``kubernetes_core_k8s`` (the result of kubernetes.core.k8s for the arguments): ``services``,
    each service's outcome by host (_batch.applied_group); ``changed``; ``diff``, each changed object's, in diff
    mode; ``applies``, one line per call."""
    services: Dict[str, Dict[str, Any]] = {}
    lines: List[str] = []
    for group in groups:
        result = kubernetes_core_k8s(apply_arguments(group, connections.get(group["cluster"]) or {}))
        outcome = _batch.applied_group(group, result)
        services.update(outcome)
        failed = sum(1 for o in outcome.values() if o["error"])
        lines.append("{0} InferenceServices, field manager {1}: {2} changed{3}".format(
            len(group["hosts"]), group["field_manager"], sum(1 for o in outcome.values() if o["changed"]),
            ", {0} failed".format(failed) if failed else ""))
    diffs = [o.pop("diff") for o in services.values() if "diff" in o]
    found: Dict[str, Any] = {"changed": any(o["changed"] for o in services.values()), "services": services,
                             "applies": lines}
    if diffs:
        found["diff"] = diffs
    return found
