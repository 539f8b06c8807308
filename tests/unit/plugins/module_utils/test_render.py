# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the InferenceService renderer (``_render``) and the Kubernetes syntax helpers it uses.

The golden manifests in ``tests/unit/fixtures/golden`` were written by reading the
``deploy-inference-service`` pipeline's bash script (its parameter handling and the final heredoc), not by
printing the renderer's output. The "renderer bugs" tests pin bugs these tables found, now fixed.
"""

from __future__ import annotations

import copy
import pathlib
from decimal import Decimal
from typing import Any, Callable, Dict, List, Union

import pytest
import yaml

from ansible_collections.aml.kserve.plugins.module_utils import _kube_names as names
from ansible_collections.aml.kserve.plugins.module_utils import _render
from ansible_collections.aml.kserve.plugins.module_utils._errors import ValidationError
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC

GOLDEN_DIR = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "golden"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.yaml"))

DEFAULTS: Dict[str, Any] = {k: v.get("default") for k, v in SPEC.argument_spec.items()}
REQUIRED = ("name", "namespace", "model", "runtime")

SHA = "9f1c2ab4e5d60718293a4b5c6d7e8f9012345678"
BASE_MODEL: Dict[str, Any] = {
    "repo": "qwen2-7b-instruct",
    "project_id": 42,
    "group": "amlmodels",
    "subgroup": "",
    "branch": "dev",
    "tag": "",
    "revision": SHA,
    "pipeline_tag": "text-generation",
    "library_name": "transformers",
}
BASE_RUNTIME: Dict[str, Any] = {
    "name": "aml-vllm-0.9.2",
    "runtime_class": "vllm",
    "container": {
        "name": "kserve-container",
        "image": "registry.example.com/aml/vllm:0.9.2",
        "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        "args": ["--port=8080", "--model=/mnt/models"],
        "env": [
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
    },
}


def with_defaults(params: Dict[str, Any]) -> Dict[str, Any]:
    return copy.deepcopy(DEFAULTS) | copy.deepcopy(params)


def base_params(**overrides: Any) -> Dict[str, Any]:
    params = with_defaults({"name": "qwen2-chat", "namespace": "team-a", "model": BASE_MODEL, "runtime": BASE_RUNTIME})
    params.update(copy.deepcopy(overrides))
    return params


def model(**changes: Any) -> Dict[str, Any]:
    return dict(copy.deepcopy(BASE_MODEL), **changes)


def model_without(*keys: str) -> Dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(BASE_MODEL).items() if k not in keys}


def runtime(**changes: Any) -> Dict[str, Any]:
    return dict(copy.deepcopy(BASE_RUNTIME), **changes)


def runtime_without(*keys: str) -> Dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(BASE_RUNTIME).items() if k not in keys}


def problems_of(params: Dict[str, Any]) -> List[str]:
    with pytest.raises(ValidationError) as info:
        _render.validate(params)
    assert info.value.problems, "a ValidationError must carry at least one problem"
    return info.value.problems


def assert_reported(problems: List[str], needles: List[str]) -> None:
    """One problem mentions every needle (the option and the key reason text)."""
    assert any(all(n in p for n in needles) for p in problems), "no problem contains all of {0!r} in {1!r}".format(
        needles, problems)


# --------------------------------------------------------------------------------------------- goldens


def _load(path: pathlib.Path) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_golden(path: pathlib.Path) -> None:
    case = _load(path)
    resource = _render.render(with_defaults(case["params"]))
    assert resource == case["expected"]


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_golden_file_shape(path: pathlib.Path) -> None:
    """Each golden says which pipeline branch it covers and lists only non-default options."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Pipeline branch:"), "first line must say which pipeline branch the case covers"
    case = yaml.safe_load(text)
    assert set(case) == {"params", "expected"}
    params = case["params"]
    assert set(REQUIRED) <= set(params)
    for key, value in params.items():
        assert key in SPEC.argument_spec, "unknown option {0!r}".format(key)
        if key not in REQUIRED:
            assert value != DEFAULTS[key], "{0}: {1!r} is the default; leave it out".format(key, value)


