"""plugin_utils/_play_batch.py and action/_isvc_inputs.py: every service's role variables, read in one task, each as
its own host reads them there. The selection and the templating errors with a stand-in templar; the precedence of
Ansible's variable sources with ansible-playbook itself (no cluster)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from ansible.errors import AnsibleUndefinedVariable

from ansible_collections.aml.kserve.plugins.module_utils import _batch
from ansible_collections.aml.kserve.plugins.plugin_utils._play_batch import role_inputs
from tests.harness.ansible import REPO_ROOT, run_playbook
from tests.integration.roles_support import document


def _template(value):
    if value == "{{ missing }}":
        raise AnsibleUndefinedVariable("'missing' is undefined")
    return value.upper() if isinstance(value, str) else value


def test_only_the_role_inputs_are_taken_each_templated():
    variables = {"isvc_name": "qwen", "isvc_replicas": 2, "isvc_batch": [1], "isvc_batch_serial": [1],
                 "isvc_result": {"ready": True}, "my_isvc_name": "x", "inventory_hostname": "qwen@a"}
    assert role_inputs(variables, _template) == {"isvc_name": "QWEN", "isvc_replicas": 2}


def test_a_variable_that_cannot_be_templated_is_the_service_s_error_and_the_others_are_kept():
    inputs = role_inputs({"isvc_name": "qwen", "isvc_model_repo": "{{ missing }}", "isvc_tag": "{{ missing }}"},
                         _template)
    assert inputs == {"isvc_name": "QWEN", _batch.TEMPLATE_ERROR:
                      "Variable isvc_model_repo: 'missing' is undefined; isvc_tag: 'missing' is undefined"}


def test_the_plan_fails_such_a_service_with_that_message_and_checks_the_others():
    spec = yaml.safe_load(open("roles/isvc/meta/argument_specs.yml", encoding="utf-8"))["argument_specs"]["main"]["options"]
    from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC

    good = {"isvc_name": "qwen", "isvc_namespace": "team-a", "isvc_model_repo": "qwen", "isvc_runtime_class": "vllm"}
    broken = dict(good, isvc_name="llama", **{_batch.TEMPLATE_ERROR: "Variable isvc_tag: 'missing' is undefined"})
    services = _batch.plan({"qwen@a": good, "llama@a": broken}, spec, SPEC)["services"]
    assert (services["llama@a"]["error"], services["llama@a"]["reason"]) == ("Variable isvc_tag: 'missing' is undefined", "input")
    assert services["qwen@a"]["error"] == ""


@pytest.fixture(name="inputs_of")
def fixture_inputs_of(tmp_path):
    """Run the action over an inventory of three services, in a role with defaults; return each host's inputs."""
    role = tmp_path / "roles" / "probe"
    (role / "defaults").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump({"isvc_wait_timeout": 600, "isvc_tag": "from-defaults"}))
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump([
        {"name": "Keep", "aml.kserve._isvc_inputs": None, "register": "__isvc_inputs", "no_log": True, "run_once": True},
        {"name": "Show", "ansible.builtin.debug": {"msg": "{{ __isvc_inputs.inputs }}"}, "run_once": True},
    ]))
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"isvc": {
        "hosts": {"qwen@team-a": {"isvc_tag": "v2"}, "llama@team-a": {}, "phi@team-b": {"isvc_namespace": "team-b"}},
        "vars": {"ansible_connection": "local", "isvc_namespace": "team-a", "isvc_model_repo": "{{ isvc_name }}-repo"},
    }}))
    playbook = tmp_path / "probe.yml"
    playbook.write_text(yaml.safe_dump([
        {"hosts": "isvc", "gather_facts": False, "tasks": [
            {"name": "A fact of one host", "ansible.builtin.set_fact": {"isvc_replicas": 3},
             "when": "inventory_hostname == 'phi@team-b'"}]},
        {"hosts": "isvc", "gather_facts": False, "vars": {"isvc_name": "{{ inventory_hostname | split('@') | first }}"},
         "roles": [{"role": "probe", "isvc_description": "a role parameter"}]},
    ]))

    def run(*extra_args):
        env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
               "ANSIBLE_ROLES_PATH": str(tmp_path / "roles")}
        result = run_playbook(playbook, env=env, inventory=str(tmp_path / "inventory.yml"), extra_args=list(extra_args))
        assert result.rc == 0, result.output[-3000:]
        tasks = document(result)["plays"][1]["tasks"]
        shown = next(t for t in tasks if t["task"]["name"].endswith("Show"))
        return json.loads(next(iter(shown["hosts"].values()))["msg"])
    return run


