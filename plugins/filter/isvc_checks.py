# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The deploy role's cross-variable checks, shared with batch_deploy.yml (module_utils/_role_checks.py)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.aml.kserve.plugins.module_utils import _ownership, _role_checks


def isvc_input_problems(values: Mapping[str, Any]) -> List[str]:
    return _role_checks.input_problems(values)


def isvc_guard_problems(values: Mapping[str, Any], existing: Optional[Mapping[str, Any]], deployment_mode: str,
                        psa_level: Optional[str] = None) -> List[str]:
    return _role_checks.guard_problems(values, existing, deployment_mode, psa_level)


def isvc_render_problem(message: str) -> str:
    return _role_checks.render_problem(message)


def isvc_apply_problem(applied: Mapping[str, Any], namespace: str, name: str, method: str) -> str:
    return _ownership.apply_problem(applied, namespace, name, method, "isvc_force_conflicts", "isvc_update_if_exists")


def isvc_render_warnings(rendered: Mapping[str, Any]) -> List[str]:
    return _role_checks.render_warnings(rendered)


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"isvc_input_problems": isvc_input_problems, "isvc_guard_problems": isvc_guard_problems,
                "isvc_render_problem": isvc_render_problem, "isvc_apply_problem": isvc_apply_problem,
                "isvc_render_warnings": isvc_render_warnings}
