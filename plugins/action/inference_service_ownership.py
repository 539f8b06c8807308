# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Prepare the apply on the controller, with no module process to start."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils import _k8s
from ansible_collections.aml.kserve.plugins.modules.inference_service_ownership import SPEC, ownership_result
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction


class ActionModule(ControllerAction):
    SPEC = SPEC

    def handle(self, params):
        return ownership_result(_k8s.KubeClient(params=params), params, bool(self._task.check_mode),
                                bool(self._task.diff))