def test_each_host_s_variables_are_read_as_that_host_reads_them(inputs_of):
    inputs = inputs_of()
    assert sorted(inputs) == ["llama@team-a", "phi@team-b", "qwen@team-a"]
    # play vars templated per host, group vars, host vars over group vars, role defaults, role params, facts
    assert {h: v["isvc_name"] for h, v in inputs.items()} == {"qwen@team-a": "qwen", "llama@team-a": "llama", "phi@team-b": "phi"}
    assert {h: v["isvc_model_repo"] for h, v in inputs.items()} == {
        "qwen@team-a": "qwen-repo", "llama@team-a": "llama-repo", "phi@team-b": "phi-repo"}
    assert {h: v["isvc_namespace"] for h, v in inputs.items()} == {
        "qwen@team-a": "team-a", "llama@team-a": "team-a", "phi@team-b": "team-b"}
    assert {h: v["isvc_tag"] for h, v in inputs.items()} == {
        "qwen@team-a": "v2", "llama@team-a": "from-defaults", "phi@team-b": "from-defaults"}
    assert {h: v["isvc_wait_timeout"] for h, v in inputs.items()} == dict.fromkeys(inputs, 600)
    assert {h: v["isvc_description"] for h, v in inputs.items()} == dict.fromkeys(inputs, "a role parameter")
    assert {h: v.get("isvc_replicas") for h, v in inputs.items()} == {"qwen@team-a": None, "llama@team-a": None, "phi@team-b": 3}
    started = {v["__isvc_started"] for v in inputs.values()}
    assert len(started) == 1 and isinstance(started.pop(), float)


def test_extra_vars_win_and_limit_narrows_the_batch(inputs_of):
    inputs = inputs_of("-e", json.dumps({"isvc_tag": "v9"}), "--limit", "qwen@team-a,phi@team-b")
    assert {h: v["isvc_tag"] for h, v in inputs.items()} == {"qwen@team-a": "v9", "phi@team-b": "v9"}


def test_the_action_refuses_to_run_without_no_log(tmp_path):
    playbook = tmp_path / "shown.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                         "vars": {"isvc_gitlab_token": "glpat-never-shown"},
                                         "tasks": [{"name": "Keep", "aml.kserve._isvc_inputs": None}]}]))
    run = run_playbook(playbook)
    assert run.rc == 2
    assert "must run with no_log: true" in run.output and "glpat-never-shown" not in run.output


def _checked(tmp_path, argument_specs: str):
    """The action with argument_specs over two services of one cluster, one of them invalid: what it registered."""
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"isvc": {
        "hosts": {"qwen@a": {}, "bad@a": {"isvc_min_replicas": 3, "isvc_max_replicas": 2}},
        "vars": {"ansible_connection": "local", "isvc_namespace": "a", "isvc_model_repo": "m", "isvc_runtime_class": "vllm",
                 "isvc_kubernetes": {"host": "https://k8s.example:6443", "api_key": "kube-token-never-shown"}}}}))
    playbook = tmp_path / "checked.yml"
    tasks = [
        {"name": "Keep", "aml.kserve._isvc_inputs": {"argument_specs": argument_specs}, "register": "__isvc_inputs",
         "no_log": True, "run_once": True},
        {"name": "Show", "ansible.builtin.debug": {"msg": "{{ {'plan': __isvc_inputs.plan, 'hosts': __isvc_inputs.clusters"
                                                          " | dict2items | map(attribute='value.host') | list} | to_json }}"},
         "run_once": True}]
    playbook.write_text(yaml.safe_dump([{"hosts": "isvc", "gather_facts": False, "tasks": tasks,
                                         "vars": {"isvc_name": "{{ inventory_hostname | split('@') | first }}"}}]))
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    return run_playbook(playbook, env=env, inventory=str(tmp_path / "inventory.yml"))


def test_with_the_role_s_argument_specs_every_service_is_checked_and_each_cluster_kept(tmp_path):
    run = _checked(tmp_path, str(REPO_ROOT / "roles" / "isvc" / "meta" / "argument_specs.yml"))
    assert run.rc == 0, run.output[-3000:]
    shown = next(t for t in document(run)["plays"][0]["tasks"] if t["task"]["name"] == "Show")
    found = json.loads(next(iter(shown["hosts"].values()))["msg"])
    services = json.loads(found["plan"]["services"])  # packed, as the later steps take it
    assert services["qwen@a"]["error"] == ""
    assert services["bad@a"]["error"] == (
        "Invalid role variables (1): isvc_max_replicas (2) must not be less than isvc_min_replicas (3)")
    assert found["plan"]["existing_reads"] == [{"cluster": "c1", "namespace": "a", "names": ["qwen"], "pod_security": True}]
    assert found["hosts"] == ["https://k8s.example:6443"], "one cluster, both services"


def test_an_unreadable_argument_specs_is_named_and_fails_the_task(tmp_path):
    from ansible_collections.aml.kserve.plugins.action._isvc_inputs import ActionModule
    from ansible_collections.aml.kserve.plugins.module_utils._errors import AmlKserveError

    missing = str(tmp_path / "missing.yml")
    with pytest.raises(AmlKserveError, match="^argument_specs: cannot read the role's options from " + re.escape(missing)):
        ActionModule._role_options(missing)  # pylint: disable=protected-access
    run = _checked(tmp_path, missing)
    assert run.rc == 2
    kept = next(t for t in document(run)["plays"][0]["tasks"] if t["task"]["name"] == "Keep")
    assert [r.get("failed") for r in kept["hosts"].values()] == [True]  # its message hidden with the rest (no_log)
    assert "kube-token-never-shown" not in run.output
