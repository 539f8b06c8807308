# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE: the role's outcome of every service of the batch (roles/isvc/tasks/result.yml), published for AWX
workflows as set_stats would (module_utils/_batch.py: outcomes, stats)."""

from __future__ import annotations

import time

from ansible_collections.aml.kserve.plugins.filter._isvc import unpacked
from ansible_collections.aml.kserve.plugins.module_utils import _batch
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import ControllerAction


class ActionModule(ControllerAction):
    SPEC = ArgumentSpec({option: {"type": "raw"} for option in ("batch", "applied", "waited", "manifests", "removed")})

    def handle(self, params):
        outcomes = _batch.outcomes(unpacked(params["batch"]), params["applied"], params["waited"], params["manifests"],
                                   time.time(), bool(self._play_context.check_mode),
                                   params["removed"])
        result = {"changed": False, "outcomes": outcomes}
        if outcomes:
            # Ansible's strategy publishes any result's ansible_stats, as it does set_stats': every outcome, the failed
            # ones with their reason, for a workflow's failure branch (aggregate: each play batch adds its own)
            result["ansible_stats"] = {"data": {"isvc_results": _batch.stats(outcomes)}, "per_host": False,
                                       "aggregate": True}
        return result
