"""The KServe simulator's predictor container against KServe's own rules and test cases.

Cases marked "KServe's" are copied from KServe's unit tests: TestMergeRuntimeContainers and TestMergePodSpec in
pkg/controller/v1beta1/inferenceservice/utils/utils_test.go, TestMergeContainerWithPatch in
pkg/utils/container_merge_test.go (v0.20.0).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.harness.kserve_simulator import (
    PLACEHOLDER_IMAGE,
    _container,
    _strategic_merge_list,
    merge_runtime_containers,
    replace_placeholders,
)

VLLM = {
    "name": "kserve-container",
    "image": "vllm/vllm-openai:v0.8.5",
    "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
    "args": ["--port=8080", "--served-model-name={{.Name}}"],
    "env": [{"name": "HF_HOME", "value": "/tmp/hf"},
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token", "optional": True}}}],
    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
}
META = {"name": "chat", "namespace": "team-a", "labels": {"tier": "gold"}, "annotations": {"example.com/owner": "ann"}}


def test_kserves_basic_merge() -> None:
    """KServe's BasicMerge: args concatenated, env overridden by name and added, resources merged key by key."""
    base = {"name": "kserve-container", "image": "default-image", "args": ["--foo=bar", "--test=dummy"],
            "env": [{"name": "PORT", "value": "8080"}, {"name": "PORT2", "value": "8081"}],
            "resources": {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}}}
    override = {"args": ["--new-arg=baz"], "env": [{"name": "PORT2", "value": "8082"}, {"name": "Some", "value": "Var"}],
                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
    assert merge_runtime_containers(base, override) == {
        "name": "kserve-container", "image": "default-image", "args": ["--foo=bar", "--test=dummy", "--new-arg=baz"],
        "env": [{"name": "PORT", "value": "8080"}, {"name": "PORT2", "value": "8082"}, {"name": "Some", "value": "Var"}],
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}},
    }


def test_kserves_merge_pod_spec_list_order() -> None:
    """KServe's TestMergePodSpec BasicMerge volumes: a strategic merge puts the patch's new items before the
    runtime's remaining ones ([foo, aaa] patched with [foo, xxx] is [foo, xxx, aaa])."""
    base = [{"name": "foo", "claim": "bar"}, {"name": "aaa", "claim": "bbb"}]
    patch = [{"name": "foo", "claim": "baz"}, {"name": "xxx", "claim": "yyy"}]
    assert _strategic_merge_list(base, patch, "name") == [
        {"name": "foo", "claim": "baz"}, {"name": "xxx", "claim": "yyy"}, {"name": "aaa", "claim": "bbb"}]


@pytest.mark.parametrize("base_entry, overlay_entry, expected", [
    # KServe's valueFrom_overrides_value_on_same_name and value_overrides_valueFrom_on_same_name (0.20)
    ({"name": "AWS_KEY", "value": "literal-secret"},
     {"name": "AWS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws-creds", "key": "access-key"}}},
     {"name": "AWS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws-creds", "key": "access-key"}}}),
    ({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "secret", "key": "token"}}},
     {"name": "TOKEN", "value": "hardcoded-value"},
     {"name": "TOKEN", "value": "hardcoded-value"}),
])
def test_kserves_env_value_conflicts(base_entry: dict, overlay_entry: dict, expected: dict) -> None:
    merged = merge_runtime_containers({"name": "init", "env": [base_entry]}, {"name": "init", "env": [overlay_entry]})
    assert merged["env"] == [expected]
    # 0.14 to 0.19 keep both (the Deployment is then refused by the apiserver)
    older = merge_runtime_containers({"name": "init", "env": [base_entry]}, {"name": "init", "env": [overlay_entry]},
                                     reconcile_env_values=False)
    assert older["env"] == [dict(base_entry, **overlay_entry)]


def test_kserves_name_restored_from_base() -> None:
    assert merge_runtime_containers({"name": "storage-initializer", "image": "img:v1"}, {"image": "img:v2"}) == {
        "name": "storage-initializer", "image": "img:v2"}


