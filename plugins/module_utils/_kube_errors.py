# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The apiserver's own words from a Kubernetes client error that a lookup or module passed on whole."""

from __future__ import annotations

from typing import Any

from ansible_collections.aml.kserve.plugins.module_utils._errors import kube_status


def kube_error_message(text: Any) -> str:
    """The ``message`` of the Status in the error (what kubectl would print), else the error's first line."""
    message = kube_status(text).get("message")
    if isinstance(message, str) and message:
        return message
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""
