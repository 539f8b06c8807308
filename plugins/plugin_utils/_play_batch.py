# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this plugin_utils is internal to aml.kserve; its API may change without notice.

"""Every service's role variables, read once for the play batch, each as its own host would read it in this task.

The role deploys one inventory host per service. A task that runs on every host costs Ansible a worker process and a
result per host (about 15 ms each here: 15 s for a thousand services, measured), so one task reads them all: the
variables Ansible would give the task on each host (VariableManager.get_vars with the play, the host and the task,
as Ansible reads a delegated host's variables), templated with that host's own variables."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterable, Mapping

from ansible.errors import AnsibleError

from ansible_collections.aml.kserve.plugins.module_utils._batch import TEMPLATE_ERROR

#: the role's inputs: isvc_* but the batch playbook's own (isvc_batch*) and the role's output (isvc_result)
ROLE_INPUT = re.compile(r"^isvc_(?!batch|result)")


def role_inputs(variables: Mapping[str, Any], template: Callable[[Any], Any]) -> Dict[str, Any]:
    """The role's inputs among ``variables``, each templated; a variable that fails is named in ``TEMPLATE_ERROR``."""
    inputs: Dict[str, Any] = {}
    problems = []
    for name in sorted(name for name in variables if ROLE_INPUT.search(name)):
        try:
            inputs[name] = template(variables[name])
        except AnsibleError as error:
            problems.append(f"{name}: {error.message}")
    if problems:
        inputs[TEMPLATE_ERROR] = "Variable " + "; ".join(problems)
    return inputs


def batch_inputs(task: Any, task_vars: Mapping[str, Any], templar: Any,
                 hosts: Iterable[str] | None = None) -> Dict[str, Dict[str, Any]]:
    """``role_inputs`` of each host of the play batch (``ansible_play_batch``, or ``hosts``), for ``task``."""
    variable_manager = task.get_variable_manager()
    inventory = variable_manager._inventory  # pylint: disable=protected-access  # as get_delegated_vars_and_hostname
    play = task.get_play()
    batch = list(task_vars["ansible_play_batch"])
    hosts_all = list(task_vars["ansible_play_hosts_all"])
    found: Dict[str, Dict[str, Any]] = {}
    for name in batch if hosts is None else hosts:
        host_vars = variable_manager.get_vars(play=play, host=inventory.get_host(name), task=task,
                                              _hosts=batch, _hosts_all=hosts_all)
        found[name] = role_inputs(host_vars, templar.copy_with_new_env(available_variables=host_vars).template)
    return found
