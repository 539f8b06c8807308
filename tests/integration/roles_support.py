"""What the role and playbook tests share: a seeded model, a runtime, a namespace prepared as the pipeline
expects (ConfigMap + Secret pointing at the GitLab emulator), and a way to run playbooks and read results."""

from __future__ import annotations

import base64
import json
import pathlib
import secrets
from dataclasses import dataclass
from typing import Any

import kubernetes.client

from tests.harness.ansible import REPO_ROOT, PlaybookRun, run_playbook
from tests.harness.gitlab_emulator import GitLabEmulator

DEPLOY = REPO_ROOT / "playbooks" / "deploy.yml"
UNDEPLOY = REPO_ROOT / "playbooks" / "undeploy.yml"
SCENARIO = "aml.kserve.test/scenario"
READY_AFTER = "aml.kserve.test/ready-after"

RUNTIME_CLASS = "vllm"


def create_runtime(kube: Any, name: str, formats: list[str], runtime_class: str = RUNTIME_CLASS, disabled: bool = False) -> None:
    runtimes = kube.dynamic_client().resources.get(api_version="serving.kserve.io/v1alpha1", kind="ClusterServingRuntime")
    runtimes.create(body={
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": name, "labels": {"cpaas.io/runtime-class": runtime_class}},
        "spec": {
            "disabled": disabled,
            "supportedModelFormats": [{"name": f, "version": "1"} for f in formats],
            "protocolVersions": ["v2"],
            "containers": [{
                "name": "kserve-container",
                "image": "vllm/vllm-openai:v0.8.5",
                "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                "args": ["--port=8080", "--served-model-name={{.Name}}"],
                "env": [{"name": "HF_HOME", "value": "/tmp/hf"},
                        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token", "optional": True}}}],
            }],
        },
    })


@dataclass
class Stage:
    """A namespace ready for the deploy role, and the model it deploys."""

    kube: Any
    gitlab: GitLabEmulator
    namespace: str
    repo: str
    project_path: str
    runtime: str
    token: str

    def vars(self, **extra: Any) -> dict[str, Any]:
        values = {
            "isvc_name": "svc-" + secrets.token_hex(3),
            "isvc_namespace": self.namespace,
            "isvc_model_repo": self.repo,
            "isvc_runtime_class": RUNTIME_CLASS,
            "isvc_annotations": {READY_AFTER: "0.3"},
        }
        values.update(extra)
        return values

    def deploy(self, *, env: dict[str, str] | None = None, callback: str = "ansible.posix.json", **kwargs: Any) -> PlaybookRun:
        extra_vars = kwargs.pop("extra_vars")
        run_env = {"K8S_AUTH_KUBECONFIG": str(self.kube.kubeconfig), "ANSIBLE_STDOUT_CALLBACK": callback,
                   "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_SHOW_CUSTOM_STATS": "1"}
        run_env.update(env or {})
        return run_playbook(kwargs.pop("playbook", DEPLOY), extra_vars, run_env, **kwargs)

    def isvc(self, name: str) -> dict[str, Any] | None:
        api = kubernetes.client.CustomObjectsApi(self.kube.api_client())
        try:
            return api.get_namespaced_custom_object("serving.kserve.io", "v1beta1", self.namespace, "inferenceservices", name)
        except kubernetes.client.ApiException as err:
            if err.status == 404:
                return None
            raise


def prepare_namespace(kube: Any, gitlab: GitLabEmulator, namespace: str, *, model_ns: str, repo: str,
                      pipeline_secret: bool = True) -> Stage:
    core = kubernetes.client.CoreV1Api(kube.api_client())
    token = sorted(gitlab.tokens)[0]
    if pipeline_secret:
        scheme, base = gitlab.url.split("://", 1)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "aml-image-builder-config"},
                                                      "data": {"MODEL_REPO_GIT_BASE": base, "MODEL_REPO_GIT_SCHEME": scheme}})
        core.create_namespaced_secret(namespace, {"metadata": {"name": "aml-image-builder-secret"},
                                                  "data": {"MODEL_REPO_GIT_TOKEN": base64.b64encode(token.encode()).decode()}})
    return Stage(kube, gitlab, namespace, repo, f"{model_ns}/{repo}", "", token)


def stats(run: PlaybookRun) -> dict[str, Any]:
    """``isvc_results`` published with set_stats, from the json callback's output."""
    return document(run).get("global_custom_stats", {}).get("isvc_results", {})


def document(run: PlaybookRun) -> dict[str, Any]:
    text = run.output
    start = text.find("{\n")
    if start < 0:
        raise AssertionError("no JSON document in the output:\n" + text[-3000:])
    decoder = json.JSONDecoder()
    doc, _end = decoder.raw_decode(text[start:])
    return doc


def task_results(run: PlaybookRun, task_name: str) -> list[dict[str, Any]]:
    found = []
    for play in document(run).get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] == task_name:
                found.extend(task["hosts"].values())
    return found


def failure_message(run: PlaybookRun) -> str:
    """The message of the last failed task: the role's shared steps keep (ignore) a failure as its service's outcome,
    and the service's host fails with it at the end."""
    found = ""
    for play in document(run).get("plays", []):
        for task in play.get("tasks", []):
            for result in task["hosts"].values():
                if result.get("failed") and not result.get("skipped"):
                    found = str(result.get("msg", ""))
    return found


def recap(run: PlaybookRun) -> dict[str, int]:
    return document(run)["stats"].get("localhost", {})


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path