def test_golden_matrix_covers_every_pipeline_branch() -> None:
    """Guards the matrix itself: deleting a golden that is the only one for a pipeline branch fails here."""
    cases = [_load(p) for p in GOLDEN_FILES]
    assert len(cases) >= 14

    def count(pred: Callable[[Dict[str, Any], Dict[str, Any]], bool]) -> int:
        return sum(1 for c in cases if pred(c["params"], c["expected"]))

    def limits(e: Dict[str, Any]) -> Dict[str, Any]:
        return e["spec"]["predictor"]["model"].get("resources", {}).get("limits", {})

    def requests(e: Dict[str, Any]) -> Union[Dict[str, Any], None]:
        return e["spec"]["predictor"]["model"].get("resources", {}).get("requests")

    def annotations(e: Dict[str, Any]) -> Dict[str, Any]:
        return e["metadata"]["annotations"]

    def opt(p: Dict[str, Any], key: str) -> Any:
        return p.get(key, DEFAULTS[key])

    checks = {
        "branch": lambda p, e: p["model"]["tag"] == "" and p["model"]["branch"] not in ("", "main", "master"),
        "tag": lambda p, e: p["model"]["tag"] != "" and p["model"]["branch"] == "" and p["model"]["revision"] == p["model"]["tag"],
        "default branch": lambda p, e: p["model"]["branch"] in ("main", "master") and p["model"]["tag"] == "",
        "RawDeployment": lambda p, e: annotations(e)["serving.kserve.io/deploymentMode"] == "RawDeployment",
        "Serverless": lambda p, e: annotations(e)["serving.kserve.io/deploymentMode"] == "Serverless",
        "Serverless from 0": lambda p, e: opt(p, "min_replicas") == 0 and opt(p, "max_replicas") > 0,
        "HAMi defaults": lambda p, e: all(k not in p for k in _render.HAMI_OPTIONS) and "nvidia.com/gpualloc" in limits(e),
        "NVIDIA plugin": lambda p, e: "nvidia.com/gpu" in limits(e) and not any(k.startswith("nvidia.com/gpu") and k != "nvidia.com/gpu" for k in limits(e)),
        "no GPU": lambda p, e: not any(k.startswith("nvidia.com/") for k in limits(e)),
        "PVC": lambda p, e: opt(p, "pvc_name") != "" and "ephemeral-storage" not in limits(e),
        "ephemeral size": lambda p, e: opt(p, "ephemeral_storage_size") not in ("", "10Gi") and not opt(p, "pvc_name"),
        "storage both empty": lambda p, e: opt(p, "ephemeral_storage_size") == "" and limits(e).get("ephemeral-storage") == "10Gi",
        "cpu_request empty": lambda p, e: opt(p, "cpu_request") == "" and opt(p, "memory_request") != "",
        "memory_request empty": lambda p, e: opt(p, "memory_request") == "" and opt(p, "cpu_request") != "",
        "cpu_limit empty": lambda p, e: opt(p, "cpu_limit") == "" and "cpu" not in limits(e),
        "memory_limit empty": lambda p, e: opt(p, "memory_limit") == "" and "memory" not in limits(e),
        "no requests": lambda p, e: requests(e) is None and "resources" in e["spec"]["predictor"]["model"],
        "runtime command+args+env": lambda p, e: all(k in e["spec"]["predictor"]["model"] for k in ("command", "args", "env")),
        "runtime none of them": lambda p, e: not any(k in e["spec"]["predictor"]["model"] for k in ("command", "args", "env")),
        "nested subgroup": lambda p, e: "/" in p["model"]["subgroup"] and annotations(e).get("aml-model-subgroup") == p["model"]["subgroup"],
        "one-level subgroup": lambda p, e: p["model"]["subgroup"] and "/" not in p["model"]["subgroup"],
    }
    missing = [name for name, pred in checks.items() if count(pred) == 0]
    assert not missing, "no golden covers: {0}".format(", ".join(missing))


# ------------------------------------------------------------------------------------- valid inputs


def test_base_params_are_valid() -> None:
    assert _render.validate(base_params()) is None


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"name": "a" * 53, "model": model(group="ml")}, id="name-53-chars"),
        pytest.param({"name": "q"}, id="name-1-char"),
        pytest.param({"namespace": "n" * 63}, id="namespace-63-chars"),
        pytest.param({"namespace": "1team"}, id="namespace-leading-digit-is-dns1123"),
        pytest.param({"min_replicas": 0, "max_replicas": 1}, id="min-0-max-1"),
        pytest.param({"nvidia_gpucores": "1"}, id="gpucores-1"),
        pytest.param({"nvidia_gpucores": "100"}, id="gpucores-100"),
        pytest.param({"cpu_request": "4", "cpu_limit": "4000m"}, id="cpu-request-equals-limit-other-unit"),
        pytest.param({"memory_request": "4096Mi", "memory_limit": "4Gi"}, id="memory-request-equals-limit"),
        pytest.param({"memory_request": "17G", "memory_limit": "16Gi"}, id="17G-below-16Gi"),
        pytest.param({"cpu_request": "2", "cpu_limit": ""}, id="request-without-limit"),
        pytest.param({"cpu_limit": "1e3"}, id="exponent-quantity"),
        pytest.param({"description": "x" * 2048}, id="description-2048-chars"),
        pytest.param({"description": "a\tb\r\nc\n"}, id="description-tab-cr-lf"),
        pytest.param({"pvc_name": "models.cache-1"}, id="pvc-dns1123-subdomain"),
        pytest.param({"progress_deadline": "1h30m"}, id="progress-deadline-compound"),
        pytest.param({"labels": {"example.com/team": "nlp_v2.a"}}, id="prefixed-label"),
        pytest.param({"annotations": {"example.com/owner": "alice"}}, id="extra-annotation"),
        pytest.param({"model": model(subgroup="a/" + "b" * 80)}, id="long-nested-subgroup-encoded"),
    ],
)
def test_valid_boundaries(overrides: Dict[str, Any]) -> None:
    params = base_params(**overrides)
    assert _render.validate(params) is None
    assert _render.render(params)["metadata"]["name"] == params["name"]


# ----------------------------------------------------------------------------------- invalid inputs

