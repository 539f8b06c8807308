"""The deploy role through playbooks/deploy.yml, on the real apiserver, the KServe simulator and the GitLab emulator."""

from __future__ import annotations

import base64
import pathlib
import secrets
import threading
import time

import kubernetes.client
import pytest
import yaml

from tests.harness.gitlab_emulator import GitLabEmulator
from tests.harness.kube import writes
from tests.integration.roles_support import (
    READY_AFTER, SCENARIO, Stage, create_runtime, document, failure_message, prepare_namespace, recap, stats,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(gitlab: GitLabEmulator, kube) -> dict[str, str]:
    model_ns = "amlmodels/role-" + secrets.token_hex(3)
    gitlab.create_project(f"{model_ns}/qwen2-7b", files={"README.md": GitLabEmulator.model_readme("text-generation", "transformers")},
                          branches={"next": {"README.md": GitLabEmulator.model_readme("text-generation", "transformers", {"v": 2})}},
                          tags={"v1.0": "main"})
    create_runtime(kube, "role-a-onnx-" + secrets.token_hex(2), ["onnx"])
    create_runtime(kube, "role-b-vllm-" + secrets.token_hex(2), ["transformers"])
    return {"model_ns": model_ns, "repo": "qwen2-7b"}


@pytest.fixture
def stage(kube, gitlab, simulator, namespace, model) -> Stage:
    return prepare_namespace(kube, gitlab, namespace, model_ns=model["model_ns"], repo=model["repo"])


def test_fresh_raw_deployment_is_ready_with_endpoints(stage: Stage, gitlab: GitLabEmulator):
    vars_ = stage.vars(isvc_model_search_namespace="amlmodels", isvc_description="multi\nline\nspec: {x: 1}")
    run = stage.deploy(extra_vars=vars_)
    assert run.rc == 0, run.output[-4000:]
    name = vars_["isvc_name"]
    result = stats(run)[f"{stage.namespace}/{name}"]
    isvc = stage.isvc(name)
    assert result["ready"] is True
    assert result["in_cluster_endpoint"] == f"http://{name}-predictor.{stage.namespace}.svc.cluster.local"
    assert result["out_cluster_endpoint"] == isvc["status"]["url"] and result["out_cluster_endpoint"].startswith("http")
    assert result["deployment_mode"] == "RawDeployment"
    sha = gitlab_sha(gitlab, stage.project_path, "main")
    assert result["commit_id"] == sha and result["revision"] == sha
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == f"hf://{stage.namespace}/qwen2-7b:{sha}"
    assert isvc["metadata"]["annotations"]["cpaas.io/description"] == "multi\nline\nspec: {x: 1}"
    assert isvc["spec"]["predictor"]["model"]["args"] == ["--port=8080", "--served-model-name={{.Name}}"]
    assert isvc["spec"]["predictor"]["model"]["runtime"].startswith("role-b-vllm-")
    assert isvc["metadata"]["labels"]["aml-model-subgroup"] == stage.project_path.split("/", 1)[1].rsplit("/", 1)[0]


# What create_runtime's runtime holds; KServe's merge appends the InferenceService's args to its args.
RUNTIME_COMMAND = ["python3", "-m", "vllm.entrypoints.openai.api_server"]
RUNTIME_ENV = [{"name": "HF_HOME", "value": "/tmp/hf"},
               {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token", "optional": True}}}]


@pytest.mark.parametrize("inherit, copied, times", [
    ("all", ("command", "env", "args"), 2),
    ("command_env", ("command", "env"), 1),
    ("none", (), 1),
])
def test_inherit_runtime_container_choice_reaches_the_deployment(stage: Stage, inherit: str, copied: tuple, times: int):
    """Each choice of isvc_inherit_runtime_container: what the InferenceService carries, the container args the
    Deployment gets from the simulator's merge (KServe's), and the warning exactly when an argument repeats."""
    vars_ = stage.vars(isvc_inherit_runtime_container=inherit)
    run = stage.deploy(extra_vars=vars_)
    assert run.rc == 0, run.output[-4000:]
    name = vars_["isvc_name"]
    model = stage.isvc(name)["spec"]["predictor"]["model"]
    runtime = {"command": RUNTIME_COMMAND, "env": RUNTIME_ENV, "args": ["--port=8080", "--served-model-name={{.Name}}"]}
    assert {f: model[f] for f in ("command", "env", "args") if f in model} == {f: runtime[f] for f in copied}

    apps = kubernetes.client.AppsV1Api(stage.kube.api_client())
    deployment = apps.read_namespaced_deployment(name + "-predictor", stage.namespace)
    [container] = kubernetes.client.ApiClient().sanitize_for_serialization(deployment.spec.template.spec.containers)
    assert container["args"] == ["--port=8080", "--served-model-name=" + name] * times
    assert container["command"] == RUNTIME_COMMAND and container["env"] == RUNTIME_ENV

    result = stats(run)[f"{stage.namespace}/{name}"]
    [summary] = role_task_results(run, "Summary")
    # The role renders in module_utils/_batch.py with the inference_service module's spec and code (no Render task of
    # its own): the warning in the result and the Deployment above say what the render did.
    if times == 2:
        warning = ("the predictor container gets the runtime's args twice (--port, --served-model-name): KServe "
                   "appends the InferenceService's args to the runtime's (MergeRuntimeContainers, in every release). "
                   "Set isvc_inherit_runtime_container to command_env to pass them once.")
        assert result["warnings"] == [warning]
        assert summary["msg"].endswith(". WARNING: " + warning)
    else:
        assert result["warnings"] == []
        assert "WARNING" not in summary["msg"]


def role_task_results(run, task_name: str) -> list[dict]:
    """The results of the role's tasks of that name (the json callback names them '<role> : <name>')."""
    return [result for play in document(run).get("plays", []) for task in play.get("tasks", [])
            if task["task"]["name"].rsplit(" : ", 1)[-1] == task_name for result in task["hosts"].values()]


def test_inherit_runtime_container_booleans_keep_their_meaning(stage: Stage):
    """true is all (the pipeline's), false none: a service made with either does not change when the choice is
    renamed, so its pods do not restart."""
    for old, new in ((True, "all"), ("false", "none")):
        vars_ = stage.vars(isvc_inherit_runtime_container=old)
        assert stage.deploy(extra_vars=vars_).rc == 0
        before = stage.isvc(vars_["isvc_name"])
        run = stage.deploy(extra_vars=dict(vars_, isvc_inherit_runtime_container=new))
        assert run.rc == 0, run.output[-4000:]
        assert recap(run)["changed"] == 0
        after = stage.isvc(vars_["isvc_name"])
        assert after["metadata"]["generation"] == before["metadata"]["generation"] == 1
        assert ("args" in after["spec"]["predictor"]["model"]) is (new == "all")


def gitlab_sha(gitlab: GitLabEmulator, path: str, ref: str) -> str:
    import subprocess
    repo = gitlab.repos_dir / (path + ".git")
    return subprocess.run(["git", "-C", str(repo), "rev-parse", ref + "^{commit}"], check=True, capture_output=True, text=True).stdout.strip()


def test_serverless_rerun_is_unchanged(stage: Stage):
    vars_ = stage.vars(isvc_min_replicas=0, isvc_max_replicas=2)
    first = stage.deploy(extra_vars=vars_)
    assert first.rc == 0, first.output[-4000:]
    assert stats(first)[f"{stage.namespace}/{vars_['isvc_name']}"]["deployment_mode"] == "Serverless"
    assert recap(first)["changed"] >= 1
    mark = stage.kube.audit_mark()
    second = stage.deploy(extra_vars=vars_)
    assert second.rc == 0, second.output[-4000:]
    assert recap(second)["changed"] == 0
    assert stats(second)[f"{stage.namespace}/{vars_['isvc_name']}"]["changed"] is False
    # the rerun's only write is the no-op apply; it changes nothing stored
    isvc_writes = [e for e in writes(stage.kube.audit_events_since(mark), "aml-admin")
                   if e.get("objectRef", {}).get("resource") == "inferenceservices"]
    assert [e["verb"] for e in isvc_writes] == ["patch"]
    assert stage.isvc(vars_["isvc_name"])["metadata"]["generation"] == 1


def test_check_mode_creates_nothing_and_diff_shows_one_field(stage: Stage):
    vars_ = stage.vars()
    run = stage.deploy(extra_vars=vars_, check=True)
    assert run.rc == 0, run.output[-4000:]
    assert stage.isvc(vars_["isvc_name"]) is None

    assert stage.deploy(extra_vars=vars_).rc == 0
    changed = dict(vars_, isvc_cpu_limit="6")
    run = stage.deploy(extra_vars=changed, check=True, diff=True, callback="default")
    assert run.rc == 0, run.output[-4000:]
    assert diff_lines(run.output) == ['-                        "cpu": "4"', '+                        "cpu": "6"']
    isvc = stage.isvc(vars_["isvc_name"])
    assert isvc["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] == "4"  # check mode wrote nothing


# What the server changes on every write, not the user: left out when reading a diff.
SERVER_FIELDS = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "time", "operation",
                 "manager", "fieldsType", "fieldsV1", "apiVersion\": \"serving")


def diff_lines(output: str) -> list[str]:
    """The changed lines of --diff output, without the headers and the server's own bookkeeping."""
    lines = [line for line in output.splitlines() if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    return [line for line in lines if not any(field in line for field in SERVER_FIELDS) and line.strip("+- ")]


def test_update_of_model_ref_rolls_out(stage: Stage, gitlab: GitLabEmulator):
    vars_ = stage.vars()
    assert stage.deploy(extra_vars=vars_).rc == 0
    run = stage.deploy(extra_vars=dict(vars_, isvc_model_repo_branch="next"))
    assert run.rc == 0, run.output[-4000:]
    sha = gitlab_sha(gitlab, stage.project_path, "next")
    isvc = stage.isvc(vars_["isvc_name"])
    assert isvc["metadata"]["generation"] == 2
    assert isvc["status"]["observedGeneration"] == 2
    assert isvc["spec"]["predictor"]["model"]["storageUri"].endswith(":" + sha)
    assert isvc["metadata"]["annotations"]["aml-model-repo-branch"] == "next"
    apps = kubernetes.client.AppsV1Api(stage.kube.api_client())
    deployment = apps.read_namespaced_deployment(vars_["isvc_name"] + "-predictor", stage.namespace)
    assert deployment.status.observed_generation == deployment.metadata.generation >= 2


def test_update_refused_when_update_if_exists_is_false(stage: Stage):
    vars_ = stage.vars()
    assert stage.deploy(extra_vars=vars_).rc == 0
    before = stage.isvc(vars_["isvc_name"])
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=dict(vars_, isvc_update_if_exists=False, isvc_cpu_limit="8"))
    assert run.rc != 0
    assert "already exists and isvc_update_if_exists is false" in failure_message(run)
    # a failed deploy still publishes its outcome, with the reason, for an AWX workflow's failure branch
    published = stats(run)[f"{stage.namespace}/{vars_['isvc_name']}"]
    assert published["failed"] is True and published["msg"] == failure_message(run)
    assert writes(stage.kube.audit_events_since(mark), "aml-admin") == []
    assert stage.isvc(vars_["isvc_name"])["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_fail_load_fails_fast_with_the_message(stage: Stage, simulator):
    vars_ = stage.vars(isvc_annotations={SCENARIO: "fail-load", READY_AFTER: "0.5"}, isvc_wait_timeout=120)
    started = time.monotonic()
    run = stage.deploy(extra_vars=vars_)
    ended = time.monotonic()
    assert run.rc != 0
    message = failure_message(run)
    assert "failed to load" in message and "exit code 1" in message
    marked = simulator.wait_for(stage.namespace, vars_["isvc_name"], "failed-load", timeout=1)
    assert ended - marked < 5, "the role took {0:.1f}s after the failure was written".format(ended - marked)
    assert ended - started < 60


def test_never_ready_fails_at_the_timeout(stage: Stage):
    vars_ = stage.vars(isvc_annotations={SCENARIO: "never-ready"}, isvc_wait_timeout=4)
    started = time.monotonic()
    run = stage.deploy(extra_vars=vars_)
    elapsed = time.monotonic() - started
    assert run.rc != 0
    assert "was not ready after 4 s" in failure_message(run)
    assert 4 <= elapsed < 40, "the wait gave up after {0:.1f} s".format(elapsed)


def test_stale_ready_is_not_accepted(stage: Stage, simulator):
    vars_ = stage.vars(isvc_annotations={SCENARIO: "stale-ready", "aml.kserve.test/stale-seconds": "3", READY_AFTER: "0.2"})
    assert stage.deploy(extra_vars=vars_).rc == 0
    started = time.monotonic()
    run = stage.deploy(extra_vars=dict(vars_, isvc_cpu_limit="5"))
    assert run.rc == 0, run.output[-4000:]
    assert time.monotonic() - started >= 3  # the old Ready=True was not taken for the new generation
    isvc = stage.isvc(vars_["isvc_name"])
    assert isvc["status"]["observedGeneration"] == isvc["metadata"]["generation"] == 2


def test_description_only_redeploy_waits_for_the_rollout_and_a_rerun_returns_at_once(stage: Stage, simulator):
    """A description change rolls the predictor (KServe copies annotations into the pod template) and leaves every
    status signal saying Ready meanwhile (observedGeneration is the Deployment's counter, past the generation); the
    role's wait, judged against its read before the apply, holds until KServe rolled the new pods out. A rerun
    with nothing to change in that drifted state is the current state, at once."""
    vars_ = stage.vars(isvc_description="v1", isvc_annotations={SCENARIO: "stale-ready", READY_AFTER: "0.2",
                                                                "aml.kserve.test/stale-seconds": "6"})
    assert stage.deploy(extra_vars=vars_).rc == 0
    name = vars_["isvc_name"]
    started = time.monotonic()
    run = stage.deploy(extra_vars=dict(vars_, isvc_description="v2"))
    assert run.rc == 0, run.output[-4000:]
    result = stats(run)[stage.namespace + "/" + name]
    assert result["ready"] is True and result["changed"] is True
    rolled_out = simulator.wait_for(stage.namespace, name, "deployment-rolled-out", since=started, timeout=1)
    assert rolled_out - started >= 6  # KServe held the old status for 6 s: the wait did not take it
    isvc = stage.isvc(name)
    assert isvc["metadata"]["generation"] == 1 and isvc["status"]["observedGeneration"] == 2  # drifted, as KServe does
    rerun = stage.deploy(extra_vars=dict(vars_, isvc_description="v2"))
    assert rerun.rc == 0, rerun.output[-4000:]
    again = stats(rerun)[stage.namespace + "/" + name]
    assert again["ready"] is True and again["changed"] is False
    assert float(again["waited"]) < 1.0


def test_stop_annotation_is_reported_as_stopped(stage: Stage):
    vars_ = stage.vars(isvc_annotations={READY_AFTER: "0.2", "serving.kserve.io/stop": "true"}, isvc_wait_timeout=120)
    started = time.monotonic()
    run = stage.deploy(extra_vars=vars_)
    assert run.rc == 0, run.output[-4000:]
    result = stats(run)[stage.namespace + "/" + vars_["isvc_name"]]
    assert (result["ready"], result["state"]) == (False, "stopped")
    assert float(result["waited"]) < 2 and time.monotonic() - started < 90


def test_ready_when_that_never_holds_times_out_naming_it(stage: Stage):
    vars_ = stage.vars(isvc_ready_when="isvc.metadata.labels.warmed == 'yes'", isvc_wait_timeout=3)
    run = stage.deploy(extra_vars=vars_)
    assert run.rc != 0
    assert failure_message(run).endswith("Ready, but ready_when does not hold yet: isvc.metadata.labels.warmed == 'yes'")


def test_pod_security_preflight_both_ways(stage: Stage):
    core = kubernetes.client.CoreV1Api(stage.kube.api_client())
    core.patch_namespace(stage.namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    vars_ = stage.vars()
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=vars_)
    assert run.rc != 0
    message = failure_message(run)
    assert f"kubectl label namespace {stage.namespace} pod-security.kubernetes.io/enforce=privileged --overwrite" in message
    assert writes(stage.kube.audit_events_since(mark), "aml-admin") == []
    assert stage.isvc(vars_["isvc_name"]) is None

    run = stage.deploy(extra_vars=dict(vars_, isvc_manage_pod_security=True))
    assert run.rc == 0, run.output[-4000:]
    labels = core.read_namespace(stage.namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


def test_deploy_and_undeploy_by_playbook_name_and_absent_waits_until_gone(stage: Stage):
    """`ansible-playbook aml.kserve.deploy` / `aml.kserve.undeploy`; the delete waits out a finalizer."""
    vars_ = stage.vars()
    name = vars_["isvc_name"]
    run = stage.deploy(extra_vars=vars_, playbook="aml.kserve.deploy")
    assert run.rc == 0, run.output[-4000:]
    assert stats(run)[f"{stage.namespace}/{name}"]["ready"] is True
    api = kubernetes.client.CustomObjectsApi(stage.kube.api_client())
    api.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", stage.namespace, "inferenceservices", name,
                                       {"metadata": {"finalizers": ["aml.kserve.test/hold"]}})

    def release() -> None:  # what a controller's finalizer does, two seconds after the delete
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (stage.isvc(name) or {}).get("metadata", {}).get("deletionTimestamp"):
                time.sleep(2)
                api.patch_namespaced_custom_object("serving.kserve.io", "v1beta1", stage.namespace, "inferenceservices",
                                                   name, {"metadata": {"finalizers": None}})
                return
            time.sleep(0.1)

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    started = time.monotonic()
    run = stage.deploy(extra_vars={"isvc_name": name, "isvc_namespace": stage.namespace}, playbook="aml.kserve.undeploy")
    elapsed = time.monotonic() - started
    releaser.join(timeout=30)
    assert run.rc == 0, run.output[-4000:]
    assert elapsed >= 2, "undeploy returned before the object was gone"
    assert stage.isvc(name) is None
    # the delete (one step for the batch) and the host's own summary: its service changed
    assert recap(run)["changed"] == 2


def test_render_only_writes_the_manifest_and_nothing_to_the_cluster(stage: Stage, tmp_path):
    vars_ = stage.vars(isvc_render_only=True, isvc_render_dir=str(tmp_path / "gitops"))
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=vars_)
    assert run.rc == 0, run.output[-4000:]
    assert writes(stage.kube.audit_events_since(mark), "aml-admin") == []
    assert stage.isvc(vars_["isvc_name"]) is None
    manifest = yaml.safe_load((tmp_path / "gitops" / stage.namespace / (vars_["isvc_name"] + ".yaml")).read_text())
    assert list(manifest) == ["apiVersion", "kind", "metadata", "spec"]
    assert manifest["metadata"]["name"] == vars_["isvc_name"] and manifest["metadata"]["namespace"] == stage.namespace
    assert manifest["spec"]["predictor"]["model"]["runtime"].startswith("role-b-vllm-")


def test_changing_the_deployment_mode_is_refused_before_any_write(stage: Stage):
    vars_ = stage.vars()
    assert stage.deploy(extra_vars=vars_).rc == 0
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=dict(vars_, isvc_min_replicas=0, isvc_max_replicas=2))
    assert run.rc != 0
    message = failure_message(run)
    assert "RawDeployment" in message and "Serverless" in message, message
    assert writes(stage.kube.audit_events_since(mark), "aml-admin") == []
    isvc = stage.isvc(vars_["isvc_name"])
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert isvc["metadata"]["generation"] == 1


def test_one_line_summary(stage: Stage, gitlab: GitLabEmulator):
    vars_ = stage.vars(isvc_model_repo_tag="v1.0")
    run = stage.deploy(extra_vars=vars_, callback="default")
    assert run.rc == 0, run.output[-4000:]
    name = vars_["isvc_name"]
    isvc = stage.isvc(name)
    runtime = isvc["spec"]["predictor"]["model"]["runtime"]
    expected = (f"{stage.namespace}/{name}: ready, {stage.project_path}@v1.0 on {runtime} (RawDeployment), in cluster "
                f"http://{name}-predictor.{stage.namespace}.svc.cluster.local, outside {isvc['status']['url']}")
    # the default copies the runtime's args, which KServe then passes twice: the summary says so
    warning = ("the predictor container gets the runtime's args twice (--port, --served-model-name): KServe appends "
               "the InferenceService's args to the runtime's (MergeRuntimeContainers, in every release). Set "
               "isvc_inherit_runtime_container to command_env to pass them once.")
    assert f'"msg": "{expected}. WARNING: {warning}"' in run.output
    once = stage.deploy(extra_vars=dict(vars_, isvc_inherit_runtime_container="command_env"), callback="default")
    assert once.rc == 0, once.output[-4000:]
    assert f'"msg": "{expected}"' in once.output


def test_missing_pipeline_configmap_is_explained(kube, gitlab, simulator, namespace, model):
    stage = prepare_namespace(kube, gitlab, namespace, model_ns=model["model_ns"], repo=model["repo"], pipeline_secret=False)
    run = stage.deploy(extra_vars=stage.vars())
    assert run.rc != 0
    message = failure_message(run)
    assert "ConfigMap aml-image-builder-config does not exist in namespace " + namespace in message
    assert "kubectl create configmap aml-image-builder-config" in message


@pytest.mark.parametrize("broken, expected", [
    ("no-secret", ["Secret aml-image-builder-secret does not exist in namespace {ns}",
                   "kubectl create secret generic aml-image-builder-secret -n {ns} --from-literal=MODEL_REPO_GIT_TOKEN="]),
    ("no-base", ["ConfigMap aml-image-builder-config in namespace {ns} lacks the key MODEL_REPO_GIT_BASE",
                 "--from-literal=MODEL_REPO_GIT_BASE=gitlab.example.com"]),
    ("no-token", ["Secret aml-image-builder-secret in namespace {ns} lacks the key MODEL_REPO_GIT_TOKEN"]),
])
def test_incomplete_pipeline_configuration_is_explained_before_any_write(stage: Stage, broken, expected):
    core = kubernetes.client.CoreV1Api(stage.kube.api_client())
    if broken == "no-secret":
        core.delete_namespaced_secret("aml-image-builder-secret", stage.namespace)
    elif broken == "no-base":
        core.patch_namespaced_config_map("aml-image-builder-config", stage.namespace, {"data": {"MODEL_REPO_GIT_BASE": None}})
    else:
        core.patch_namespaced_secret("aml-image-builder-secret", stage.namespace, {"data": {"MODEL_REPO_GIT_TOKEN": None}})
    mark = stage.kube.audit_mark()
    stage.gitlab.reset_counters()
    run = stage.deploy(extra_vars=stage.vars())
    assert run.rc != 0
    message = failure_message(run)
    for text in expected:
        assert text.format(ns=stage.namespace) in message, message
    assert stage.token not in run.output
    assert writes(stage.kube.audit_events_since(mark), "aml-admin") == []
    assert stage.gitlab.request_count() == 0


def test_scheme_defaults_to_https_as_the_pipeline(stage: Stage):
    """Without MODEL_REPO_GIT_SCHEME the pipeline uses https: against the plain-HTTP emulator that must fail, naming
    the https address it tried."""
    core = kubernetes.client.CoreV1Api(stage.kube.api_client())
    core.patch_namespaced_config_map("aml-image-builder-config", stage.namespace, {"data": {"MODEL_REPO_GIT_SCHEME": None}})
    run = stage.deploy(extra_vars=stage.vars())
    assert run.rc != 0
    base = stage.gitlab.url.split("://", 1)[1]
    assert "https://" + base in failure_message(run), failure_message(run)


def test_token_absent_from_verbose_output(stage: Stage):
    run = stage.deploy(extra_vars=stage.vars(), callback="default", verbosity=4)
    assert run.rc == 0, run.output[-4000:]
    assert stage.token not in run.output
    assert base64.b64encode(stage.token.encode()).decode() not in run.output  # nor the Secret's own encoding of it


def test_the_apply_runs_kubernetes_core_in_the_worker_with_the_tasks_environment(stage: Stage, tmp_path):
    """kubernetes.core.k8s's module runs in the apply step's own worker: no module is shipped through the connection
    (one kept by ANSIBLE_KEEP_REMOTE_FILES would leave its AnsiballZ file), and the play's ``environment`` reaches it
    as it would reach a new process (here a proxy that refuses, so the apply alone fails)."""
    remote = tmp_path / "remote"
    vars_ = stage.vars()
    run = stage.deploy(extra_vars=vars_, env={"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": str(remote)})
    assert run.rc == 0, run.output[-4000:]
    assert stats(run)[f"{stage.namespace}/{vars_['isvc_name']}"]["ready"] is True
    assert sorted(p.name for p in remote.rglob("AnsiballZ_*")) == []

    playbook = tmp_path / "proxied.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "environment": {"K8S_AUTH_PROXY": "http://127.0.0.1:9"},  # the discard port: nothing listens
        "tasks": [{"name": "Deploy", "ansible.builtin.import_role": {"name": "aml.kserve.isvc", "rolespec_validate": False}}],
    }]))
    proxied = stage.vars()
    run = stage.deploy(extra_vars=proxied, playbook=playbook)
    assert run.rc == 2, run.output[-4000:]
    result = stats(run)[f"{stage.namespace}/{proxied['isvc_name']}"]
    assert result["failed"] is True and result["reason"] == "apply", result
    # the module's own crash, in its words (Ansible words a crash only when it shows a task)
    assert "Unable to connect to proxy" in result["message"] and "port=9" in result["message"], result["message"]
    assert stage.isvc(proxied["isvc_name"]) is None  # the reads before it went direct, as the worker's environment says


