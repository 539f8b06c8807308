# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the role's apply (roles/isvc/tasks/present.yml): each group through kubernetes.core.k8s, its action and
its module as a task of its own would run them, the module in this worker (plugin_utils/_in_process.py: a new
Python would import the Kubernetes client again, most of one deploy's apply); see module_utils/_batch_cluster.py."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import apply, cluster_secrets
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction
from ansible_collections.aml.kserve.plugins.plugin_utils._in_process import module_executor, with_failure_message

K8S = "kubernetes.core.k8s"


class ActionModule(ControllerAction):
    _requires_connection = True  # kubernetes.core.k8s runs its module through the task's connection
    SPEC = ArgumentSpec({"groups": {"type": "list", "elements": "dict", "required": True},
                         "clusters": {"type": "dict", "default": {}}})

    def secret_values(self, params):
        return cluster_secrets(params["clusters"])

    def handle(self, params):
        return apply(params["groups"], params["clusters"], self._kubernetes_core_k8s)

    def _kubernetes_core_k8s(self, arguments):
        """kubernetes.core.k8s's action (and so its module, here) on a copy of this task with ``arguments``: check
        mode (a server dry-run) and diff mode as this task has them."""
        task = self._task.copy()
        task.action = K8S
        task.args = arguments
        task._resolved_action = K8S  # pylint: disable=protected-access
        action = self._shared_loader_obj.action_loader.get(
            K8S, task=task, connection=self._connection, play_context=self._play_context, loader=self._loader,
            templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        execute_module = module_executor(action, K8S)
        if execute_module is not None:
            action._execute_module = execute_module  # pylint: disable=protected-access
        return with_failure_message(action.run(task_vars=self.task_vars))