INVALID: List[Any] = [
    # name
    pytest.param({"name": "Qwen2-chat"}, ["name='Qwen2-chat'", "lower case letters"], 1, id="name-uppercase"),
    pytest.param({"name": "qwen2.chat"}, ["name='qwen2.chat'", "lower case letters, digits and '-'"], 1, id="name-dot"),
    pytest.param({"name": "qwen2_chat"}, ["name='qwen2_chat'", "lower case letters, digits and '-'"], 1, id="name-underscore"),
    pytest.param({"name": "2qwen"}, ["name='2qwen'", "start with a letter"], 1, id="name-leading-digit"),
    pytest.param({"name": "qwen-"}, ["name='qwen-'", "end with a letter or digit"], 1, id="name-trailing-hyphen"),
    pytest.param({"name": "a" * 54, "model": model(group="ml")}, ["name='" + "a" * 54 + "'", "at most 53"], 1,
                 id="name-54-chars"),
    pytest.param({"name": "a" * 54}, ["name=", "at most 53"], 2, id="name-54-chars-and-subdomain"),
    pytest.param({"name": ""}, ["name=''", "must not be empty"], 2, id="name-empty"),
    # namespace
    pytest.param({"namespace": "Team-A"}, ["namespace='Team-A'", "lower case letters"], 1, id="namespace-uppercase"),
    pytest.param({"namespace": "team.a"}, ["namespace='team.a'", "lower case letters, digits and '-'"], 1, id="namespace-dot"),
    pytest.param({"namespace": "team_a"}, ["namespace='team_a'", "lower case letters"], 1, id="namespace-underscore"),
    pytest.param({"namespace": "n" * 64}, ["namespace=", "at most 63 characters (it has 64)"], 1, id="namespace-64-chars"),
    pytest.param({"namespace": ""}, ["namespace=''", "must not be empty"], 1, id="namespace-empty"),
    # replicas
    pytest.param({"min_replicas": -1}, ["min_replicas=-1", "must be 0 or more"], 1, id="min-negative"),
    pytest.param({"min_replicas": 0, "max_replicas": 0}, ["max_replicas=0", "must be 1 or more"], 1, id="max-zero"),
    pytest.param({"min_replicas": 3, "max_replicas": 2}, ["max_replicas=2 is less than min_replicas=3"], 1, id="max-below-min"),
    pytest.param({"min_replicas": "2"}, ["min_replicas='2'", "must be a whole number"], 1, id="min-string"),
    pytest.param({"max_replicas": 1.5}, ["max_replicas=1.5", "must be a whole number"], 1, id="max-float"),
    pytest.param({"max_replicas": None}, ["max_replicas=None", "must be a whole number"], 1, id="max-none"),
    pytest.param({"min_replicas": True}, ["min_replicas=True", "must be a whole number"], 1, id="min-bool"),
]
for _option in ("cpu_request", "memory_request", "cpu_limit", "memory_limit"):
    for _bad in ("4 GB", "-1", "abc", "1.5.3"):
        INVALID.append(pytest.param({_option: _bad}, ["{0}={1!r}".format(_option, _bad), "is not a Kubernetes quantity"], 1,
                                    id="{0}-{1}".format(_option, _bad.replace(" ", "_"))))
