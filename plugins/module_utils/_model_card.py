# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Read a model repository's README (a Hugging Face style model card). Pure: no I/O.

The metadata sits in YAML front matter between a leading ``---`` line and the next ``---`` line,
parsed with a real YAML parser. Without front matter, or for a key the front matter lacks, we fall
back to the pipeline's rule: the first line that starts with ``<key>:``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.aml.kserve.plugins.module_utils._errors import ModelCardError

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core itself needs PyYAML
    HAS_YAML = False

REQUIRED_KEYS = ("pipeline_tag", "library_name")


def split_front_matter(text: str) -> Tuple[Optional[str], str]:
    """(front matter or None, the rest). A front matter opens on the very first line."""
    lines = text.splitlines(True)
    if not lines or lines[0].rstrip("\r\n").rstrip() != "---":
        return None, text
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1:])
    return None, text


def _pipeline_rule(text: str, key: str) -> Optional[str]:
    """The pipeline's grep: the first line starting with ``key:``, the rest of it trimmed."""
    pattern = re.compile(r"^" + re.escape(key) + r":[ \t]*(.*?)\s*$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            value = match.group(1)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value
    return None


def parse_model_card(text: str, where: str) -> Dict[str, Any]:
    """Return ``{"pipeline_tag", "library_name", "metadata"}``; ``where`` names the README for errors."""
    if not text.strip():
        raise ModelCardError("{0} is empty; it must carry pipeline_tag and library_name in its front matter".format(where))
    front, _rest = split_front_matter(text)
    metadata: Dict[str, Any] = {}
    if front is not None:
        if not HAS_YAML:
            raise ModelCardError("PyYAML is needed to read the front matter of {0}".format(where))
        try:
            loaded = yaml.safe_load(front)
        except yaml.YAMLError as err:
            raise ModelCardError("The front matter of {0} is not valid YAML: {1}".format(where, " ".join(str(err).split())))
        if loaded is not None and not isinstance(loaded, dict):
            raise ModelCardError("The front matter of {0} must be a YAML mapping, not a {1}".format(where, type(loaded).__name__))
        metadata = loaded or {}

    result: Dict[str, Any] = {"metadata": metadata}
    missing: List[str] = []
    for key in REQUIRED_KEYS:
        value = metadata.get(key)
        if value is None:
            value = _pipeline_rule(text, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise ModelCardError("{0} in {1} must be a single string, not {2!r}".format(key, where, value))
        if not value:
            missing.append(key)
        result[key] = value
    if missing:
        raise ModelCardError(
            "{0} lacks {1}; add {2} to its front matter (for example 'pipeline_tag: text-generation', "
            "'library_name: transformers')".format(where, " and ".join(missing), "it" if len(missing) == 1 else "them"),
            missing=missing,
        )
    return result
