"""The role's rescue (tasks/failed.yml): a step that fails unexpectedly still gives the service's outcome, published
for AWX workflows, and fails its host with the step's message. Ansible only, no cluster."""

from __future__ import annotations

import yaml

from tests.harness.ansible import run_playbook
from tests.integration.roles_support import document


def test_an_unexpected_failure_is_published_with_the_service_named_from_its_kept_variables(tmp_path):
    inputs = {"isvc_name": "qwen", "isvc_namespace": "team-a", "isvc_gitlab_token": "glpat-never-shown"}
    playbook = tmp_path / "rescue.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False, "vars": inputs,
        "tasks": [{"name": "Deploy", "block": [
            # as the role's first task keeps them
            {"name": "Keep", "aml.kserve._isvc_inputs": None, "register": "__isvc_inputs", "no_log": True,
             "run_once": True},
            {"name": "A step that breaks", "ansible.builtin.fail": {"msg": "the step broke"}},
        ], "rescue": [{"name": "Rescue", "ansible.builtin.include_role": {"name": "aml.kserve.isvc",
                                                                          "tasks_from": "failed"}}]}],
    }]))
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_SHOW_CUSTOM_STATS": "1"}
    run = run_playbook(playbook, env=env)
    assert run.rc == 2, run.output[-3000:]
    published = document(run)["global_custom_stats"]["isvc_results"]
    assert list(published) == ["team-a/qwen"]
    outcome = published["team-a/qwen"]
    assert (outcome["failed"], outcome["ready"], outcome["reason"], outcome["msg"]) == (True, False, "error", "the step broke")
    assert "glpat-never-shown" not in run.output
