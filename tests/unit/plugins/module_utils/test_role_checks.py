# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the deploy role's cross-variable checks (``_role_checks``), which the role reaches through
module_utils/_batch.py for every service of a play batch."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.aml.kserve.plugins.module_utils import _role_checks as rc

NS = "team-a"
NAME = "qwen"

# The role's defaults for the inputs preflight.yml passes (roles/isvc/defaults/main.yml), with a runtime class set.
INPUTS: Dict[str, Any] = {
    "isvc_state": "present",
    "isvc_runtime_name": "",
    "isvc_runtime_class": "vllm",
    "isvc_model_repo": "qwen2-7b-instruct",
    "isvc_model_repo_branch": "",
    "isvc_model_repo_tag": "",
    "isvc_nvidia_gpu": "",
    "isvc_nvidia_gpualloc": "1",
    "isvc_nvidia_gpucores": "50",
    "isvc_nvidia_gpumem": "4096",
    "isvc_min_replicas": 1,
    "isvc_max_replicas": 1,
    "isvc_wait_timeout": 1800,
    "isvc_field_manager": "aml.kserve",
}

RUNTIME_MISSING = ("isvc_runtime_name or isvc_runtime_class must be set: give the ClusterServingRuntime's name, or its "
                   "class (the value of its cpaas.io/runtime-class label)")
REPO_MISSING = "isvc_model_repo must not be empty; give the name of the model project in GitLab"


def gpu_message(hami: str) -> str:
    return ("isvc_nvidia_gpu (NVIDIA device plugin) cannot be combined with the HAMi values "
            "isvc_nvidia_gpualloc/isvc_nvidia_gpucores/isvc_nvidia_gpumem ({0}); set those to \"\" or leave "
            "isvc_nvidia_gpu empty".format(hami))


def branch_tag(branch: str, tag: str) -> str:
    return ("isvc_model_repo_branch ({0}) and isvc_model_repo_tag ({1}) cannot both be set; keep one, or neither for the "
            "default branch".format(branch, tag))


NO_HAMI = {"isvc_nvidia_gpualloc": "", "isvc_nvidia_gpucores": "", "isvc_nvidia_gpumem": ""}

