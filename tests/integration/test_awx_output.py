"""What machines read: the json callback's stdout is one JSON document (the wait's progress lines go to stderr), and
AWX's own runner (ansible-runner) sees the progress as job events and the published results in ``playbook_on_stats``'s
``artifact_data``, for a deploy and a batch, on success and on failure."""

from __future__ import annotations

import json
import pathlib
import re
import secrets
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.harness.ansible import REPO_ROOT, ansible_env
from tests.harness.gitlab_emulator import GitLabEmulator
from tests.integration.roles_support import DEPLOY, READY_AFTER, SCENARIO, Stage, create_runtime, prepare_namespace

BATCH = REPO_ROOT / "playbooks" / "batch_deploy.yml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(gitlab: GitLabEmulator, kube) -> dict[str, str]:
    model_ns = "amlmodels/awx-" + secrets.token_hex(3)
    # a name of its own: test_role_isvc searches all of amlmodels for qwen2-7b and refuses to guess between two
    gitlab.create_project(f"{model_ns}/awx-qwen2-7b", files={"README.md": GitLabEmulator.model_readme("text-generation", "transformers")})
    runtime_class = "awx-" + secrets.token_hex(2)
    create_runtime(kube, "awx-vllm-" + secrets.token_hex(2), ["transformers"], runtime_class=runtime_class)
    return {"model_ns": model_ns, "repo": "awx-qwen2-7b", "runtime_class": runtime_class}


@pytest.fixture
def stage(kube, gitlab, simulator, namespace, model) -> Stage:
    return prepare_namespace(kube, gitlab, namespace, model_ns=model["model_ns"], repo=model["repo"])


def service_vars(stage: Stage, model: dict[str, str], **extra: Any) -> dict[str, Any]:
    return stage.vars(isvc_runtime_class=model["runtime_class"], isvc_model_search_namespace=model["model_ns"], **extra)


PROGRESS = re.compile(r"^(?P<ns>[a-z0-9-]+)/(?P<name>[a-z0-9-]+): \d+\.\ds ", re.M)


# -- the json callback: stdout is one document ---------------------------------------------------------------------


def _playbook(stage: Stage, extra_vars: dict[str, Any], callback: str, **env: str) -> subprocess.CompletedProcess:
    run_env = ansible_env({"K8S_AUTH_KUBECONFIG": str(stage.kube.kubeconfig), "ANSIBLE_STDOUT_CALLBACK": callback,
                           "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", **env})
    argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(DEPLOY),
            "-e", json.dumps(extra_vars)]
    return subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, check=False)


def test_json_callback_stdout_parses_whole_with_the_progress_on_stderr(stage, model):
    vars_ = service_vars(stage, model, isvc_annotations={READY_AFTER: "1.5"})
    proc = _playbook(stage, vars_, "ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    document = json.loads(proc.stdout)  # the whole of stdout, nothing before or after
    key = f"{stage.namespace}/{vars_['isvc_name']}"
    assert document["global_custom_stats"]["isvc_results"][key]["ready"] is True
    assert document["stats"]["localhost"]["failures"] == 0
    # one wait task for the play batch, an item per cluster and wait rules: here one item, this service's
    wait = [result for play in document["plays"] for task in play["tasks"]
            if task["task"]["name"].endswith("Wait for Ready and the rollout of its deployments")
            for result in task["hosts"]["localhost"]["results"]]
    assert len(wait) == 1 and [s["ready"] for s in wait[0]["inference_services"]] == [True]
    assert wait[0]["progress"][-1].endswith(f" {key}: Ready and rolled out"), wait[0]["progress"]
    # The progress lines, live, on stderr: the same lines as the result's progress ("1.5s ns/name: ..."), in order.
    shown = [line for line in proc.stderr.splitlines() if PROGRESS.match(line)]
    assert ([line.split(": ", 1)[1] for line in shown] == [line.replace(f" {key}:", "", 1) for line in wait[0]["progress"]]
            and len(shown) >= 2), proc.stderr
    assert all(line.startswith(f"{key}: ") for line in proc.stderr.splitlines() if PROGRESS.match(line))
    assert not PROGRESS.search(proc.stdout.replace('"', "\n"))  # quoted inside the result only, never a bare line


@pytest.mark.parametrize("result_format", ["json", "yaml"])
def test_default_callback_shows_the_progress_on_stderr(stage, model, result_format):
    vars_ = service_vars(stage, model, isvc_annotations={READY_AFTER: "1.0"})
    proc = _playbook(stage, vars_, "default", ANSIBLE_CALLBACK_RESULT_FORMAT=result_format)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    key = f"{stage.namespace}/{vars_['isvc_name']}"
    shown = [line for line in proc.stderr.splitlines() if PROGRESS.match(line)]
    assert shown and all(line.startswith(f"{key}: ") for line in shown), proc.stderr
    assert "Ready" in shown[-1]
    assert not PROGRESS.search(proc.stdout)
    assert "TASK [aml.kserve.isvc : Wait for Ready and the rollout of its deployments]" in proc.stdout
    assert re.search(r"^localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", proc.stdout, re.M), proc.stdout[-2000:]


# -- ansible-runner, as AWX runs a job -----------------------------------------------------------------------------


def _runner(tmp_path: pathlib.Path, playbook: pathlib.Path, kube, extra_vars: dict[str, Any],
            inventory: dict[str, Any] | None = None) -> Any:
    import ansible_runner

    # Only what the job needs (ansible-runner writes envvars under private_data_dir, as AWX's credentials do).
    full = ansible_env({"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)})
    env = {k: v for k, v in full.items() if k.startswith(("ANSIBLE_", "K8S_AUTH_")) or k == "PATH"}
    (tmp_path / "runner").mkdir()
    return ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), playbook=str(playbook), extravars=extra_vars, envvars=env,
        inventory=inventory or {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}},
        quiet=True, timeout=600,
    )


