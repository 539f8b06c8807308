# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the role's step before the apply (roles/isvc/tasks/present.yml): the render and the guard (_batch.prepare),
then module_utils/_batch_cluster.py's prepare_apply."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.filter._isvc import packed, unpacked
from ansible_collections.aml.kserve.plugins.module_utils import _batch
from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import cluster_secrets, prepare_apply
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction


class ActionModule(ControllerAction):
    SPEC = ArgumentSpec({"batch": {"type": "dict", "required": True}, "models": {"type": "raw", "default": {}},
                         "runtimes": {"type": "raw", "default": {}}, "clusters": {"type": "dict", "default": {}}})

    def secret_values(self, params):
        # kubernetes.core's no_log connection options, inside each cluster's connection (as the modules scrub them)
        return cluster_secrets(params["clusters"])

    def handle(self, params):
        rendered = _batch.prepare(unpacked(params["batch"]), params["models"], params["runtimes"], RENDER_SPEC)
        return packed(prepare_apply(rendered, params["clusters"], bool(self._play_context.check_mode),
                                    bool(self._task.diff)))