def test_a_kubeconfig_with_embedded_data_leaves_no_file_behind(stage: Stage, tmp_path):
    """The Kubernetes client writes a kubeconfig's ``*-data`` (a CA here; a client key as well in many kubeconfigs) to
    files it removes at its process's exit, which a task's worker never reaches: each step removes them itself."""
    kubeconfig = stage.kube.kubeconfig_dict(stage.kube.admin_token)
    cluster = kubeconfig["clusters"][0]["cluster"]
    cluster["certificate-authority-data"] = base64.b64encode(
        pathlib.Path(cluster.pop("certificate-authority")).read_bytes()).decode()
    path = tmp_path / "data.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    vars_ = stage.vars()
    run = stage.deploy(extra_vars=vars_, env={"K8S_AUTH_KUBECONFIG": str(path), "TMPDIR": str(scratch)})
    assert run.rc == 0, run.output[-4000:]
    assert stats(run)[f"{stage.namespace}/{vars_['isvc_name']}"]["ready"] is True
    # only kubernetes.core's discovery cache, which is meant to stay
    assert [p.name for p in scratch.iterdir() if not p.name.startswith("k8srcp-")] == []


def test_preflight_reports_every_cross_field_problem_before_any_request(stage: Stage):
    mark = stage.kube.audit_mark()
    stage.gitlab.reset_counters()
    bad = stage.vars(isvc_runtime_class="", isvc_model_repo_branch="main", isvc_model_repo_tag="v1.0",
                     isvc_nvidia_gpu="1", isvc_min_replicas=3, isvc_max_replicas=2)
    run = stage.deploy(extra_vars=bad)
    assert run.rc != 0
    message = failure_message(run)
    assert "Invalid role variables (4)" in message
    for text in ("isvc_runtime_name or isvc_runtime_class", "cannot both be set", "isvc_nvidia_gpu", "must not be less than"):
        assert text in message
    ours = [e for e in stage.kube.audit_events_since(mark)
            if e["user"]["username"] == "aml-admin" and "aml-kserve-simulator" not in e.get("userAgent", "")]
    assert ours == []
    assert stage.gitlab.request_count() == 0


