#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: _isvc_summary
short_description: "PRIVATE: a step of the aml.kserve.isvc role, not an API"
version_added: 0.1.0
description:
  - Internal to the aml.kserve.isvc role; it may change or go away without notice. Do not use it.
  - The one task of the role on every host. The service's outcome becomes the host's result (shown, and registered
    as C(isvc_result)); the host fails with the service's own message when the service failed.
author:
  - aml.kserve developers (@aml-kserve)
options: {}
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._attributes.role_step
notes:
  - Runs on every host of the play batch, without C(run_once).
  - Reads the host's outcome from the role's fact C(__isvc_outcomes), which the role's batch steps set.
"""

EXAMPLES = r"""
# internal to the aml.kserve.isvc role
"""

RETURN = r"""
msg:
  description: The service's one-line summary, or why it failed.
  returned: always
  type: str
"""