INPUT_CASES = [
    # id, overrides of INPUTS, problems
    ("defaults-with-class", {}, []),
    ("runtime-name-only", {"isvc_runtime_class": "", "isvc_runtime_name": "aml-vllm-0.9.2"}, []),
    ("runtime-name-and-class", {"isvc_runtime_name": "aml-vllm-0.9.2"}, []),
    ("neither-runtime-name-nor-class", {"isvc_runtime_class": ""}, [RUNTIME_MISSING]),
    ("runtime-class-none", {"isvc_runtime_class": None}, [RUNTIME_MISSING]),
    ("absent-needs-no-runtime-or-repo", {"isvc_state": "absent", "isvc_runtime_class": "", "isvc_model_repo": ""}, []),
    ("empty-repo", {"isvc_model_repo": ""}, [REPO_MISSING]),
    ("branch-only", {"isvc_model_repo_branch": "dev"}, []),
    ("tag-only", {"isvc_model_repo_tag": "v1.2.0"}, []),
    ("branch-and-tag", {"isvc_model_repo_branch": "dev", "isvc_model_repo_tag": "v1.2.0"}, [branch_tag("dev", "v1.2.0")]),
    ("branch-and-tag-also-when-absent", {"isvc_state": "absent", "isvc_model_repo_branch": "main",
                                         "isvc_model_repo_tag": "v1"}, [branch_tag("main", "v1")]),
    ("hami-defaults-without-nvidia", {}, []),
    ("nvidia-with-hami-defaults", {"isvc_nvidia_gpu": "1"}, [gpu_message("1, 50, 4096")]),
    ("nvidia-with-one-hami-value", dict(NO_HAMI, isvc_nvidia_gpu="2", isvc_nvidia_gpumem="8192"), [gpu_message("8192")]),
    ("nvidia-with-hami-cleared", dict(NO_HAMI, isvc_nvidia_gpu="1"), []),
    ("nvidia-with-hami-none", {"isvc_nvidia_gpu": "1", "isvc_nvidia_gpualloc": None, "isvc_nvidia_gpucores": None,
                               "isvc_nvidia_gpumem": None}, []),
    ("scale-to-zero", {"isvc_min_replicas": 0, "isvc_max_replicas": 3}, []),
    ("negative-min", {"isvc_min_replicas": -1}, ["isvc_min_replicas (-1) must be 0 or more"]),
    ("max-zero", {"isvc_min_replicas": 0, "isvc_max_replicas": 0}, ["isvc_max_replicas (0) must be 1 or more"]),
    ("max-below-min", {"isvc_min_replicas": 3, "isvc_max_replicas": 2},
     ["isvc_max_replicas (2) must not be less than isvc_min_replicas (3)"]),
    ("replicas-as-awx-text", {"isvc_min_replicas": "2", "isvc_max_replicas": "4"}, []),
    ("max-below-min-as-text", {"isvc_min_replicas": "4", "isvc_max_replicas": "2"},
     ["isvc_max_replicas (2) must not be less than isvc_min_replicas (4)"]),
    ("wait-timeout-zero", {"isvc_wait_timeout": 0}, ["isvc_wait_timeout (0) must be at least 1 second"]),
    ("wait-timeout-text", {"isvc_wait_timeout": "60"}, []),
    ("field-manager-empty", {"isvc_field_manager": ""}, [
        "isvc_field_manager must not be empty; it names this tool in the InferenceService's managedFields"]),
    ("every-problem-at-once", {"isvc_runtime_class": "", "isvc_model_repo": "", "isvc_model_repo_branch": "b",
                               "isvc_model_repo_tag": "t", "isvc_nvidia_gpu": "1", "isvc_min_replicas": -2,
                               "isvc_max_replicas": -3, "isvc_wait_timeout": 0, "isvc_field_manager": ""}, [
        RUNTIME_MISSING, REPO_MISSING, branch_tag("b", "t"), gpu_message("1, 50, 4096"),
        "isvc_min_replicas (-2) must be 0 or more", "isvc_max_replicas (-3) must be 1 or more",
        "isvc_max_replicas (-3) must not be less than isvc_min_replicas (-2)",
        "isvc_wait_timeout (0) must be at least 1 second",
        "isvc_field_manager must not be empty; it names this tool in the InferenceService's managedFields"]),
]


@pytest.mark.parametrize("overrides, problems", [c[1:] for c in INPUT_CASES], ids=[c[0] for c in INPUT_CASES])
def test_input_problems(overrides: Dict[str, Any], problems: List[str]) -> None:
    values = dict(INPUTS, **overrides)
    assert rc.input_problems(values) == problems


# -- guard_problems ------------------------------------------------------------------------------------------------

GUARD_VALUES: Dict[str, Any] = {"isvc_name": NAME, "isvc_namespace": NS, "isvc_update_if_exists": True,
                                "isvc_host_ipc": True, "isvc_manage_pod_security": False}

UPDATE_REFUSED = ("InferenceService team-a/qwen already exists and isvc_update_if_exists is false; nothing was changed. "
                  "Set isvc_update_if_exists to true to update it.")


def mode_refused(current: str, rendered: str) -> str:
    return ("InferenceService team-a/qwen runs in {0} mode and this run renders {1}; KServe rejects a change of deployment "
            "mode. Keep the mode (RawDeployment when isvc_min_replicas equals isvc_max_replicas, else Serverless, or set "
            "isvc_deployment_mode), or remove the service first with isvc_state=absent. Nothing was changed.".format(
                current, rendered))


def psa_refused(level: str) -> str:
    return ("Namespace team-a enforces Pod Security level {0}, which forbids hostIPC, so the predictor's pods would never "
            "be created. Nothing was changed. Fix: kubectl label namespace team-a "
            "pod-security.kubernetes.io/enforce=privileged --overwrite (or set isvc_manage_pod_security: true, or "
            "isvc_host_ipc: false if the runtime does not need shared memory).".format(level))


