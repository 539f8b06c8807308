# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Kubernetes' own syntax rules (names, label values, quantities), as the apiserver checks them.

Each ``check_*`` returns ``None`` when the value is valid, else a short reason. Checking here lets
us refuse bad input before anything is sent, with a message that names the option.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Optional

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$")
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$")

_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}


def check_dns1123_label(value: str) -> Optional[str]:
    if len(value) > 63:
        return "must be at most 63 characters (it has {0})".format(len(value))
    if not DNS1123_LABEL.match(value):
        return "must consist of lower case letters, digits and '-', and start and end with a letter or digit"
    return None


def check_dns1035_label(value: str) -> Optional[str]:
    if len(value) > 63:
        return "must be at most 63 characters (it has {0})".format(len(value))
    if not DNS1035_LABEL.match(value):
        return "must consist of lower case letters, digits and '-', start with a letter and end with a letter or digit"
    return None


def check_dns1123_subdomain(value: str) -> Optional[str]:
    if len(value) > 253:
        return "must be at most 253 characters (it has {0})".format(len(value))
    if not DNS1123_SUBDOMAIN.match(value):
        return "must consist of lower case letters, digits, '-' and '.', and start and end with a letter or digit"
    return None


def check_label_value(value: str) -> Optional[str]:
    if len(value) > 63:
        return "must be at most 63 characters (it has {0})".format(len(value))
    if not LABEL_VALUE.match(value):
        return "may hold only letters, digits, '-', '_' and '.', and must start and end with a letter or digit"
    return None


def check_qualified_name(key: str) -> Optional[str]:
    """A label or annotation key: ``[prefix/]name``."""
    prefix, _sep, name = key.rpartition("/")
    if prefix:
        reason = check_dns1123_subdomain(prefix)
        if reason:
            return "prefix {0!r} {1}".format(prefix, reason)
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        return "name part {0!r} must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit".format(name)
    return None


def parse_quantity(value: str) -> Optional[Decimal]:
    """The quantity's value as a Decimal, or None when it is not a valid Kubernetes quantity."""
    match = QUANTITY.match(value)
    if not match:
        return None
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:
        return None
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exponent = int(suffix[1:])
    if abs(exponent) > 64:  # far beyond any resource; Kubernetes caps quantities well below this
        return None
    return number * (Decimal(10) ** exponent)


def check_quantity(value: str) -> Optional[str]:
    if parse_quantity(value) is None:
        return "is not a Kubernetes quantity (examples: 500m, 2, 4Gi, 10G)"
    return None


def check_positive_int(value: str, low: int = 1, high: Optional[int] = None) -> Optional[str]:
    if not re.match(r"^[0-9]+$", value):
        return "must be a whole number"
    number = int(value)
    if number < low or (high is not None and number > high):
        return "must be between {0} and {1}".format(low, high) if high is not None else "must be at least {0}".format(low)
    return None


def check_duration(value: str) -> Optional[str]:
    if not GO_DURATION.match(value):
        return "is not a duration (examples: 600s, 40m, 1h30m)"
    return None
