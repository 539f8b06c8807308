#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: _isvc_apply
short_description: "PRIVATE: a step of the aml.kserve.isvc role, not an API"
version_added: 0.1.0
description:
  - Internal to the aml.kserve.isvc role; it may change or go away without notice. Do not use it.
  - Applies each group of definitions with M(kubernetes.core.k8s) (its action plugin and module, one server-side apply
    of the group's list of definitions with C(continue_on_error)), and returns each service's outcome instead of the
    objects.
  - The module runs unchanged in the task's worker on the controller, with the task's arguments and environment, as
    every other step of the role runs, instead of in a new Python (ansible-core 2.19 and later; before, through the
    task's connection).
author:
  - aml.kserve developers (@aml-kserve)
options:
  groups:
    description: The apply groups, one per cluster, field manager, C(force_conflicts) and method.
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._attributes.role_step
  - aml.kserve._attributes.role_clusters
attributes:
  check_mode:
    details: A server-side dry-run, as M(kubernetes.core.k8s) does in check mode.
  diff_mode:
    support: full
    details: Each changed object's, from M(kubernetes.core.k8s).
notes:
  - Must run with C(run_once=true).
requirements:
  - kubernetes.core
"""

EXAMPLES = r"""
# internal to the aml.kserve.isvc role
"""

RETURN = r"""
services:
  description: Internal.
  returned: always
  type: dict
applies:
  description: One line per call to M(kubernetes.core.k8s).
  returned: always
  type: list
  elements: str
"""