INVALID += [
    pytest.param({"ephemeral_storage_size": "10 GB"}, ["ephemeral_storage_size='10 GB'", "is not a Kubernetes quantity"], 1,
                 id="ephemeral-malformed"),
    # request > limit
    pytest.param({"cpu_request": "2", "cpu_limit": "500m"},
                 ["cpu_request='2' is more than cpu_limit='500m'", "must not exceed its limit"], 1, id="cpu-request-over-limit"),
    pytest.param({"memory_request": "8Gi", "memory_limit": "4096Mi"},
                 ["memory_request='8Gi' is more than memory_limit='4096Mi'", "must not exceed its limit"], 1,
                 id="memory-request-over-limit"),
    pytest.param({"memory_request": "18G", "memory_limit": "16Gi"}, ["memory_request='18G' is more than memory_limit='16Gi'"], 1,
                 id="memory-request-over-limit-decimal-vs-binary"),
    # GPUs
    pytest.param({"nvidia_gpucores": "0"}, ["nvidia_gpucores='0'", "must be between 1 and 100"], 1, id="gpucores-0"),
    pytest.param({"nvidia_gpucores": "101"}, ["nvidia_gpucores='101'", "must be between 1 and 100"], 1, id="gpucores-101"),
    pytest.param({"nvidia_gpucores": "5.5"}, ["nvidia_gpucores='5.5'", "must be a whole number"], 1, id="gpucores-5.5"),
    pytest.param({"nvidia_gpumem": "-1"}, ["nvidia_gpumem='-1'", "must be a whole number"], 1, id="gpumem-negative"),
    pytest.param({"nvidia_gpualloc": "x"}, ["nvidia_gpualloc='x'", "must be a whole number"], 1, id="gpualloc-x"),
    pytest.param({"nvidia_gpualloc": "0"}, ["nvidia_gpualloc='0'", "must be at least 1"], 1, id="gpualloc-0"),
    pytest.param({"nvidia_gpu": "0", "nvidia_gpualloc": "", "nvidia_gpucores": "", "nvidia_gpumem": ""},
                 ["nvidia_gpu='0'", "must be at least 1"], 1, id="nvidia-gpu-0"),
    pytest.param({"nvidia_gpu": "2"},
                 ["nvidia_gpu", "cannot be combined with HAMi options", "nvidia_gpualloc='1'", "nvidia_gpucores='50'",
                  "nvidia_gpumem='4096'"], 1, id="nvidia-gpu-with-hami-defaults"),
    pytest.param({"nvidia_gpu": "2", "nvidia_gpualloc": "", "nvidia_gpucores": ""},
                 ["nvidia_gpu", "cannot be combined with HAMi options", "nvidia_gpumem='4096'"], 1, id="nvidia-gpu-with-gpumem"),
    # storage, deadline, choices
    pytest.param({"pvc_name": "My_PVC"}, ["pvc_name='My_PVC'", "lower case letters, digits, '-' and '.'"], 1, id="pvc-invalid"),
    pytest.param({"progress_deadline": "40 minutes"}, ["progress_deadline='40 minutes'", "is not a duration"], 1,
                 id="progress-deadline-words"),
    pytest.param({"progress_deadline": "2400"}, ["progress_deadline='2400'", "is not a duration"], 1, id="progress-deadline-no-unit"),
    pytest.param({"progress_deadline": ""}, ["progress_deadline=''", "is not a duration"], 1, id="progress-deadline-empty"),
    pytest.param({"deployment_mode": "Raw"},
                 ["deployment_mode='Raw'", "is not one of auto, RawDeployment, Standard, Serverless, Knative"], 1,
                 id="deployment-mode-invalid"),
    pytest.param({"protocol_version": "v3"}, ["protocol_version='v3'", "is not one of v1, v2, grpc-v1, grpc-v2"], 1,
                 id="protocol-version-invalid"),
    # model
    pytest.param({"model": model_without("library_name")}, ["model lacks library_name", "gitlab_model_ref"], 1,
                 id="model-missing-library-name"),
    pytest.param({"model": model_without("revision", "pipeline_tag")}, ["model lacks revision, pipeline_tag"], 1,
                 id="model-missing-two-keys"),
    pytest.param({"model": model(branch=None)}, ["model lacks branch"], 1, id="model-key-none"),
    pytest.param({"model": "qwen2-7b-instruct"}, ["model must be a dict", "gitlab_model_ref"], 1, id="model-not-a-dict"),
    pytest.param({"model": ["qwen2-7b-instruct"]}, ["model must be a dict"], 1, id="model-list"),
    pytest.param({"model": None}, ["model lacks repo, project_id, group, subgroup, branch, revision, pipeline_tag, library_name"],
                 1, id="model-none"),
    # runtime
    pytest.param({"runtime": runtime_without("name")}, ["runtime lacks name", "serving_runtime_info"], 1, id="runtime-missing-name"),
    pytest.param({"runtime": runtime_without("name", "runtime_class")}, ["runtime lacks name, runtime_class"], 1,
                 id="runtime-missing-name-and-class"),
    pytest.param({"runtime": runtime(container=["kserve-container"])}, ["runtime.container must be a dict"], 1,
                 id="runtime-container-not-dict"),
    pytest.param({"runtime": "aml-vllm-0.9.2"}, ["runtime must be a dict", "serving_runtime_info"], 1, id="runtime-not-a-dict"),
    # rendered label values
    pytest.param({"model": model(pipeline_tag="text generation")},
                 ["label aml-pipeline-tag='text generation'", "may hold only letters, digits"], 1, id="pipeline-tag-spaces"),
    pytest.param({"model": model(repo="Qwen2 7B")},
                 ["label aml-model-repo='Qwen2 7B'", "may hold only letters, digits", "rename the GitLab project"], 1,
                 id="repo-spaces"),
    pytest.param({"model": model(group="g" * 56)},
                 ["label service.subdomain='qwen2-chat-" + "g" * 56 + "'", "at most 63 characters (it has 67)", "shorten name"], 1,
                 id="group-makes-subdomain-too-long"),
    pytest.param({"model": model(group="g" * 64)}, ["label aml-model-group=", "at most 63 characters (it has 64)"], 2,
                 id="group-too-long"),
    pytest.param({"runtime": runtime(runtime_class="vllm gpu")}, ["label aml.cpaas.io/runtime-type='vllm gpu'"], 1,
                 id="runtime-class-spaces"),
    pytest.param({"model": model(subgroup="_private")}, ["label aml-model-subgroup='_private'", "must start and end"], 1,
                 id="subgroup-leading-underscore"),
    # extra labels / annotations
    pytest.param({"labels": {"bad key": "x"}}, ["labels key='bad key'", "name part 'bad key'"], 1, id="labels-key-space"),
    pytest.param({"labels": {"Example.COM/team": "x"}}, ["labels key='Example.COM/team'", "prefix 'Example.COM'"], 1,
                 id="labels-key-bad-prefix"),
    pytest.param({"labels": {"team": "a b"}}, ["labels['team']='a b'", "may hold only letters"], 1, id="labels-value-space"),
    pytest.param({"labels": {"team": "x" * 64}}, ["labels['team']=", "at most 63 characters"], 1, id="labels-value-too-long"),
    pytest.param({"labels": {"aml-model-repo": "other"}}, ["labels key='aml-model-repo'", "cannot be overridden"], 1,
                 id="labels-override-repo"),
    pytest.param({"labels": {"service.subdomain": "x"}}, ["labels key='service.subdomain'", "cannot be overridden"], 1,
                 id="labels-override-subdomain"),
    pytest.param({"annotations": {"cpaas.io/description": "x"}}, ["annotations key='cpaas.io/description'", "cannot be overridden"],
                 1, id="annotations-override-description"),
    pytest.param({"annotations": {"serving.kserve.io/deploymentMode": "Serverless"}},
                 ["annotations key='serving.kserve.io/deploymentMode'", "cannot be overridden"], 1, id="annotations-override-mode"),
    pytest.param({"annotations": {"aml-model-subgroup": "a/b"}}, ["annotations key='aml-model-subgroup'", "cannot be overridden"], 1,
                 id="annotations-override-subgroup"),
    pytest.param({"annotations": {"example.com/replicas": 3}}, ["annotations['example.com/replicas']=3", "must be a string"], 1,
                 id="annotations-value-not-string"),
    pytest.param({"annotations": {"-bad": "x"}}, ["annotations key='-bad'", "name part '-bad'"], 1, id="annotations-bad-key"),
    # storage_uri
    pytest.param({"storage_uri": "models/qwen"}, ["storage_uri='models/qwen' has no scheme", "hf://"], 1, id="storage-uri-no-scheme"),
    pytest.param({"storage_uri": "s3://bucket/a b"}, ["storage_uri='s3://bucket/a b'", "whitespace"], 1, id="storage-uri-space"),
    # description
    pytest.param({"description": "x" * 2049}, ["description=", "is 2049 characters long; at most 2048 are allowed"], 1,
                 id="description-too-long"),
    pytest.param({"description": "a\x00b"}, ["description contains control characters"], 1, id="description-nul"),
    pytest.param({"description": "\x1b[31mred"}, ["description contains control characters"], 1, id="description-escape"),
    pytest.param({"description": "del\x7f"}, ["description contains control characters"], 1, id="description-del"),
]


