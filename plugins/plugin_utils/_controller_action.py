# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this plugin_utils is internal to aml.kserve; its API may change without notice.

"""Run a module's logic on the controller, in the task's own process.

A module costs a Python process that unpacks itself and imports its libraries again (the Kubernetes client alone
takes about half a second); these modules talk only to APIs, never to the managed node, so running them where
Ansible already is saves that, and lets a long wait show progress while it runs. The module's argument spec is
validated exactly as the module would, and our errors become a failed result here, in one place.

What AnsibleModule does for a module is done here for the action, as community.crypto's
plugin_utils/_action_module.py does: the values of no_log options are scrubbed from the result and its messages
(AnsibleModule's exit_json/fail_json run remove_values), and the handler's warnings are passed on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import Any, Callable, Dict, Iterable, Iterator, List

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.aml.kserve.plugins.filter import _isvc as _role_filters
from ansible_collections.aml.kserve.plugins.module_utils import _ownership, _readiness, _render
from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError, as_result
from ansible_collections.aml.kserve.plugins.modules import inference_service as _render_module

display = Display()

# Ansible imports an action plugin in its main process (the strategy loads its class) before it forks the task's
# worker, and each worker starts with that process's modules. The collection loader compiles a collection's Python on
# every import, without a bytecode cache, so the role's private filters and what they import when they run are
# imported here, once, with the first of the role's modules: each later task's worker has them already, instead of
# compiling them again (about 0.25 s over one deploy). Nothing here uses them.
PRELOADED = (_role_filters, _ownership, _readiness, _render, _render_module)


def freeze_for_forks() -> int:
    """Move every object the process has so far out of the garbage collector's reach, as CPython's documentation
    advises a process that forks workers without exec (gc.freeze): neither a worker's collections nor the final
    collection at ansible-playbook's exit walk them again (about 0.1 s of one deploy's exit, and the workers' pages
    stay shared). Objects made later are collected as always. The number of objects frozen."""
    gc.freeze()
    return gc.get_freeze_count()


# Here, in the main process, with the first of the role's actions: by then Ansible has loaded the inventory, the
# playbook and its plugins, and it forks a worker for every task from now on.
freeze_for_forks()


@contextlib.contextmanager
def kubeconfig_files_removed() -> Iterator[None]:
    """Remove, at the end, the files the Kubernetes client writes while this runs for a kubeconfig's embedded data
    (``certificate-authority-data``, ``client-key-data``: a private key). The client removes them at the process's
    exit (atexit), but a task's worker ends with os._exit, which runs no atexit handler, so each task would leave them
    in TMPDIR. Only this run's: the files of a client made before stay its own."""
    before = set(_kubeconfig_files())
    try:
        yield
    finally:
        files = _kubeconfig_files()
        for content in set(files) - before:
            with contextlib.suppress(FileNotFoundError):
                os.remove(files.pop(content))


def _kubeconfig_files() -> Dict[Any, str]:
    """The Kubernetes client's own record of the files it wrote (content -> path), empty where it is not loaded."""
    kube_config = sys.modules.get("kubernetes.config.kube_config")
    files = getattr(kube_config, "_temp_files", None)
    return files if isinstance(files, dict) else {}


def scrubbed_result(handle: Callable[[Dict[str, Any]], Dict[str, Any]], params: Dict[str, Any],
                    no_log_values: Iterable[str]) -> Dict[str, Any]:
    """``handle(params)`` as a task result: our errors as a failure, warnings kept, no_log values masked everywhere
    (``********`` in text, a placeholder for a whole value), as a module's result would be."""
    try:
        result = dict(handle(params))
    except AmlKserveError as error:
        result = dict(failed=True, **as_result(error))
    had_warnings = "warnings" in result
    warnings: List[str] = [str(w) for w in result.pop("warnings", None) or []]
    if warnings or had_warnings:  # an empty list stays (a service's outcome has one)
        result["warnings"] = warnings
    return remove_values(result, set(v for v in no_log_values if v))


class ControllerAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    #: the module's ArgumentSpec (module_utils._module.ArgumentSpec)
    SPEC: Any = None

    def handle(self, params: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def secret_values(self, params: Dict[str, Any]) -> Iterable[str]:
        """Values to scrub besides the no_log options', for an option that carries secrets inside it."""
        return ()

    def run(self, tmp=None, task_vars=None):
        self.task_vars = task_vars or {}  # for a handler that needs the host's variables or hands them on
        result = super().run(tmp, task_vars)
        validation, params = self.validate_argument_spec(**self.SPEC.module_kwargs())
        # the values the argument spec marks no_log (api_token, ...), as AnsibleModule collects them
        no_log_values = set(validation._no_log_values) | set(self.secret_values(params))  # pylint: disable=protected-access
        with kubeconfig_files_removed():
            result.update(scrubbed_result(self.handle, params, no_log_values))
        return result