def _artifact_data(run: Any) -> dict[str, Any]:
    stats = [event for event in run.events if event["event"] == "playbook_on_stats"]
    assert len(stats) == 1, [event["event"] for event in run.events]
    return stats[0]["event_data"]["artifact_data"]


def _artifacts_text(tmp_path: pathlib.Path) -> str:
    """Everything ansible-runner wrote (events, stdout, the command): what AWX stores for the job."""
    return "\n".join(path.read_text(errors="replace") for path in (tmp_path / "runner").rglob("*") if path.is_file())


def test_runner_deploy_publishes_the_result_and_shows_progress(stage, model, tmp_path):
    vars_ = service_vars(stage, model, isvc_annotations={READY_AFTER: "1.5"})
    run = _runner(tmp_path, DEPLOY, stage.kube, vars_)
    assert (run.status, run.rc) == ("successful", 0), run.stdout.read()[-4000:]
    key = f"{stage.namespace}/{vars_['isvc_name']}"
    result = _artifact_data(run)["isvc_results"][key]
    assert (result["name"], result["namespace"], result["ready"]) == (vars_["isvc_name"], stage.namespace, True)
    assert result["in_cluster_endpoint"] == f"http://{vars_['isvc_name']}-predictor.{stage.namespace}.svc.cluster.local"
    assert re.fullmatch(r"[0-9a-f]{40}", result["commit_id"]) and "failed" not in result
    # The progress lines are job events of their own (what AWX's job output shows while the wait runs).
    progress = [event["stdout"] for event in run.events if event["event"] == "verbose" and PROGRESS.match(event.get("stdout", ""))]
    assert len(progress) >= 2 and all(line.startswith(key + ": ") for line in progress), progress
    assert "Ready" in progress[-1]
    assert stage.token not in _artifacts_text(tmp_path)