@pytest.mark.parametrize("overrides, needles, count", INVALID)
def test_invalid(overrides: Dict[str, Any], needles: List[str], count: int) -> None:
    problems = problems_of(base_params(**overrides))
    assert_reported(problems, needles)
    assert len(problems) == count, problems


def test_invalid_case_count() -> None:
    assert len(INVALID) >= 40


def test_render_refuses_what_validate_refuses() -> None:
    with pytest.raises(ValidationError) as info:
        _render.render(base_params(cpu_limit="abc"))
    assert info.value.problems == ["cpu_limit='abc' is not a Kubernetes quantity (examples: 500m, 2, 4Gi, 10G); "
                                   "leave it empty to not set it"]


def test_every_problem_reported_at_once() -> None:
    params = base_params(
        name="Bad_Name",
        namespace="",
        min_replicas=-1,
        cpu_limit="abc",
        protocol_version="v9",
        description="nul\x00",
        labels={"aml-model-repo": "x"},
    )
    with pytest.raises(ValidationError) as info:
        _render.validate(params)
    problems = info.value.problems
    assert len(problems) == 7, problems
    for needles in (["name='Bad_Name'"], ["namespace=''"], ["min_replicas=-1"], ["cpu_limit='abc'"],
                    ["protocol_version='v9'"], ["description contains control characters"],
                    ["labels key='aml-model-repo'", "cannot be overridden"]):
        assert_reported(problems, needles)
    message = info.value.msg
    assert message.startswith("Invalid inference_service options (7 problems):")
    assert all("- " + p in message for p in problems)


# ------------------------------------------------- renderer bugs found by these tests (fixed; keep them)


@pytest.mark.parametrize("key", ["repo", "project_id", "group", "revision", "pipeline_tag", "library_name"])
def test_empty_model_value_is_refused(key: str) -> None:
    problems = problems_of(base_params(model=model(**{key: ""})))
    assert_reported(problems, ["model", key])


def test_empty_runtime_name_is_refused() -> None:
    assert_reported(problems_of(base_params(runtime=runtime(name=""))), ["runtime", "name"])


def test_huge_exponent_quantity_is_a_problem_not_a_crash() -> None:
    assert_reported(problems_of(base_params(cpu_limit="1e1000000")), ["cpu_limit="])


@pytest.mark.parametrize("container", [{"args": "--port=8080"}, {"command": "python3"}, {"env": {"HF_HUB_OFFLINE": "1"}}],
                         ids=["args-string", "command-string", "env-dict"])
def test_runtime_container_fields_must_be_lists(container: Dict[str, Any]) -> None:
    assert_reported(problems_of(base_params(runtime=runtime(container=container))), ["runtime.container"])


@pytest.mark.parametrize("option", ["labels", "annotations"])
def test_labels_annotations_not_a_dict(option: str) -> None:
    assert_reported(problems_of(base_params(**{option: ["team=nlp"]})), [option])


def test_none_label_value_is_refused() -> None:
    assert_reported(problems_of(base_params(labels={"team": None})), ["labels['team']=None"])


def test_name_64_chars_message() -> None:
    assert_reported(problems_of(base_params(name="a" * 64, model=model(group="g"))), ["name=", "at most 53"])