def test_command_replaced_or_kept() -> None:
    assert merge_runtime_containers(VLLM, {"command": ["vllm", "serve"]})["command"] == ["vllm", "serve"]
    # an empty command is not in the JSON KServe merges (omitempty): the runtime's stays
    assert merge_runtime_containers(VLLM, {"command": []})["command"] == VLLM["command"]
    assert merge_runtime_containers(VLLM, {})["command"] == VLLM["command"]


def test_inputs_are_not_modified() -> None:
    runtime, isvc = copy.deepcopy(VLLM), {"env": [{"name": "HF_HOME", "value": "/data"}], "args": ["--x"]}
    snapshot = copy.deepcopy((runtime, isvc))
    merge_runtime_containers(runtime, isvc)
    assert (runtime, isvc) == snapshot


def model(**container: Any) -> dict[str, Any]:
    return dict({"modelFormat": {"name": "transformers"}, "runtime": "vllm", "protocolVersion": "v2",
                 "storageUri": "hf://team-a/qwen:abc", "name": "kserve-container"}, **container)


@pytest.mark.parametrize("copied, args", [
    # the collection's inherit_runtime_container=all: every runtime argument twice, the copy's placeholders filled in
    (("command", "env", "args"), ["--port=8080", "--served-model-name=chat", "--port=8080", "--served-model-name=chat"]),
    # command_env and none: the runtime's args once
    (("command", "env"), ["--port=8080", "--served-model-name=chat"]),
    ((), ["--port=8080", "--served-model-name=chat"]),
])
def test_predictor_container_for_each_inheritance(copied: tuple, args: list[str]) -> None:
    container = _container(META, model(**{f: VLLM[f] for f in copied}), VLLM)
    assert container == {
        "name": "kserve-container", "image": VLLM["image"], "command": VLLM["command"], "args": args,
        "env": VLLM["env"], "ports": VLLM["ports"],
    }


def test_predictor_container_keeps_only_container_fields_and_merges_resources() -> None:
    runtime = dict(VLLM, resources={"limits": {"cpu": "1", "memory": "2Gi"}})
    container = _container(META, model(resources={"limits": {"cpu": 4, "nvidia.com/gpu": "1"}}), runtime)
    assert not {"modelFormat", "runtime", "protocolVersion", "storageUri"} & set(container)
    assert container["resources"] == {"limits": {"cpu": "4", "memory": "2Gi", "nvidia.com/gpu": "1"}}
    assert _container(META, model(), {})["image"] == PLACEHOLDER_IMAGE


def test_placeholders_from_the_metadata() -> None:
    text = ["{{.Name}}.{{ .Namespace }}", "{{.Labels.tier}}", '{{index .Annotations "example.com/owner"}}',
            "{{.Labels.missing}}", "plain"]
    assert replace_placeholders({"args": text, "n": 1}, META) == {
        "args": ["chat.team-a", "gold", "ann", "<no value>", "plain"], "n": 1}


def test_an_inference_services_steps_stay_in_one_workers_queue_in_order():
    """Different services are reconciled side by side; one service's steps in the order they were scheduled."""
    import kubernetes.client

    from tests.harness.kserve_simulator import KServeSimulator, _task_key

    event = {"metadata": {"namespace": "ns1", "name": "a", "uid": "u"}}
    assert _task_key(("ADDED", event)) == ("ns1", "a") == _task_key((("ns1", "a"), 3, "ready"))
    simulator = KServeSimulator(kubernetes.client.ApiClient(), workers=4)
    for index in range(40):
        simulator._schedule(0, print, "MODIFIED", {"metadata": {"namespace": "ns1", "name": f"s{index % 8}"}})
        simulator._schedule(0, print, ("ns1", f"s{index % 8}"), index)
    queues = [[_task_key(t.args) for t in sorted(q.heap)] for q in simulator._queues]
    assert all(queues), "the services are spread over every worker"
    for key in {k for q in queues for k in q}:
        assert sum(1 for q in queues if key in q) == 1, key
    mine = sorted(t for q in simulator._queues for t in q.heap if _task_key(t.args) == ("ns1", "s3"))
    assert [t.seq for t in mine] == sorted(t.seq for t in mine) and len(mine) == 10
