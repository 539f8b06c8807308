#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: _isvc_inputs
short_description: "PRIVATE: a step of the aml.kserve.isvc role, not an API"
version_added: 0.1.0
description:
  - Internal to the aml.kserve.isvc role; it may change or go away without notice. Do not use it.
  - Reads the role variables (C(isvc_*)) of every host of the play batch, each as that host would read them in this
    task, in one task on one host.
  - With O(argument_specs), also checks every service against the role's options and returns the batch's first state
    and each cluster's connection.
author:
  - aml.kserve developers (@aml-kserve)
options:
  argument_specs:
    description: The role's C(meta/argument_specs.yml).
    type: path
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._attributes.role_step
notes:
  - Must run with C(no_log=true) and C(run_once=true).
"""

EXAMPLES = r"""
# internal to the aml.kserve.isvc role
"""

RETURN = r"""
inputs:
  description: Internal.
  returned: always
  type: str
plan:
  description: Internal.
  returned: when O(argument_specs) is given
  type: dict
clusters:
  description: Internal.
  returned: when O(argument_specs) is given
  type: dict
"""
