#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: _isvc_prepare_apply
short_description: "PRIVATE: a step of the aml.kserve.isvc role, not an API"
version_added: 0.1.0
description:
  - Internal to the aml.kserve.isvc role; it may change or go away without notice. Do not use it.
  - Renders each service with its model and runtime as M(aml.kserve.inference_service) does and guards against
    unwanted or impossible changes; then labels the namespaces privileged for hostIPC where the role is asked to,
    takes over or checks the ownership of the services that exist as M(aml.kserve.inference_service_ownership) does,
    and groups the definitions to apply.
author:
  - aml.kserve developers (@aml-kserve)
options:
  batch:
    description: The batch's state after the look-ups.
    type: dict
    required: true
  models:
    description: The registered results of the model look-ups (M(aml.kserve.gitlab_model_ref)).
    type: raw
    default: {}
  runtimes:
    description: The registered results of the runtime look-ups (M(aml.kserve.serving_runtime_info)).
    type: raw
    default: {}
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._attributes.role_step
  - aml.kserve._attributes.role_clusters
attributes:
  check_mode:
    details: Writes neither the labels nor the migrations; reports them as changes.
  diff_mode:
    support: full
    details: The migrations of the services that exist.
notes:
  - Must run with C(run_once=true).
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
apply:
  description: Internal.
  returned: always
  type: list
  elements: dict
"""