# ---------------------------------------------------------------------------------- descriptions

DESCRIPTIONS = [
    pytest.param("line one\nline two\n\nline four", id="newlines"),
    pytest.param("trailing newline\n", id="trailing-newline"),
    pytest.param("\nleading newline", id="leading-newline"),
    pytest.param("  indented  ", id="surrounding-spaces"),
    pytest.param("quotes: \"double\" and 'single'", id="quotes"),
    pytest.param("key: value\nother: {flow: map}\n- item", id="colon-space"),
    pytest.param("{{ lookup('pipe','id') }}", id="jinja-lookup"),
    pytest.param("---\nkind: Secret\n...", id="document-markers"),
    pytest.param("...", id="document-end-only"),
    pytest.param("---", id="document-start-only"),
    pytest.param("# not a comment\nvalue # trailing", id="hash-comments"),
    pytest.param("模型描述：通义千问 2 对话服务，支持中文。\n第二行", id="chinese"),
    pytest.param("emoji 🚀 and é", id="emoji"),
    pytest.param("tab\tseparated\r\nwindows line", id="tab-crlf"),
    pytest.param("null", id="yaml-null-word"),
    pytest.param("true", id="yaml-bool-word"),
    pytest.param("0x1F", id="yaml-hex-number"),
    pytest.param("~", id="yaml-tilde"),
    pytest.param("&anchor *alias !!python/object/apply:os.system ['id']", id="yaml-tags"),
    pytest.param("|-\n  looks like a block", id="block-indicator"),
    pytest.param("${INFERENCE_SERVICE_NAME} $(params.X) `id`", id="shell-expansions"),
    pytest.param("EOF\nEOF", id="heredoc-terminator"),
    pytest.param("x" * 2048, id="max-length"),
]


@pytest.mark.parametrize("text", DESCRIPTIONS)
def test_description_lands_verbatim_and_touches_nothing_else(text: str) -> None:
    plain = _render.render(base_params(description=""))
    resource = _render.render(base_params(description=text))
    assert resource["metadata"]["annotations"]["cpaas.io/description"] == text
    assert plain["metadata"]["annotations"]["cpaas.io/description"] == ""
    del resource["metadata"]["annotations"]["cpaas.io/description"]
    del plain["metadata"]["annotations"]["cpaas.io/description"]
    assert resource == plain


@pytest.mark.parametrize("text", DESCRIPTIONS)
def test_description_survives_yaml_round_trip(text: str) -> None:
    resource = _render.render(base_params(description=text))
    for dumped in (yaml.safe_dump(resource), yaml.safe_dump(resource, allow_unicode=True, default_flow_style=False, sort_keys=False)):
        assert yaml.safe_load(dumped) == resource
    assert yaml.safe_load(yaml.safe_dump(resource))["metadata"]["annotations"]["cpaas.io/description"] == text


# ---------------------------------------------------------------------------- label encoding


@pytest.mark.parametrize(
    "path, expected",
    [
        ("a/b", "a.b"),
        ("a/b/c", "a.b.c"),
        ("team-a/nlp_v2/chat", "team-a.nlp_v2.chat"),
        ("nlp", "nlp"),
        ("", ""),
        ("x" * 63, "x" * 63),
        ("a/" + "b" * 61, "a." + "b" * 61),
    ],
)
def test_encode_label_path(path: str, expected: str) -> None:
    assert _render.encode_label_path(path) == expected


LONG_A = "platform/" + "/".join("segment{0:02d}".format(i) for i in range(8)) + "/final-a"
LONG_B = LONG_A[:-1] + "b"


@pytest.mark.parametrize("path", [LONG_A, LONG_B, "x" * 64, "a/" + "b" * 62, "g" * 53 + "/" + "h" * 20, "a" * 300])
def test_encode_label_path_long_is_valid_label(path: str) -> None:
    value = _render.encode_label_path(path)
    assert len(path.replace("/", ".")) > 63
    assert len(value) <= 63
    assert names.check_label_value(value) is None
    assert value != path.replace("/", ".")
    assert value.startswith(path.replace("/", ".")[:20])
    assert _render.encode_label_path(path) == value  # deterministic


def test_encode_label_path_long_paths_stay_distinct() -> None:
    assert LONG_A[:-1] == LONG_B[:-1] and LONG_A != LONG_B
    a, b = _render.encode_label_path(LONG_A), _render.encode_label_path(LONG_B)
    assert a != b
    assert a[:54] == b[:54]


def test_encode_label_path_cut_on_separator_is_still_valid() -> None:
    # the 54-character cut lands right after a '/', which encodes to '.' and must not end the prefix
    path = "g" * 53 + "/" + "h" * 20
    value = _render.encode_label_path(path)
    assert value.startswith("g" * 53 + "-")
    assert names.check_label_value(value) is None


def test_long_nested_subgroup_rendered_as_label_and_annotation() -> None:
    subgroup = "/".join("segment{0:02d}".format(i) for i in range(8))
    resource = _render.render(base_params(model=model(group="platform", subgroup=subgroup)))
    label = resource["metadata"]["labels"]["aml-model-subgroup"]
    assert label == _render.encode_label_path(subgroup)
    assert len(label) <= 63 and names.check_label_value(label) is None
    assert resource["metadata"]["annotations"]["aml-model-subgroup"] == subgroup