def test_least_privilege_service_account(stage: Stage, tmp_path):
    from tests.harness.ansible import REPO_ROOT, run_playbook

    admin_env = {"K8S_AUTH_KUBECONFIG": str(stage.kube.kubeconfig)}
    rbac = run_playbook(REPO_ROOT / "playbooks" / "prepare_rbac.yml",
                        {"rbac_namespace": stage.namespace, "rbac_service_account": "deployer",
                         "rbac_create_runtime_view_cluster_role": True}, admin_env)
    assert rbac.rc == 0, rbac.output[-3000:]
    token = stage.kube.service_account_token(stage.namespace, "deployer")
    kubeconfig = stage.kube.write_kubeconfig(tmp_path / "deployer", token, "deployer")
    sa_env = {"K8S_AUTH_KUBECONFIG": str(kubeconfig)}

    vars_ = stage.vars()
    run = stage.deploy(extra_vars=vars_, env=sa_env)
    assert run.rc == 0, run.output[-4000:]
    assert stats(run)[f"{stage.namespace}/{vars_['isvc_name']}"]["ready"] is True

    # With less (no patch on InferenceServices) the apply fails, naming the missing permission.
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(stage.kube.api_client())
    role = rbac_api.read_namespaced_role("deploy-model", stage.namespace)
    for rule in role.rules:
        if "inferenceservices" in rule.resources:
            rule.verbs = [v for v in rule.verbs if v != "patch"]
    rbac_api.replace_namespaced_role("deploy-model", stage.namespace, role)
    run = stage.deploy(extra_vars=stage.vars(), env=sa_env)
    assert run.rc != 0
    message = failure_message(run)
    assert 'cannot patch resource \\"inferenceservices\\"' in message or 'cannot patch resource "inferenceservices"' in message
    assert f"system:serviceaccount:{stage.namespace}:deployer" in message


