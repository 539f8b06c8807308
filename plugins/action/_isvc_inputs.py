# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the role's first step (roles/isvc/tasks/deploy.yml); see plugin_utils/_play_batch.py. The first of the
role's actions: its base preloads what the later steps import (_controller_action.PRELOADED)."""

from __future__ import annotations

import json
import time

from ansible.module_utils.common.yaml import yaml_load

from ansible_collections.aml.kserve.plugins.filter._isvc import packed_plan
from ansible_collections.aml.kserve.plugins.module_utils import _batch
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction
from ansible_collections.aml.kserve.plugins.plugin_utils._play_batch import batch_inputs


class ActionModule(ControllerAction):
    SPEC = ArgumentSpec({"argument_specs": {"type": "path"}})

    def run(self, tmp=None, task_vars=None):
        # the inputs hold the services' tokens: never shown, whatever the task says
        if not self._play_context.no_log:
            return {"failed": True, "msg": "must run with no_log: true (the services' variables hold their tokens)"}
        self._task_vars = task_vars
        return super().run(tmp, task_vars)

    def handle(self, params):
        started = time.time()
        inputs = batch_inputs(self._task, self._task_vars, self._templar)
        for values in inputs.values():
            values["__isvc_started"] = started
        # as JSON text: Ansible copies and converts the containers of a result for its callbacks, a string it
        # passes as it is (filter/_isvc.py reads it back)
        result = {"changed": False, "inputs": json.dumps(inputs, default=str)}
        if params["argument_specs"]:
            # the check of every service and each cluster's connection, here rather than in tasks of their own: a
            # task costs Ansible a worker and a result (about 20 ms each, a tenth of the 1.3x budget of one deploy)
            result["plan"] = packed_plan(inputs, self._role_options(params["argument_specs"]))
            result["clusters"] = _batch.clusters(inputs)[1]
        return result

    @staticmethod
    def _role_options(path: str):
        try:
            with open(path, encoding="utf-8") as handle:
                return yaml_load(handle)["argument_specs"]["main"]["options"]
        except (OSError, KeyError, TypeError) as error:
            raise AmlKserveError(f"argument_specs: cannot read the role's options from {path}: {error}") from error
