"""plugin_utils/_controller_action.py: what AnsibleModule does for a module, done for the action plugins."""

from __future__ import annotations

import ast
import base64
import pathlib
import subprocess
import sys
import tempfile
from typing import Any, Dict, Set
from unittest import mock

import kubernetes.client
import kubernetes.config
from ansible.plugins.action import ActionBase

from ansible_collections.aml.kserve.plugins.module_utils._errors import GitLabError
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec
from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import (
    ControllerAction, kubeconfig_files_removed, scrubbed_result)

SECRET = "glpat-unit-0123456789"
SPEC = ArgumentSpec({"api_url": {"type": "str"}, "api_token": {"type": "str", "no_log": True}})


def test_a_result_that_holds_a_no_log_value_is_scrubbed_everywhere():
    def handle(params: Dict[str, Any]) -> Dict[str, Any]:
        return {"msg": "used " + params["api_token"], "nested": {"list": [params["api_token"]]}, "ok": True}

    result = scrubbed_result(handle, {"api_token": SECRET}, {SECRET})
    assert SECRET not in repr(result)
    assert result["msg"] == "used ********" and result["nested"]["list"] == ["VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"] and result["ok"] is True


def test_an_error_becomes_a_failure_and_its_message_is_scrubbed():
    def handle(params: Dict[str, Any]) -> Dict[str, Any]:
        raise GitLabError("GitLab refused token " + params["api_token"])

    result = scrubbed_result(handle, {"api_token": SECRET}, [SECRET, ""])
    assert result["failed"] is True
    assert result["msg"] == "GitLab refused token ********"


def test_warnings_are_passed_on():
    result = scrubbed_result(lambda params: {"warnings": ["runtime container not inherited: " + SECRET]}, {}, {SECRET})
    assert result["warnings"] == ["runtime container not inherited: ********"]
    assert "warnings" not in scrubbed_result(lambda params: {"changed": False}, {}, set())
    # an empty list stays: a service's outcome, the role's isvc_result, always has one
    assert scrubbed_result(lambda params: {"warnings": []}, {}, set()) == {"warnings": []}


class Echo(ControllerAction):
    SPEC = SPEC

    def handle(self, params):
        return {"msg": "token is " + params["api_token"], "url": params["api_url"]}


def test_run_collects_the_no_log_values_of_the_argument_spec():
    """The action validates its arguments with the module's spec, as the module does, and the spec's no_log values
    never leave it."""
    task = mock.MagicMock()
    task.args = {"api_url": "https://gitlab.example", "api_token": SECRET}
    task.async_val = 0
    task.check_mode = False
    action = Echo(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    with mock.patch.object(ActionBase, "run", return_value={}):
        result = action.run(task_vars={})
    assert result == {"msg": "token is ********", "url": "https://gitlab.example"}


def _imports_inside_functions(path: pathlib.Path) -> Set[str]:
    """The modules a file imports only when one of its functions runs."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found |= {inner.module for inner in ast.walk(node) if isinstance(inner, ast.ImportFrom) and inner.module}
    return found


def test_what_the_role_filters_import_when_they_run_is_imported_with_the_first_action_plugin():
    """Each task's worker is forked from Ansible's main process, which imported the action plugins: what the role's
    filters import lazily must be among what the action base imports, or every worker compiles it again."""
    collection = pathlib.Path(__file__).resolve().parents[4]
    lazy = {"ansible_collections.aml.kserve.plugins.filter._isvc"}  # the filters themselves, with their imports
    for source in ("plugins/filter/_isvc.py", "plugins/module_utils/_batch.py", "plugins/module_utils/_role_checks.py"):
        lazy |= _imports_inside_functions(collection / source)
    assert "ansible_collections.aml.kserve.plugins.module_utils._render" in lazy  # the scan sees them
    program = (
        "import sys\n"
        "from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder\n"
        "_AnsibleCollectionFinder(paths=[sys.argv[1]], scan_sys_paths=True)._install()\n"
        "import ansible_collections.aml.kserve.plugins.plugin_utils._controller_action\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('ansible_collections.aml.kserve')))\n")
    loaded = subprocess.run([sys.executable, "-c", program, str(collection / ".build")], capture_output=True, text=True,
                            check=True).stdout.split()
    assert sorted(lazy - set(loaded)) == []


def test_what_exists_before_the_workers_are_forked_is_frozen_and_what_comes_later_is_collected():
    import gc

    from ansible_collections.aml.kserve.plugins.plugin_utils._controller_action import freeze_for_forks

    assert gc.get_freeze_count() > 0, "importing the actions' base freezes the objects of Ansible's main process"
    try:
        before = [object()]
        frozen = freeze_for_forks()
        assert frozen >= gc.get_freeze_count() > 0
        assert not any(obj is before for obj in gc.get_objects()), "a frozen object is no longer in the collector's lists"
        later = [object()]
        assert any(obj is later for obj in gc.get_objects()), "an object made after the freeze is collected as always"
    finally:
        gc.unfreeze()


def _kubeconfig_with_data(server: str, ca_pem: str) -> Dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": server,
                                                   "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode()}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}


def test_the_kubernetes_clients_files_for_kubeconfig_data_are_removed_with_the_task(tmp_path, monkeypatch):
    """A worker ends with os._exit, so the client's own atexit clean-up never runs: the task removes them."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    earlier = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config_from_dict(_kubeconfig_with_data("https://earlier:6443", "EARLIER CA"),
                                                 client_configuration=earlier)
    with kubeconfig_files_removed():
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config_from_dict(_kubeconfig_with_data("https://task:6443", "THE TASK'S CA"),
                                                     client_configuration=configuration)
        assert pathlib.Path(configuration.ssl_ca_cert).read_text() == "THE TASK'S CA"  # as the client wrote it
    assert not pathlib.Path(configuration.ssl_ca_cert).exists()
    # a client made before keeps its file (it removes it at its own process's exit)
    assert pathlib.Path(earlier.ssl_ca_cert).read_text() == "EARLIER CA"
    assert sorted(p.name for p in tmp_path.iterdir()) == [pathlib.Path(earlier.ssl_ca_cert).name]
