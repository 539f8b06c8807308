#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: _isvc_outcomes
short_description: "PRIVATE: a step of the aml.kserve.isvc role, not an API"
version_added: 0.1.0
description:
  - Internal to the aml.kserve.isvc role; it may change or go away without notice. Do not use it.
  - The outcome of every service of the play batch from what the role's steps registered, published as
    C(isvc_results) with C(set_stats) semantics (aggregated over play batches).
author:
  - aml.kserve developers (@aml-kserve)
options:
  batch:
    description: The batch's state after the apply groups.
    type: raw
  applied:
    description: The registered apply.
    type: raw
  waited:
    description: The registered wait.
    type: raw
  manifests:
    description: The registered manifest writes.
    type: raw
  removed:
    description: The registered removals.
    type: raw
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._attributes.role_step
notes:
  - Must run with C(run_once=true).
"""

EXAMPLES = r"""
# internal to the aml.kserve.isvc role
"""

RETURN = r"""
outcomes:
  description: Internal.
  returned: always
  type: dict
"""