def existing(mode: Optional[str]) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {"name": NAME, "namespace": NS, "generation": 3}
    if mode is not None:
        metadata["annotations"] = {"serving.kserve.io/deploymentMode": mode, "aml-model-subgroup": ""}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": metadata,
            "spec": {"predictor": {"minReplicas": 1}}}


GUARD_CASES = [
    # id, overrides of GUARD_VALUES, existing, rendered mode, psa level, problems, needs_privileged_label
    ("new-service", {}, None, "RawDeployment", "", [], False),
    ("new-service-empty-dict", {}, {}, "Serverless", None, [], False),
    ("update-allowed", {}, existing("RawDeployment"), "RawDeployment", "", [], False),
    ("update-refused", {"isvc_update_if_exists": False}, existing("RawDeployment"), "RawDeployment", "",
     [UPDATE_REFUSED], False),
    ("update-refused-awx-text", {"isvc_update_if_exists": "False"}, existing("Serverless"), "Serverless", "",
     [UPDATE_REFUSED], False),
    ("update-if-exists-false-but-new", {"isvc_update_if_exists": False}, None, "Serverless", "", [], False),
    ("update-if-exists-unset-means-true", {"isvc_update_if_exists": None}, existing("Serverless"), "Serverless", "",
     [], False),
    ("raw-to-serverless", {}, existing("RawDeployment"), "Serverless", "", [mode_refused("RawDeployment", "Serverless")],
     False),
    ("serverless-to-raw", {}, existing("Serverless"), "RawDeployment", "", [mode_refused("Serverless", "RawDeployment")],
     False),
    ("standard-to-knative", {}, existing("Standard"), "Knative", "", [mode_refused("Standard", "Knative")], False),
    ("standard-is-raw", {}, existing("Standard"), "RawDeployment", "", [], False),
    ("raw-is-standard", {}, existing("RawDeployment"), "Standard", "", [], False),
    ("knative-is-serverless", {}, existing("Knative"), "Serverless", "", [], False),
    ("no-annotation-is-serverless", {}, existing(None), "Serverless", "", [], False),
    ("no-annotation-to-raw", {}, existing(None), "RawDeployment", "", [mode_refused("Serverless", "RawDeployment")],
     False),
    ("both-refusals", {"isvc_update_if_exists": "no"}, existing("Standard"), "Serverless", "",
     [UPDATE_REFUSED, mode_refused("Standard", "Serverless")], False),
    ("baseline-host-ipc", {}, None, "RawDeployment", "baseline", [psa_refused("baseline")], False),
    ("restricted-host-ipc", {}, existing("RawDeployment"), "RawDeployment", "restricted", [psa_refused("restricted")],
     False),
    ("host-ipc-default-is-true", {"isvc_host_ipc": None}, None, "RawDeployment", "baseline", [psa_refused("baseline")],
     False),
    ("host-ipc-awx-text-true", {"isvc_host_ipc": "true"}, None, "RawDeployment", "baseline", [psa_refused("baseline")],
     False),
    ("privileged-allows-host-ipc", {}, None, "RawDeployment", "privileged", [], False),
    ("no-label-allows-host-ipc", {}, None, "RawDeployment", "", [], False),
    ("level-unknown-allows-host-ipc", {}, None, "RawDeployment", None, [], False),
    ("no-host-ipc-in-restricted", {"isvc_host_ipc": False}, None, "RawDeployment", "restricted", [], False),
    ("no-host-ipc-as-text", {"isvc_host_ipc": "0"}, None, "RawDeployment", "restricted", [], False),
    ("manage-pod-security", {"isvc_manage_pod_security": True}, None, "RawDeployment", "baseline", [], True),
    ("manage-pod-security-text", {"isvc_manage_pod_security": "yes"}, existing("Standard"), "Standard", "restricted",
     [], True),
    ("manage-pod-security-privileged", {"isvc_manage_pod_security": True}, None, "RawDeployment", "privileged", [], False),
    ("manage-pod-security-no-host-ipc", {"isvc_manage_pod_security": True, "isvc_host_ipc": False}, None,
     "RawDeployment", "baseline", [], False),
]


