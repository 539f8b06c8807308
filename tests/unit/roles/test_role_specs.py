"""Each role's meta/argument_specs.yml and defaults/main.yml say the same thing."""

from __future__ import annotations

import pathlib

import pytest
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[3] / "roles"


def _role_names() -> list[str]:
    return sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())


@pytest.mark.parametrize("role", _role_names())
def test_argument_specs_equal_defaults(role: str) -> None:
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    options = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    with_default = {name: spec["default"] for name, spec in options.items() if "default" in spec}
    required = {name for name, spec in options.items() if spec.get("required")}
    assert defaults == with_default
    assert not required & set(defaults), "a required variable must not have a default"
    assert set(options) == set(defaults) | required, "every option has a default or is required"
    assert all(name.startswith(role + "_") for name in options), "role variables are prefixed with the role's name"


@pytest.mark.parametrize("role", _role_names())
def test_types_of_defaults_match_the_spec(role: str) -> None:
    options = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    # raw: a choice that also takes booleans (isvc_inherit_runtime_container), checked by the renderer
    python_types = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict, "list": list,
                    "raw": (str, bool)}
    for name, spec in options.items():
        if "default" in spec:
            assert isinstance(spec["default"], python_types[spec["type"]]), name
            if "choices" in spec:
                assert spec["default"] in spec["choices"], name


def test_the_pipeline_parameters_are_all_there() -> None:
    pipeline = ["INFERENCE_SERVICE_NAME", "INFERENCE_SERVICE_DESCRIPTION", "UPDATE_IF_EXISTS", "MODEL_REPO", "MODEL_REPO_BRANCH",
                "MODEL_REPO_TAG", "RUNTIME_NAME", "RUNTIME_CLASS", "EPHIMERAL_STORAGE_SIZE", "PVC_NAME", "MIN_REPLICAS",
                "MAX_REPLICAS", "CPU_REQUEST", "MEMORY_REQUEST", "CPU_LIMIT", "MEMORY_LIMIT", "NVIDIA_GPUALLOC",
                "NVIDIA_GPUCORES", "NVIDIA_GPUMEM", "NVIDIA_GPU"]
    renamed = {"INFERENCE_SERVICE_NAME": "isvc_name", "INFERENCE_SERVICE_DESCRIPTION": "isvc_description",
               "EPHIMERAL_STORAGE_SIZE": "isvc_ephemeral_storage_size"}
    options = yaml.safe_load((ROLES / "isvc" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = {"UPDATE_IF_EXISTS": True, "EPHIMERAL_STORAGE_SIZE": "10Gi", "MIN_REPLICAS": 1, "MAX_REPLICAS": 1,
                "CPU_REQUEST": "1", "MEMORY_REQUEST": "4Gi", "CPU_LIMIT": "4", "MEMORY_LIMIT": "16Gi", "NVIDIA_GPUALLOC": "1",
                "NVIDIA_GPUCORES": "50", "NVIDIA_GPUMEM": "4096", "NVIDIA_GPU": ""}
    for parameter in pipeline:
        name = renamed.get(parameter, "isvc_" + parameter.lower())
        assert name in options, parameter
        if parameter in defaults:
            assert options[name]["default"] == defaults[parameter], parameter
