#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: _isvc_reads
short_description: "PRIVATE: a step of the aml.kserve.isvc role, not an API"
version_added: 0.1.0
description:
  - Internal to the aml.kserve.isvc role; it may change or go away without notice. Do not use it.
  - For the services of the play batch, per cluster and namespace, reads what exists of them and the Pod Security
    level, and where GitLab's address or token was not given, the pipeline's ConfigMap and Secret; then chooses each
    service's GitLab connection and groups the model look-ups.
author:
  - aml.kserve developers (@aml-kserve)
options:
  plan:
    description: The batch's first state, from M(aml.kserve._isvc_inputs).
    type: dict
    required: true
  inputs:
    description: The services' role variables, as M(aml.kserve._isvc_inputs) keeps them.
    type: str
    default: "{}"
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._attributes.role_step
  - aml.kserve._attributes.role_clusters
notes:
  - Must run with C(no_log=true) and C(run_once=true).
requirements:
  - kubernetes (Python library) on the controller
"""

EXAMPLES = r"""
# internal to the aml.kserve.isvc role
"""

RETURN = r"""
services:
  description: Internal.
  returned: always
  type: str
existing:
  description: Internal.
  returned: always
  type: str
lookups:
  description: Internal.
  returned: always
  type: list
  elements: dict
gitlab_tokens:
  description: Internal.
  returned: always
  type: dict
removal_services:
  description: Internal.
  returned: always
  type: str
"""