@pytest.mark.parametrize("overrides, current, mode, level, problems, label", [c[1:] for c in GUARD_CASES],
                         ids=[c[0] for c in GUARD_CASES])
def test_guard_problems(overrides: Dict[str, Any], current: Optional[Dict[str, Any]], mode: str, level: Optional[str],
                        problems: List[str], label: bool) -> None:
    values = dict(GUARD_VALUES)
    for key, value in overrides.items():
        if value is None:
            values.pop(key)  # unset: the function's default applies
        else:
            values[key] = value
    assert rc.guard_problems(values, current, mode, level) == problems
    assert rc.needs_privileged_label(values, level) is label


def test_guard_message_names_the_variable_and_the_label_command() -> None:
    problems = rc.guard_problems(dict(GUARD_VALUES, isvc_update_if_exists=False), existing("Standard"), "Serverless",
                                 "baseline")
    assert len(problems) == 3
    assert "isvc_update_if_exists" in problems[0]
    assert "KServe rejects a change of deployment mode" in problems[1]
    assert "kubectl label namespace team-a pod-security.kubernetes.io/enforce=privileged --overwrite" in problems[2]


# -- pod_security_level, flag --------------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace, level", [
    ({"metadata": {"name": NS, "labels": {"pod-security.kubernetes.io/enforce": "baseline",
                                          "pod-security.kubernetes.io/warn": "restricted"}}}, "baseline"),
    ({"metadata": {"name": NS, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}, "restricted"),
    ({"metadata": {"name": NS, "labels": {"pod-security.kubernetes.io/warn": "restricted",
                                          "kubernetes.io/metadata.name": NS}}}, ""),
    ({"metadata": {"name": NS, "labels": None}}, ""),
    ({"metadata": {"name": NS}}, ""),
    ({}, ""),
    (None, ""),
], ids=["enforce-baseline", "enforce-restricted", "warn-only", "labels-null", "no-labels", "empty", "none"])
def test_pod_security_level(namespace: Optional[Dict[str, Any]], level: str) -> None:
    assert rc.pod_security_level(namespace) == level


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("True", True), (" TRUE ", True), ("yes", True), ("Yes", True), ("on", True), ("y", True),
    ("t", True), ("1", True),
    ("false", False), ("False", False), ("no", False), ("off", False), ("0", False), ("", False), ("n", False),
    ("nonsense", False),
    (True, True), (False, False), (1, True), (0, False), (None, False),
])
def test_flag(value: Any, expected: bool) -> None:
    assert rc.flag(value) is expected


def test_render_problem_maps_the_renderer_options_to_role_variables() -> None:
    message = "cpu_request: 'lots' is not a Kubernetes quantity"
    expected = ("cpu_request: 'lots' is not a Kubernetes quantity (Each option named above is the role variable "
                "isvc_<option>: cpu_request is isvc_cpu_request, name is isvc_name.)")
    assert rc.render_problem(message) == expected


def test_render_warnings_name_the_role_variable() -> None:
    rendered = {"repeated_args": ["--port", "serve"], "resource": {}}
    expected = ["the predictor container gets the runtime's args twice (--port, serve): KServe appends the "
                "InferenceService's args to the runtime's (MergeRuntimeContainers, in every release). Set "
                "isvc_inherit_runtime_container to command_env to pass them once."]
    assert rc.render_warnings(rendered) == expected
    assert rc.render_warnings({"repeated_args": []}) == [] and rc.render_warnings({}) == []


def test_a_whole_number_is_said_as_given_though_the_spec_made_it_a_float():
    values = {"isvc_state": "present", "isvc_runtime_class": "vllm", "isvc_model_repo": "m", "isvc_min_replicas": 1,
              "isvc_max_replicas": 1, "isvc_wait_timeout": 60, "isvc_field_manager": "aml.kserve",
              "isvc_wait_settle_seconds": -1.0}
    problems = rc.input_problems(values)
    assert "isvc_wait_settle_seconds (-1) must not be negative" in problems