@pytest.mark.parametrize("host_ipc", [True, False])
def test_an_account_that_cannot_read_its_namespace_is_warned_that_host_ipc_was_not_checked(
        stage: Stage, tmp_path, host_ipc: bool):
    """Without get on the Namespace the Pod Security level is unknown: the deploy goes on, and says that hostIPC was
    not checked against it (only when the predictor asks for hostIPC)."""
    from tests.harness.ansible import REPO_ROOT, run_playbook

    rbac = run_playbook(REPO_ROOT / "playbooks" / "prepare_rbac.yml",
                        {"rbac_namespace": stage.namespace, "rbac_service_account": "deployer",
                         "rbac_create_runtime_view_cluster_role": True},
                        {"K8S_AUTH_KUBECONFIG": str(stage.kube.kubeconfig)})
    assert rbac.rc == 0, rbac.output[-3000:]
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(stage.kube.api_client())
    role = rbac_api.read_namespaced_role("deploy-model", stage.namespace)
    role.rules = [rule for rule in role.rules if "namespaces" not in rule.resources]
    rbac_api.replace_namespaced_role("deploy-model", stage.namespace, role)
    token = stage.kube.service_account_token(stage.namespace, "deployer")
    sa_env = {"K8S_AUTH_KUBECONFIG": str(stage.kube.write_kubeconfig(tmp_path / "deployer", token, "deployer"))}
    vars_ = dict(stage.vars(), isvc_host_ipc=host_ipc)

    run = stage.deploy(extra_vars=vars_, env=sa_env)
    assert run.rc == 0, run.output[-4000:]
    assert stats(run)[f"{stage.namespace}/{vars_['isvc_name']}"]["ready"] is True
    warning = f"the Pod Security level of namespace {stage.namespace} could not be read (no get on the Namespace)"
    assert (warning in run.output) is host_ipc, run.output[-4000:]


