"""Taking over what the pipeline deployed, and honest ownership (issue: client-side apply migration, other managers,
the update guard's races).

The "before" state is made by the pipeline's own script, extracted from the seed at test time and run with kubectl,
curl and jq against the harness, as Tekton runs it: its ``kubectl apply`` is client-side, so the service's fields
belong to ``kubectl-client-side-apply`` and it carries the last-applied annotation.
"""

from __future__ import annotations

import json
import pathlib
import re
import secrets
import subprocess
from typing import Any

import pytest

from tests.harness.gitlab_emulator import GitLabEmulator
from tests.harness.kube import writes
from tests.harness.pipeline import extract_pipeline, missing_tools, run_pipeline
from tests.integration.roles_support import Stage, create_runtime, failure_message, prepare_namespace, stats

pytestmark = pytest.mark.slow

PIPELINE = extract_pipeline()
CSA = "kubectl-client-side-apply"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HAMI = ("nvidia.com/gpualloc", "nvidia.com/gpucores", "nvidia.com/gpumem")
# the role's read of what exists (one task for the play batch), after which the race is staged
READ_TASK = "Read what exists, the Pod Security level and GitLab's address and token, once per namespace"
HOOKS = pathlib.Path(__file__).parent / "callback_plugins"
SIMULATOR_AGENT = "aml-kserve-simulator"

if PIPELINE is None or missing_tools():
    pytestmark = [pytestmark, pytest.mark.skip(reason="needs the seed (../shared/seed) and kubectl, curl, jq")]


@pytest.fixture(scope="module")
def model(gitlab: GitLabEmulator, kube: Any) -> dict[str, str]:
    """A model the pipeline finds (a project named uniquely under amlmodels, tags v1 and v2) and a runtime class
    of this file's own (the pipeline takes the first runtime of the class)."""
    suffix = secrets.token_hex(3)
    repo = "takeover-" + suffix
    model_ns = "amlmodels/tko-" + suffix
    gitlab.create_project(f"{model_ns}/{repo}", files={"README.md": GitLabEmulator.model_readme()},
                          tags={"v1": "main", "v2": "main"})
    runtime_class = "tko-vllm-" + suffix
    runtime = "tko-vllm-runtime-" + suffix
    create_runtime(kube, runtime, ["transformers"], runtime_class=runtime_class)
    return {"repo": repo, "model_ns": model_ns, "runtime_class": runtime_class, "runtime": runtime}


@pytest.fixture
def stage(kube: Any, gitlab: GitLabEmulator, simulator: Any, namespace: str, model: dict[str, str]) -> Stage:
    return prepare_namespace(kube, gitlab, namespace, model_ns=model["model_ns"], repo=model["repo"])


def pipeline_deploy(stage: Stage, model: dict[str, str], name: str, tmp_path: pathlib.Path) -> dict[str, Any]:
    assert PIPELINE is not None
    run = run_pipeline(PIPELINE, stage.kube.kubeconfig, stage.namespace, tmp_path, timeout=240,
                       INFERENCE_SERVICE_NAME=name, MODEL_REPO=model["repo"], MODEL_REPO_TAG="v1",
                       RUNTIME_CLASS=model["runtime_class"])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    made = stage.isvc(name)
    assert made is not None
    return made


def takeover_vars(stage: Stage, model: dict[str, str], name: str, **extra: Any) -> dict[str, Any]:
    """The role's redeploy of the pipeline's service: a new tag, and the NVIDIA device plugin instead of HAMi."""
    return stage.vars(isvc_name=name, isvc_model_search_namespace="amlmodels", isvc_runtime_class=model["runtime_class"],
                      isvc_model_repo_tag="v2", isvc_nvidia_gpu="1", isvc_nvidia_gpualloc="", isvc_nvidia_gpucores="",
                      isvc_nvidia_gpumem="", isvc_annotations={}, **extra)


def limits(isvc: dict[str, Any]) -> dict[str, str]:
    return isvc["spec"]["predictor"]["model"]["resources"]["limits"]


def managers(isvc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in isvc["metadata"]["managedFields"] if not e.get("subresource")]


