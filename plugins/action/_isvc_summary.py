# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the role's one task on every host (roles/isvc/tasks/summary.yml): the service's outcome as the host's
result, registered as isvc_result, failed with its own message when the service failed."""

from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils._batch import host_result
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction

OUTCOMES = "__isvc_outcomes"  # the role's fact: every outcome of the play batch, by host (roles/isvc/tasks/result.yml)


class ActionModule(ControllerAction):
    SPEC = ArgumentSpec({})

    def handle(self, params):
        # The host's own entry, read from its variables: an argument "{{ __isvc_outcomes[inventory_hostname] }}" would
        # be templated on every host, about 5 ms each (5 s of a 1000-service batch).
        outcome = (self.task_vars.get(OUTCOMES) or {}).get(self.task_vars.get("inventory_hostname"))
        if not outcome:
            raise AmlKserveError("this host has no outcome: the role's steps for its play batch did not run")
        return host_result(outcome)
