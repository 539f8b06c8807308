# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The inference_service module run in-process: argument parsing, exit_json and fail_json."""

from __future__ import annotations

import copy
import pathlib
from typing import Any, Dict

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aml.kserve.plugins.modules import inference_service

GOLDEN_DIR = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "golden"


class AnsibleExitJson(Exception):
    def __init__(self, result: Dict[str, Any]) -> None:
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    def __init__(self, result: Dict[str, Any]) -> None:
        super().__init__(result)
        self.result = result


def _exit_json(self: Any, **kwargs: Any) -> None:
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def _fail_json(self: Any, **kwargs: Any) -> None:
    kwargs["failed"] = True
    raise AnsibleFailJson(kwargs)


@pytest.fixture(autouse=True)
def patch_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)


def run(args: Dict[str, Any]) -> Dict[str, Any]:
    with patch_module_args(copy.deepcopy(args)):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as info:
            inference_service.main()
    return info.value.result


def golden(name: str) -> Dict[str, Any]:
    return yaml.safe_load((GOLDEN_DIR / name).read_text(encoding="utf-8"))


MODEL = {
    "repo": "qwen2-7b-instruct",
    "project_id": 42,
    "group": "amlmodels",
    "subgroup": "",
    "branch": "",
    "tag": "v1.0",
    "revision": "v1.0",
    "pipeline_tag": "text-generation",
    "library_name": "transformers",
}
RUNTIME = {
    "name": "aml-vllm-0.9.2",
    "runtime_class": "vllm",
    "container": {"name": "kserve-container", "image": "vllm:0.9.2", "args": ["--port=8080"]},
}
ARGS = {"name": "qwen2-chat", "namespace": "team-a", "model": MODEL, "runtime": RUNTIME}


def test_success_returns_the_golden_resource() -> None:
    case = golden("01_branch_rawdeployment_defaults.yaml")
    result = run(case["params"])
    assert "failed" not in result, result.get("msg")
    assert result["changed"] is False
    assert result["resource"] == case["expected"]
    assert result["deployment_mode"] == "RawDeployment"
    assert result["in_cluster_endpoint"] == "http://qwen2-chat-predictor.team-a.svc.cluster.local"


def test_success_serverless_with_string_replicas_converted() -> None:
    result = run(dict(ARGS, min_replicas="0", max_replicas="3"))
    assert "failed" not in result, result.get("msg")
    assert result["changed"] is False
    assert result["deployment_mode"] == "Serverless"
    predictor = result["resource"]["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 3)
    assert result["resource"]["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert predictor["model"]["storageUri"] == "hf://team-a/qwen2-7b-instruct:v1.0"
    assert result["in_cluster_endpoint"] == "http://qwen2-chat-predictor.team-a.svc.cluster.local"


def test_check_mode_renders_the_same() -> None:
    normal = run(ARGS)
    checked = run(dict(ARGS, _ansible_check_mode=True))
    assert "failed" not in checked, checked.get("msg")
    assert checked["resource"] == normal["resource"]
    assert checked["changed"] is False


def test_bad_input_fails_listing_every_problem() -> None:
    result = run(dict(ARGS, name="Qwen2_Chat", cpu_request="8", cpu_limit="2", nvidia_gpucores="150",
                      progress_deadline="40 minutes"))
    assert result["failed"] is True
    assert "resource" not in result
    msg = result["msg"]
    assert msg.startswith("Invalid inference_service options (4 problems):")
    for text in ("name='Qwen2_Chat'", "cpu_request='8' is more than cpu_limit='2'", "nvidia_gpucores='150' must be between 1 and 100",
                 "progress_deadline='40 minutes' is not a duration"):
        assert text in msg
    assert len(result["problems"]) == 4
    assert all("- " + p in msg for p in result["problems"])


def test_alias_ephimeral_storage_size() -> None:
    result = run(dict(ARGS, ephimeral_storage_size="30Gi"))
    assert "failed" not in result, result.get("msg")
    assert result["resource"]["spec"]["predictor"]["model"]["resources"]["limits"]["ephemeral-storage"] == "30Gi"


def test_alias_ignored_when_pvc_given() -> None:
    result = run(dict(ARGS, ephimeral_storage_size="30Gi", pvc_name="models"))
    assert "failed" not in result, result.get("msg")
    assert "ephemeral-storage" not in result["resource"]["spec"]["predictor"]["model"]["resources"]["limits"]
    assert result["resource"]["metadata"]["annotations"]["storage-initializer-pvc-name"] == "models"


def test_choices_are_enforced_by_ansible() -> None:
    result = run(dict(ARGS, deployment_mode="Raw"))
    assert result["failed"] is True
    assert "deployment_mode" in result["msg"] and "one of" in result["msg"]


def test_required_options_are_enforced_by_ansible() -> None:
    result = run({"name": "qwen2-chat", "namespace": "team-a", "runtime": RUNTIME})
    assert result["failed"] is True
    assert "missing required arguments: model" in result["msg"]


@pytest.mark.parametrize("value, args, repeated", [
    ("all", ["--port=8080"], ["--port"]), ("command_env", None, []), ("none", None, []),
    ("yes", ["--port=8080"], ["--port"]), ("false", None, []), (True, ["--port=8080"], ["--port"]),
])
def test_inherit_runtime_container_accepts_choices_and_booleans(value: Any, args: Any, repeated: list) -> None:
    result = run(dict(ARGS, inherit_runtime_container=value))
    assert "failed" not in result, result.get("msg")
    assert result["resource"]["spec"]["predictor"]["model"].get("args") == args
    assert result["repeated_args"] == repeated
    assert bool(result.get("warnings")) is bool(repeated)


def test_inherit_runtime_container_bad_value_names_the_option() -> None:
    result = run(dict(ARGS, inherit_runtime_container="sometimes"))
    assert result["failed"] is True
    assert "inherit_runtime_container='sometimes' is not one of all, command_env, none" in result["msg"]