def real_writes(stage: Stage, mark: int) -> list[tuple[str, str, int]]:
    """Our identity's writes to the cluster since ``mark``; dry runs are not writes."""
    return [(e["verb"], (e.get("objectRef") or {}).get("resource", ""), (e.get("responseStatus") or {}).get("code", 0))
            for e in writes(stage.kube.audit_events_since(mark), "aml-admin")
            if "dryRun" not in e.get("requestURI", "") and not e.get("userAgent", "").startswith(SIMULATOR_AGENT)]


def kubectl(stage: Stage, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", str(stage.kube.kubeconfig), "-n", stage.namespace, *args],
                          input=stdin, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_takeover_of_a_pipeline_service_migrates_once_and_drops_what_is_no_longer_rendered(stage, model, tmp_path):
    name = "tko-" + secrets.token_hex(2)
    before = pipeline_deploy(stage, model, name, tmp_path)
    assert (CSA, "Update") in managers(before)
    assert LAST_APPLIED in before["metadata"]["annotations"]
    # the pipeline's heredoc writes them unquoted: numbers
    hami = {"nvidia.com/gpualloc": 1, "nvidia.com/gpucores": 50, "nvidia.com/gpumem": 4096}
    assert {k: limits(before)[k] for k in HAMI} == hami

    run = stage.deploy(extra_vars=takeover_vars(stage, model, name))
    assert run.rc == 0, run.output[-4000:]
    after = stage.isvc(name)
    assert limits(after)["nvidia.com/gpu"] == "1"
    assert not set(HAMI) & set(limits(after)), limits(after)
    assert LAST_APPLIED not in after["metadata"]["annotations"]
    assert CSA not in [m for m, _op in managers(after)]
    assert ("aml.kserve", "Apply") in managers(after)
    assert after["spec"]["predictor"]["model"]["storageUri"] == f"hf://{stage.namespace}/{model['repo']}:v2"
    assert after["metadata"]["annotations"]["aml-model-repo-tag-commit"] == "v2"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    result = stats(run)[f"{stage.namespace}/{name}"]
    assert result["ready"] is True and result["changed"] is True

    # Once: a rerun changes nothing, and KServe sees no new generation.
    again = stage.deploy(extra_vars=takeover_vars(stage, model, name))
    assert again.rc == 0, again.output[-4000:]
    assert stats(again)[f"{stage.namespace}/{name}"]["changed"] is False
    assert stage.isvc(name)["metadata"]["generation"] == after["metadata"]["generation"]


def test_check_mode_and_diff_show_the_migration_and_write_nothing(stage, model, tmp_path):
    name = "tko-" + secrets.token_hex(2)
    before = pipeline_deploy(stage, model, name, tmp_path)
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=takeover_vars(stage, model, name), check=True, diff=True, callback="default")
    assert run.rc == 0, run.output[-4000:]
    assert real_writes(stage, mark) == []
    assert stage.isvc(name)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    # the ownership diff: the annotation and the client-side manager go, the role's Apply entry comes
    assert re.search(r'^-\s+"{0}": '.format(re.escape(LAST_APPLIED)), run.output, re.M), run.output[-6000:]
    assert re.search(r'^-\s+"manager": "{0}"'.format(CSA), run.output, re.M), run.output[-6000:]
    assert re.search(r'^\+\s+"manager": "aml.kserve"', run.output, re.M), run.output[-6000:]
    assert re.search(r'^\+\s+"operation": "Apply"', run.output, re.M), run.output[-6000:]


