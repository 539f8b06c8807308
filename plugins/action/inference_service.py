# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Render on the controller: the module is pure, so skip shipping it to a Python process of its own."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.aml.kserve.plugins.module_utils import _render
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, as_result
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(**SPEC.module_kwargs())
        try:
            result.update(_render.render_result(params))
        except AmlKserveError as error:
            result.update(failed=True, **as_result(error))
        return result
