# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Resolve the model on the controller, with no module process to start."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils import _gitlab
from ansible_collections.aml.kserve.plugins.module_utils._errors import GitLabError
from ansible_collections.aml.kserve.plugins.modules.gitlab_model_ref import SPEC, resolve_result
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction


class ActionModule(ControllerAction):
    SPEC = SPEC

    def handle(self, params):
        if not _gitlab.HAS_GITLAB:
            raise GitLabError("The python-gitlab library is needed on the controller: pip install python-gitlab")
        return resolve_result(params)