def test_other_manager_refused_with_one_line_per_field_then_forced(stage, model, tmp_path):
    name = "tko-" + secrets.token_hex(2)
    pipeline_deploy(stage, model, name, tmp_path)
    vars_ = takeover_vars(stage, model, name)
    assert stage.deploy(extra_vars=vars_).rc == 0
    kubectl(stage, "patch", "inferenceservice", name, "--type=merge", "--field-manager=kubectl-edit",
            "-p", json.dumps({"spec": {"predictor": {"model": {"resources": {"limits": {"cpu": "7"}}}}}}))
    patched = stage.isvc(name)

    mark = stage.kube.audit_mark()
    refused = stage.deploy(extra_vars=vars_)
    assert refused.rc != 0
    message = failure_message(refused)
    assert message.splitlines()[1:] == [
        "- spec.predictor.model.resources.limits.cpu: set to 7 by kubectl-edit (the role renders 4); "
        "set isvc_force_conflicts: true to take it over"], message
    assert '"kind":"Status"' not in message and '{"kind"' not in message
    assert real_writes(stage, mark) == []
    kept = stage.isvc(name)  # the simulator writes status on its own; spec and generation are the user's
    assert (kept["spec"], kept["metadata"]["generation"]) == (patched["spec"], patched["metadata"]["generation"])

    forced = stage.deploy(extra_vars=dict(vars_, isvc_force_conflicts=True))
    assert forced.rc == 0, forced.output[-4000:]
    assert limits(stage.isvc(name))["cpu"] == "4"


def race_env(command: str) -> dict[str, str]:
    return {"ANSIBLE_CALLBACK_PLUGINS": str(HOOKS), "ANSIBLE_CALLBACKS_ENABLED": "race_hook",
            "AML_TEST_HOOK_AFTER": READ_TASK, "AML_TEST_HOOK_COMMAND": command}


def theirs(stage: Stage, name: str, storage_uri: str | None = "hf://someone/else:v9") -> str:
    model = {"modelFormat": {"name": "transformers"}}
    if storage_uri:
        model["storageUri"] = storage_uri
    return json.dumps({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                       "metadata": {"name": name, "namespace": stage.namespace, "annotations": {"owner": "someone-else"}},
                       "spec": {"predictor": {"model": model}}})


def test_service_created_between_read_and_apply_is_not_overwritten(stage, model, tmp_path):
    name = "tko-" + secrets.token_hex(2)
    body = tmp_path / "theirs.json"
    body.write_text(theirs(stage, name))
    command = f"kubectl --kubeconfig {stage.kube.kubeconfig} create -f {body}"
    run = stage.deploy(extra_vars=stage.vars(isvc_name=name, isvc_model_search_namespace="amlmodels",
                                             isvc_runtime_class=model["runtime_class"], isvc_update_if_exists=False),
                       env=race_env(command))
    assert run.rc != 0
    assert failure_message(run) == (f"InferenceService {stage.namespace}/{name} was created by someone else since it "
                                    "was read, and isvc_update_if_exists is false; nothing was changed.")
    kept = stage.isvc(name)
    assert kept["metadata"]["annotations"] == {"owner": "someone-else"}
    assert kept["metadata"]["generation"] == 1
    assert kept["spec"]["predictor"]["model"]["storageUri"] == "hf://someone/else:v9"


def test_update_does_not_land_on_an_object_recreated_between_read_and_apply(stage, model, tmp_path):
    name = "tko-" + secrets.token_hex(2)
    vars_ = stage.vars(isvc_name=name, isvc_model_search_namespace="amlmodels", isvc_runtime_class=model["runtime_class"])
    assert stage.deploy(extra_vars=vars_).rc == 0
    old_uid = stage.isvc(name)["metadata"]["uid"]
    body = tmp_path / "theirs.json"
    # Only a field the role renders with the same value: no conflict hides the uid precondition (the apiserver
    # reports conflicts first; with conflicts, the run fails on them, nothing written either).
    body.write_text(theirs(stage, name, storage_uri=None))
    kc = f"kubectl --kubeconfig {stage.kube.kubeconfig} -n {stage.namespace}"
    command = f"{kc} delete inferenceservice {name} --wait=true && {kc} create -f {body}"
    run = stage.deploy(extra_vars=dict(vars_, isvc_cpu_limit="6"), env=race_env(command))
    assert run.rc != 0
    assert failure_message(run) == (f"InferenceService {stage.namespace}/{name} was deleted and created again since it "
                                    "was read (it has another uid); nothing was applied. Run again to update the new one.")
    kept = stage.isvc(name)
    assert kept["metadata"]["uid"] != old_uid
    assert kept["metadata"]["annotations"] == {"owner": "someone-else"}
    assert kept["metadata"]["generation"] == 1
