"""plugin_utils/_in_process.py: a module run in the task's worker, as AnsiballZ runs it in a new Python."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils._internal import _messages

from ansible_collections.aml.kserve.plugins.plugin_utils import _in_process
from ansible_collections.aml.kserve.plugins.plugin_utils._in_process import python_module_name, run_module, with_failure_message

MODULES = "tests.unit.plugins.plugin_utils.in_process_modules."


def test_a_collection_modules_python_module():
    assert python_module_name("kubernetes.core.k8s") == "ansible_collections.kubernetes.core.plugins.modules.k8s"


def test_the_module_gets_its_arguments_and_the_environment_and_the_worker_keeps_its_own(tmp_path):
    before, cwd = os.environ.copy(), os.getcwd()
    raw = run_module(MODULES + "echo", {"variable": "FROM_THE_TASK", "token": "s3cret", "chdir": str(tmp_path),
                                        "_ansible_check_mode": True}, {"FROM_THE_TASK": 42})
    result = json.loads(raw["stdout"])
    assert raw["rc"] == 0 and raw["stderr"] == ""
    assert result["value"] == "42"  # the task's environment, a string as in a process's
    assert result["changed"] is False  # check mode, from Ansible's internal argument
    assert result["said"] == "token ********"  # AnsibleModule's own no_log scrubbing
    assert result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    # the worker's environment, directory and module arguments are its own again
    assert os.environ == before and os.getcwd() == cwd
    assert basic._ANSIBLE_ARGS is None  # pylint: disable=protected-access


def test_a_failure_of_the_modules_own_is_its_result():
    raw = run_module(python_module_name("kubernetes.core.k8s"), {"definition": [], "no_such_option": 1})
    result = json.loads(raw["stdout"])
    assert raw["rc"] == 1 and result["failed"] is True
    assert "Unsupported parameters" in result["msg"] and "no_such_option" in result["msg"]


def test_a_crash_is_a_failed_result_as_on_a_target():
    raw = run_module(MODULES + "crash", {})
    result = json.loads(raw["stdout"])
    assert raw["rc"] == 1 and result["failed"] is True
    assert "the module broke" in json.dumps(result["exception"])
    assert basic._ANSIBLE_ARGS is None  # pylint: disable=protected-access


def test_a_crashed_modules_message_is_its_exception_and_its_causes():
    cause = _messages.Event(msg="[Errno 111] Connection refused")
    event = _messages.Event(msg="Unable to connect to proxy", chain=_messages.EventChain(
        msg_reason="<<< caused by >>>", traceback_reason="The above exception was the direct cause", event=cause))
    result = with_failure_message({"failed": True, "exception": _messages.ErrorSummary(event=event)})
    assert result["msg"] == "Unable to connect to proxy: [Errno 111] Connection refused"


def test_a_failure_keeps_its_own_message_and_a_success_gets_none():
    assert with_failure_message({"failed": True, "msg": "Unsupported parameters", "exception": "x"})["msg"] == \
        "Unsupported parameters"
    assert "msg" not in with_failure_message({"changed": True})
    # before ansible-core 2.19 the exception is the traceback's text
    traceback = "Traceback (most recent call last):\n  File \"x\", line 1\nRuntimeError: the module broke\n"
    assert with_failure_message({"failed": True, "exception": traceback})["msg"] == "RuntimeError: the module broke"
    assert with_failure_message({"failed": True})["msg"] == "the module failed without a message"


def test_without_ansible_cores_module_loader_the_action_keeps_its_own_executor(monkeypatch):
    monkeypatch.setattr(_in_process, "_loader", None)  # as on ansible-core < 2.19
    assert _in_process.module_executor(object(), "kubernetes.core.k8s") is None


def test_the_executor_runs_its_own_module_only():
    execute_module = _in_process.module_executor(object(), "kubernetes.core.k8s")
    with pytest.raises(ValueError, match="runs kubernetes.core.k8s only, not ansible.builtin.command"):
        execute_module(module_name="ansible.builtin.command")
