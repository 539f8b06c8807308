# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this plugin_utils is internal to aml.kserve; its API may change without notice.

"""Run a Python module (kubernetes.core.k8s) in the task's worker process, as AnsiballZ runs it in a new one.

A module run through a connection costs a new Python that unpacks the module and imports its libraries again
(kubernetes.core.k8s: about 0.6 s, most of one deploy's apply), while the worker, forked from Ansible's main process,
has them already. The module's own code runs unchanged, with the same arguments (Ansible's internal ones included),
through ansible-core's own loader, which turns a crash into a failed result as it does on a target; its output is
parsed as Ansible parses a module's. Only for modules that talk to APIs and never touch the managed node.

The loader is ansible-core's own, private: the same in 2.19 and 2.20 (read in 2.20.0's wheel: ``run_module``'s
keyword arguments, the module encoder, ``format_event_brief_message``). Where ansible-core has no such loader (before
2.19), ``module_executor`` returns None and the caller keeps the action's own ``_execute_module``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Any, Callable, Dict, Iterator, Optional

import ansible
from ansible.module_utils import basic
from ansible.vars.clean import remove_internal_keys

try:
    from ansible.module_utils._internal._ansiballz import _loader
    from ansible.module_utils._internal._event_utils import format_event_brief_message
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # ansible-core < 2.19
    _loader = format_event_brief_message = None

# what ansible-core gives a Python module that declares no serialization profile (kubernetes.core's declare none)
PROFILE = "legacy"
_MODLIB_PATH = os.path.dirname(os.path.dirname(ansible.__file__))


def python_module_name(fqcn: str) -> str:
    """The Python module of a collection's module: kubernetes.core.k8s -> ansible_collections.kubernetes.core.plugins.
    modules.k8s."""
    namespace, collection, name = fqcn.split(".", 2)
    return "ansible_collections.{0}.{1}.plugins.modules.{2}".format(namespace, collection, name)


@contextlib.contextmanager
def _process_state(environment: Dict[str, str]) -> Iterator[None]:
    """The task's ``environment`` for the module, as a new process would have it; afterwards the worker's own
    environment, working directory and module arguments again (AnsibleModule may set a locale or change directory)."""
    saved_environ, saved_cwd = os.environ.copy(), os.getcwd()
    os.environ.update({name: str(value) for name, value in environment.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(saved_cwd)
        basic._ANSIBLE_ARGS = basic._ANSIBLE_PROFILE = None  # pylint: disable=protected-access  # the next module's own


def run_module(python_module: str, module_args: Dict[str, Any],
               environment: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Run ``python_module`` as a module with ``module_args`` (Ansible's internal ones included): its raw result,
    ``stdout`` (its JSON) and ``rc``, as a connection returns them."""
    encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder).encode()
    output = io.StringIO()
    rc = 0
    with _process_state(environment or {}):
        try:
            with contextlib.redirect_stdout(output):
                _loader.run_module(json_params=payload, profile=PROFILE, module_fqn=python_module,
                                   modlib_path=_MODLIB_PATH, extensions={})
        except SystemExit as done:  # a module ends with sys.exit, its result printed
            rc = done.code if isinstance(done.code, int) else 1
    return {"rc": rc, "stdout": output.getvalue(), "stderr": ""}


def with_failure_message(result: Dict[str, Any]) -> Dict[str, Any]:
    """``result``, with a ``msg`` where the module crashed and left only its exception (Ansible words it later, when
    it shows a task's failure; a step that keeps the result must do it): the exception's message and its causes'."""
    if not result.get("failed") or result.get("msg"):
        return result
    exception = result.get("exception")
    event = getattr(exception, "event", None)
    if event is not None and format_event_brief_message is not None:
        message = format_event_brief_message(event)
    else:  # before 2.19, the traceback: its last line names the exception
        lines = str(exception or "").strip().splitlines()
        message = lines[-1] if lines else ""
    return dict(result, msg=message or "the module failed without a message")


def module_executor(action: Any, fqcn: str) -> Optional[Callable[..., Dict[str, Any]]]:
    """A stand-in for ``action._execute_module`` that runs ``fqcn`` here, or None where this ansible-core cannot."""
    if _loader is None:
        return None

    def execute_module(module_name: Optional[str] = None, module_args: Optional[Dict[str, Any]] = None,
                       task_vars: Optional[Dict[str, Any]] = None, **_ignored: Any) -> Dict[str, Any]:
        if module_name not in (None, fqcn):
            raise ValueError("this executor runs {0} only, not {1}".format(fqcn, module_name))
        arguments = dict(action._task.args if module_args is None else module_args)  # pylint: disable=protected-access
        action._update_module_args(fqcn, arguments, task_vars or {})  # pylint: disable=protected-access
        environment: Dict[str, str] = {}
        action._compute_environment_string(environment)  # pylint: disable=protected-access  # the task's, templated
        raw = run_module(python_module_name(fqcn), arguments, environment)
        data = action._parse_returned_data(raw, PROFILE)  # pylint: disable=protected-access
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        return data

    return execute_module
