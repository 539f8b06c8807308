# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Render on the controller: the module is pure, nothing needs a process of its own."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils import _render
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction


class ActionModule(ControllerAction):
    SPEC = SPEC

    def handle(self, params):
        return _render.render_result(params)
