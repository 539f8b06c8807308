# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this doc fragment is internal to aml.kserve; it may change without notice.

from __future__ import annotations


class ModuleDocFragment:
    # What each attribute means, said once; every module states its own support and details.
    DOCUMENTATION = r"""
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""

    # The deploy role's private steps (plugins/modules/_isvc_*.py), said once.
    ROLE_STEP = r"""
attributes:
  action:
    support: full
    details: Runs on the controller, in the task's own process; the module is only this documentation.
  check_mode:
    support: full
    details: Reads or computes only; it writes nothing.
  diff_mode:
    support: none
"""

    # The clusters option of the deploy role's private steps that talk to the clusters, said once.
    ROLE_CLUSTERS = r"""
options:
  clusters:
    description: Each cluster's connection, in kubernetes.core's option names, by cluster id.
    type: dict
    default: {}
"""