@pytest.mark.parametrize("case", ["fail-load", "gitlab", "input"])
def test_runner_failed_deploy_publishes_which_service_failed_and_why(stage, model, tmp_path, case):
    if case == "fail-load":
        vars_ = service_vars(stage, model, isvc_annotations={SCENARIO: "fail-load"})
        reason, message = "the wait's", f"InferenceService {stage.namespace}/{vars_['isvc_name']} failed: "
    elif case == "gitlab":
        vars_ = service_vars(stage, model, isvc_model_repo="no-such-model")
        reason, message = "gitlab", "No project named 'no-such-model'"
    else:
        vars_ = service_vars(stage, model, isvc_min_replicas=3, isvc_max_replicas=1)
        reason, message = "input", "isvc_max_replicas (1) must not be less than isvc_min_replicas (3)"
    run = _runner(tmp_path, DEPLOY, stage.kube, vars_)
    assert (run.status, run.rc) == ("failed", 2), run.stdout.read()[-4000:]
    key = f"{stage.namespace}/{vars_['isvc_name']}"
    assert list(_artifact_data(run)["isvc_results"]) == [key]
    result = _artifact_data(run)["isvc_results"][key]
    # The role's shared steps keep a service's failure as its outcome (ignore_errors: the batch's other services go
    # on); what fails the host is its own summary, once, with the step's own message.
    failures = [event["event_data"] for event in run.events
                if event["event"] == "runner_on_failed" and not event["event_data"].get("ignore_errors")]
    if reason == "the wait's":  # KServe's reason, as the wait reported it
        items = [event["event_data"]["res"] for event in run.events if event["event"] == "runner_item_on_failed"
                 and event["event_data"]["task"] == "Wait for Ready and the rollout of its deployments"]
        assert len(items) == 1 and items[0]["reason"] not in ("", None, "timeout"), items
        reason = items[0]["reason"]
    assert {k: result[k] for k in ("name", "namespace", "failed", "ready", "reason")} == {
        "name": vars_["isvc_name"], "namespace": stage.namespace, "failed": True, "ready": False, "reason": reason}
    assert message in result["message"], result["message"]
    assert [(f["task"], f["res"]["msg"]) for f in failures] == [("Summary", result["message"])]
    assert stage.isvc(vars_["isvc_name"]) is None if case != "fail-load" else stage.isvc(vars_["isvc_name"]) is not None
    assert stage.token not in _artifacts_text(tmp_path)


def test_runner_batch_publishes_every_service_on_failure(kube, gitlab, simulator, namespace, model, tmp_path):
    stage = prepare_namespace(kube, gitlab, namespace, model_ns=model["model_ns"], repo=model["repo"])
    hosts = {"good": {}, "bad": {"isvc_annotations": {SCENARIO: "fail-load"}}}
    inventory = {"all": {"children": {"isvc": {
        "hosts": {name: dict({"isvc_model_repo": model["repo"]}, **extra) for name, extra in hosts.items()},
        "vars": {"ansible_connection": "local", "isvc_namespace": namespace, "isvc_runtime_class": model["runtime_class"],
                 "isvc_model_search_namespace": model["model_ns"], "isvc_annotations": {READY_AFTER: "0.3"}}}}}}
    run = _runner(tmp_path, BATCH, kube, {"isvc_batch_report_dir": str(tmp_path / "report")}, inventory)
    assert run.status == "failed", run.stdout.read()[-4000:]
    outcomes = {o["service"]: o for o in _artifact_data(run)["isvc_batch_results"]}
    assert sorted(outcomes) == ["bad", "good"]
    assert (outcomes["good"]["result"], outcomes["good"]["namespace"]) == ("ok", namespace)
    assert outcomes["good"]["endpoint"].startswith("http")
    assert outcomes["bad"]["result"] == "failed"
    assert f"InferenceService {namespace}/bad failed" in outcomes["bad"]["reason"], outcomes["bad"]
    assert json.loads((tmp_path / "report" / "report.json").read_text())["services"] == _artifact_data(run)["isvc_batch_results"]
    assert stage.token not in _artifacts_text(tmp_path)


def test_runner_batch_publishes_on_success(kube, gitlab, simulator, namespace, model, tmp_path):
    stage = prepare_namespace(kube, gitlab, namespace, model_ns=model["model_ns"], repo=model["repo"])
    batch = [{"isvc_name": name, "isvc_namespace": namespace, "isvc_model_repo": model["repo"],
              "isvc_runtime_class": model["runtime_class"], "isvc_model_search_namespace": model["model_ns"],
              "isvc_annotations": {READY_AFTER: "0.3"}} for name in ("one", "two")]
    run = _runner(tmp_path, BATCH, kube, {"isvc_batch": batch, "isvc_batch_report_dir": str(tmp_path / "report")})
    assert (run.status, run.rc) == ("successful", 0), run.stdout.read()[-4000:]
    outcomes = _artifact_data(run)["isvc_batch_results"]
    assert [(o["service"], o["namespace"], o["result"]) for o in outcomes] == [("one", namespace, "ok"), ("two", namespace, "ok")]
    assert all(re.fullmatch(r"[0-9a-f]{40}", o["commit"]) for o in outcomes)
    assert stage.token not in _artifacts_text(tmp_path)
    assert yaml.safe_load((tmp_path / "report" / "report.json").read_text())["services"] == outcomes
