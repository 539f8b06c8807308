# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Wait on the controller: progress lines reach the terminal (stderr) and AWX's job output while the wait runs."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils import _k8s
from ansible_collections.aml.kserve.plugins.module_utils._service_info import services_result
from ansible_collections.aml.kserve.plugins.modules.inference_service_info import SPEC
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction, display


class ActionModule(ControllerAction):
    SPEC = SPEC

    def handle(self, params):
        return services_result(_k8s.KubeClient(params=params), params, echo=_progress)


def _progress(line):
    # On stderr: stdout is the stdout callback's (the json and yaml callbacks print one document there). People see
    # it on the terminal, and ansible-runner (AWX) makes it a job event, as it does for any Display output.
    display.display(line, stderr=True)