def test_long_one_level_subgroup_keeps_raw_value_in_annotation() -> None:
    subgroup = "s" * 70
    resource = _render.render(base_params(model=model(subgroup=subgroup)))
    assert resource["metadata"]["annotations"]["aml-model-subgroup"] == subgroup
    assert len(resource["metadata"]["labels"]["aml-model-subgroup"]) <= 63


# --------------------------------------------------------------------------- deployment mode


@pytest.mark.parametrize(
    "mode, low, high, expected",
    [
        ("auto", 1, 1, "RawDeployment"),
        ("auto", 0, 0, "RawDeployment"),
        ("auto", 3, 3, "RawDeployment"),
        ("auto", 0, 3, "Serverless"),
        ("auto", 1, 2, "Serverless"),
        ("RawDeployment", 0, 3, "RawDeployment"),
        ("Serverless", 1, 1, "Serverless"),
        ("Standard", 1, 1, "Standard"),
        ("Standard", 0, 3, "Standard"),
        ("Knative", 0, 3, "Knative"),
        ("Knative", 2, 2, "Knative"),
    ],
)
def test_resolve_deployment_mode(mode: str, low: int, high: int, expected: str) -> None:
    assert _render.resolve_deployment_mode(mode, low, high) == expected


@pytest.mark.parametrize(
    "mode, low, high, expected",
    [("Standard", 1, 1, "Standard"), ("Knative", 0, 3, "Knative"), ("RawDeployment", 0, 3, "RawDeployment"),
     ("Serverless", 2, 2, "Serverless"), ("auto", 0, 3, "Serverless")],
)
def test_rendered_deployment_mode(mode: str, low: int, high: int, expected: str) -> None:
    resource = _render.render(base_params(deployment_mode=mode, min_replicas=low, max_replicas=high))
    assert resource["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == expected
    assert (resource["spec"]["predictor"]["minReplicas"], resource["spec"]["predictor"]["maxReplicas"]) == (low, high)


# ------------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(
    "text, expected",
    [
        ("500m", Decimal("0.5")),
        ("4Gi", Decimal(4 * 2 ** 30)),
        ("4096Mi", Decimal(4 * 2 ** 30)),
        ("1Ki", Decimal(1024)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        ("10G", Decimal(10 ** 10)),
        ("2E", Decimal(2 * 10 ** 18)),
        ("100M", Decimal(10 ** 8)),
        ("250k", Decimal(250000)),
        ("5u", Decimal("0.000005")),
        ("1", Decimal(1)),
        ("0", Decimal(0)),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("1.5Gi", Decimal(3 * 2 ** 29)),
    ],
)
def test_parse_quantity(text: str, expected: Decimal) -> None:
    value = names.parse_quantity(text)
    assert value == expected
    assert names.check_quantity(text) is None


@pytest.mark.parametrize("text", ["4 GB", "-1", "abc", "1.5.3", "", "1GB", "Gi", "1K", "1e", "1 ", " 1", "1Gi ", "0x10", "1m2"])
def test_parse_quantity_invalid(text: str) -> None:
    assert names.parse_quantity(text) is None
    assert names.check_quantity(text) == "is not a Kubernetes quantity (examples: 500m, 2, 4Gi, 10G)"


# ---------------------------------------------------------------- options beyond the pipeline


def test_defaults_match_the_pipeline() -> None:
    resource = _render.render(base_params())
    predictor = resource["spec"]["predictor"]
    assert predictor["hostIPC"] is True
    assert predictor["model"]["protocolVersion"] == "v2"
    assert resource["metadata"]["annotations"]["serving.knative.dev/progress-deadline"] == "2400s"
    assert predictor["model"]["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpualloc": "1", "nvidia.com/gpucores": "50",
                   "nvidia.com/gpumem": "4096", "ephemeral-storage": "10Gi"},
    }


def test_non_pipeline_options() -> None:
    resource = _render.render(base_params(progress_deadline="40m", protocol_version="grpc-v2", host_ipc=False,
                                          storage_uri="pvc://models/qwen2"))
    assert resource["metadata"]["annotations"]["serving.knative.dev/progress-deadline"] == "40m"
    assert resource["spec"]["predictor"]["hostIPC"] is False
    assert resource["spec"]["predictor"]["model"]["protocolVersion"] == "grpc-v2"
    assert resource["spec"]["predictor"]["model"]["storageUri"] == "pvc://models/qwen2"


RUNTIME_CONTAINER = BASE_RUNTIME["container"]


@pytest.mark.parametrize("value, copied", [
    ("all", ("command", "env", "args")),
    ("command_env", ("command", "env")),
    ("none", ()),
    # the booleans keep their meaning, also as the text -e and AWX surveys pass
    (True, ("command", "env", "args")),
    (False, ()),
    ("true", ("command", "env", "args")),
    ("no", ()),
    (" Command_Env ", ("command", "env")),
    (None, ("command", "env", "args")),  # unset: the default, the pipeline's
])
def test_inherit_runtime_container_copies(value: Any, copied: tuple) -> None:
    resource = _render.render(base_params(inherit_runtime_container=value))
    spec = resource["spec"]["predictor"]["model"]
    assert {f: spec[f] for f in ("command", "env", "args") if f in spec} == {f: RUNTIME_CONTAINER[f] for f in copied}
    assert spec["runtime"] == "aml-vllm-0.9.2"


