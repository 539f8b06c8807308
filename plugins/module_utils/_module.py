# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""What every module of the collection shares: argument specs that carry their own constraints,
and the one place where our exceptions become ``fail_json``."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Sequence

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, as_result


class ArgumentSpec:
    """An argument spec with its constraints, so a module that merges it repeats none of them."""

    _CONSTRAINTS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")

    def __init__(
        self,
        argument_spec: Optional[Dict[str, Any]] = None,
        mutually_exclusive: Optional[List[Sequence[str]]] = None,
        required_together: Optional[List[Sequence[str]]] = None,
        required_one_of: Optional[List[Sequence[str]]] = None,
        required_if: Optional[List[Sequence[Any]]] = None,
        required_by: Optional[Dict[str, Sequence[str]]] = None,
    ) -> None:
        self.argument_spec = copy.deepcopy(argument_spec or {})
        self.mutually_exclusive = list(mutually_exclusive or [])
        self.required_together = list(required_together or [])
        self.required_one_of = list(required_one_of or [])
        self.required_if = list(required_if or [])
        self.required_by = dict(required_by or {})

    def merge(self, other: "ArgumentSpec") -> "ArgumentSpec":
        """A new spec holding both; an option declared twice is a programming error."""
        clash = set(self.argument_spec) & set(other.argument_spec)
        if clash:
            raise ValueError("options declared twice: {0}".format(", ".join(sorted(clash))))
        merged = ArgumentSpec(dict(self.argument_spec, **copy.deepcopy(other.argument_spec)))
        for name in self._CONSTRAINTS[:-1]:
            setattr(merged, name, getattr(self, name) + getattr(other, name))
        merged.required_by = dict(self.required_by, **other.required_by)
        return merged

    def module_kwargs(self) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"argument_spec": self.argument_spec}
        for name in self._CONSTRAINTS:
            value = getattr(self, name)
            if value:
                kwargs[name] = value
        return kwargs

    def create_module(self, module_class: Callable[..., Any] = AnsibleModule, **kwargs: Any) -> Any:
        return module_class(supports_check_mode=True, **dict(self.module_kwargs(), **kwargs))


def run_module(module: Any, handler: Callable[[Any], Dict[str, Any]]) -> None:
    """Run ``handler(module)`` and exit with its result; our errors become ``fail_json`` here only."""
    try:
        result = handler(module)
    except AmlKserveError as error:
        module.fail_json(**as_result(error))
    module.exit_json(**result)
