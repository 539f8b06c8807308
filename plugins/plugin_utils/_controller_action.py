# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this plugin_utils is internal to aml.kserve; its API may change without notice.

"""Run a module's logic on the controller, in the task's own process.

A module costs a Python process that unpacks itself and imports its libraries again (the Kubernetes client alone
takes about half a second); these modules talk only to APIs, never to the managed node, so running them where
Ansible already is saves that, and lets a long wait show progress while it runs. The module's argument spec is
validated exactly as the module would, and our errors become a failed result here, in one place.
"""

from __future__ import annotations

from typing import Any, Dict

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, as_result

display = Display()


class ControllerAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    #: the module's ArgumentSpec (module_utils._module.ArgumentSpec)
    SPEC: Any = None

    def handle(self, params: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(**self.SPEC.module_kwargs())
        try:
            result.update(self.handle(params))
        except AmlKserveError as error:
            result.update(failed=True, **as_result(error))
        return result