def test_inherit_runtime_container_default_is_the_pipelines() -> None:
    assert DEFAULTS["inherit_runtime_container"] == "all"
    assert _render.render(base_params())["spec"]["predictor"]["model"]["args"] == RUNTIME_CONTAINER["args"]


@pytest.mark.parametrize("value", ["often", "args", "", 2, 0.5, ["all"], {"mode": "all"}])
def test_inherit_runtime_container_refuses_other_values(value: Any) -> None:
    with pytest.raises(ValidationError) as err:
        _render.render(base_params(inherit_runtime_container=value, cpu_request="x"))
    [problem] = [p for p in err.value.problems if p.startswith("inherit_runtime_container=")]
    assert problem.startswith("inherit_runtime_container={0!r} is not one of all, command_env, none; ".format(value))
    assert problem.endswith("true means all and false none")
    assert any(p.startswith("cpu_request='x'") for p in err.value.problems)  # reported with the others, at once


def test_inherit_runtime_container_none_ignores_a_malformed_container() -> None:
    assert _render.validate(base_params(inherit_runtime_container="none", runtime=runtime(container="garbage"))) is None
    result = _render.render_result(base_params(inherit_runtime_container="none", runtime=runtime(container="garbage")))
    assert result["repeated_args"] == [] and "args" not in result["resource"]["spec"]["predictor"]["model"]
    with pytest.raises(ValidationError, match="runtime.container must be a dict"):
        _render.validate(base_params(inherit_runtime_container="command_env", runtime=runtime(container="garbage")))


@pytest.mark.parametrize("runtime_args, rendered_args, repeated", [
    (["--port=8080", "--model=/mnt/models"], ["--port=8080", "--model=/mnt/models"], ["--port", "--model"]),
    # flags with their value apart; positional arguments (vLLM's `serve <model>`) are arguments too
    (["serve", "/mnt/models", "--port", "8080"], ["serve", "/mnt/models", "--port", "8080"],
     ["serve", "/mnt/models", "--port"]),
    # the same flag with another value is still passed twice
    (["--port=8080"], ["--port", "9090"], ["--port"]),
    # a value equal to a positional elsewhere is not an argument of its own
    (["--host", "main"], ["main"], []),
    (["--port=8080"], [], []),
    ([], ["--port=8080"], []),
    (["--a", "--b=1"], ["--c"], []),
    (None, None, []),
])
def test_repeated_args(runtime_args: Any, rendered_args: Any, repeated: List[str]) -> None:
    assert _render.repeated_args(runtime_args, rendered_args) == repeated


@pytest.mark.parametrize("value, repeated", [("all", ["--port", "--model"]), ("command_env", []), ("none", [])])
def test_render_result_warns_exactly_when_args_repeat(value: str, repeated: List[str]) -> None:
    result = _render.render_result(base_params(inherit_runtime_container=value))
    assert result["inherit_runtime_container"] == value
    assert result["repeated_args"] == repeated
    if repeated:
        assert result["warnings"] == [
            "the predictor container gets the runtime's args twice (--port, --model): KServe appends the "
            "InferenceService's args to the runtime's (MergeRuntimeContainers, in every release). Set "
            "inherit_runtime_container to command_env to pass them once."]
    else:
        assert "warnings" not in result


def test_render_result_without_runtime_args_does_not_warn() -> None:
    container = dict(RUNTIME_CONTAINER, args=[])
    result = _render.render_result(base_params(runtime=runtime(container=container)))
    assert result["repeated_args"] == [] and "warnings" not in result


def test_extra_labels_and_annotations_are_merged() -> None:
    plain = _render.render(base_params())
    resource = _render.render(base_params(labels={"team": "nlp", "example.com/tier": "gold"},
                                          annotations={"example.com/owner": "alice", "note": "a: b\nc"}))
    assert resource["metadata"]["labels"] == dict(plain["metadata"]["labels"], **{"team": "nlp", "example.com/tier": "gold"})
    assert resource["metadata"]["annotations"] == dict(plain["metadata"]["annotations"],
                                                       **{"example.com/owner": "alice", "note": "a: b\nc"})
    assert resource["spec"] == plain["spec"]


def test_env_copied_whole_and_runtime_lists_not_shared() -> None:
    params = base_params()
    resource = _render.render(params)
    spec = resource["spec"]["predictor"]["model"]
    assert spec["env"][1] == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    assert spec["command"] == BASE_RUNTIME["container"]["command"]
    spec["args"].append("--extra")
    assert params["runtime"]["container"]["args"] == ["--port=8080", "--model=/mnt/models"]


def test_render_does_not_modify_params() -> None:
    params = base_params(labels={"team": "nlp"}, model=model(subgroup="a/b"))
    snapshot = copy.deepcopy(params)
    _render.render(params)
    assert params == snapshot


def test_in_cluster_endpoint() -> None:
    assert _render.in_cluster_endpoint("qwen2-chat", "team-a") == "http://qwen2-chat-predictor.team-a.svc.cluster.local"
