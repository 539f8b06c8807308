# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The apiserver's own words from a Kubernetes client error that a lookup or module passed on whole."""

from __future__ import annotations

import json
import re
from typing import Any, Dict

# Where the Status the apiserver answered starts, as the kubernetes client prints it (text, or a bytes repr).
_STATUS = re.compile(r"(b')?\{\s*\"kind\":\s*\"Status\"")


def kube_error_message(text: Any) -> str:
    """The ``message`` of the Status in the error (what kubectl would print), else the error's first line."""
    text = str(text or "")
    found = _STATUS.search(text)
    if found:
        body = text[found.start() + (2 if found.group(1) else 0):]
        if found.group(1):  # a bytes repr: undo its escapes
            body = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        try:
            status, _end = json.JSONDecoder().raw_decode(body)
        except ValueError:
            status = {}
        message = status.get("message") if isinstance(status, dict) else None
        if isinstance(message, str) and message:
            return message
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""