@pytest.mark.parametrize("granted", [False, True])
def test_least_privilege_pod_security_label(stage: Stage, tmp_path, granted: bool):
    """The account reads its namespace's Pod Security level with the rbac role's grants; labelling it privileged
    (isvc_manage_pod_security) needs rbac_allow_pod_security_label, and without it the 403 says so."""
    from tests.harness.ansible import REPO_ROOT, run_playbook

    core = kubernetes.client.CoreV1Api(stage.kube.api_client())
    core.patch_namespace(stage.namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    rbac = run_playbook(REPO_ROOT / "playbooks" / "prepare_rbac.yml",
                        {"rbac_namespace": stage.namespace, "rbac_service_account": "deployer",
                         "rbac_create_runtime_view_cluster_role": True, "rbac_allow_pod_security_label": granted},
                        {"K8S_AUTH_KUBECONFIG": str(stage.kube.kubeconfig)})
    assert rbac.rc == 0, rbac.output[-3000:]
    token = stage.kube.service_account_token(stage.namespace, "deployer")
    sa_env = {"K8S_AUTH_KUBECONFIG": str(stage.kube.write_kubeconfig(tmp_path / "deployer", token, "deployer"))}
    vars_ = stage.vars()

    refused = stage.deploy(extra_vars=vars_, env=sa_env)  # the level was read: hostIPC refused with the fix
    assert refused.rc != 0
    assert "enforces Pod Security level baseline" in failure_message(refused), failure_message(refused)

    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=dict(vars_, isvc_manage_pod_security=True), env=sa_env)
    labels = core.read_namespace(stage.namespace).metadata.labels
    if granted:
        assert run.rc == 0, run.output[-4000:]
        assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
        assert stats(run)[f"{stage.namespace}/{vars_['isvc_name']}"]["ready"] is True
    else:
        assert run.rc != 0
        message = failure_message(run)
        assert 'cannot patch resource \\"namespaces\\"' in message or 'cannot patch resource "namespaces"' in message, message
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert [e for e in writes(stage.kube.audit_events_since(mark)) if e["objectRef"].get("resource") == "inferenceservices"] == []
