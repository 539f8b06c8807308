# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the role's reads before its look-ups (roles/isvc/tasks/present.yml); see module_utils/_batch_cluster.py."""

from __future__ import annotations

import json

from ansible_collections.aml.kserve.plugins.filter._isvc import packed, unpacked
from ansible_collections.aml.kserve.plugins.module_utils._batch import given_tokens
from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import read_batch
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction


class ActionModule(ControllerAction):
    SPEC = ArgumentSpec({"plan": {"type": "dict", "required": True}, "clusters": {"type": "dict", "default": {}},
                         "inputs": {"type": "str", "default": "{}"}})

    def run(self, tmp=None, task_vars=None):
        # the result holds the GitLab tokens (for the look-up task), the options the clusters' credentials
        if not self._play_context.no_log:
            return {"failed": True, "msg": "must run with no_log: true (it returns the services' GitLab tokens)"}
        return super().run(tmp, task_vars)

    def handle(self, params):
        tokens = given_tokens(json.loads(params["inputs"]))
        return dict(packed(read_batch(unpacked(params["plan"]), params["clusters"], tokens)), changed=False)
