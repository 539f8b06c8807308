# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""One exception hierarchy for the collection.

Helpers raise these; only a module's ``main()`` (through ``_module.run_module``) turns them into
``fail_json``. Every message names what failed and, where one exists, the fix.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

# Where the Status the apiserver answered starts, as the kubernetes client prints it (text, or a bytes repr).
_STATUS = re.compile(r"(b')?\{\s*\"kind\":\s*\"Status\"")


class AmlKserveError(Exception):
    """Base of every error the collection reports to the user."""

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details


class ValidationError(AmlKserveError):
    """Invalid input: carries every problem found, so the user can fix them in one run."""

    def __init__(self, problems: List[str], subject: str = "options") -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = "Invalid {0} ({1} problem{2}):".format(subject, count, "" if count == 1 else "s")
        super().__init__("\n".join([head] + ["- " + p for p in self.problems]), problems=self.problems)


class GitLabError(AmlKserveError):
    """GitLab could not be reached, refused us, or lacks what we asked for."""


class ModelCardError(AmlKserveError):
    """The model repository's README does not carry the metadata a deployment needs."""


class KubernetesError(AmlKserveError):
    """The Kubernetes API refused or failed a request; ``api_message`` is the apiserver's own words, when it answered."""

    api_message = ""


class OwnershipConflict(AmlKserveError):
    """Applying would change fields another field manager set, or the object changed since it was read."""


class RuntimeLookupError(AmlKserveError):
    """No usable (Cluster)ServingRuntime for the model."""


class WaitFailed(AmlKserveError):
    """The InferenceService will not become ready: a failure is certain."""

    def __init__(self, msg: str, reason: str, **details: Any) -> None:
        super().__init__(msg, reason=reason, **details)
        self.reason = reason


class WaitTimeout(AmlKserveError):
    """The InferenceService did not become ready in time."""


def first_line(text: Optional[str], limit: int = 300) -> str:
    """A library's error text, trimmed for a message (some carry whole HTTP bodies)."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def as_result(error: AmlKserveError) -> Dict[str, Any]:
    """The keyword arguments for ``fail_json``."""
    result: Dict[str, Any] = {"msg": error.msg}
    result.update(error.details)
    return result


def kube_status(text: Any) -> Dict[str, Any]:
    """The apiserver's Status object inside an error text that a library passed on whole ({} when there is none)."""
    text = str(text or "")
    found = _STATUS.search(text)
    if not found:
        return {}
    body = text[found.start() + (2 if found.group(1) else 0):]
    if found.group(1):  # a bytes repr: undo its escapes
        body = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    try:
        status, _end = json.JSONDecoder().raw_decode(body)
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}
