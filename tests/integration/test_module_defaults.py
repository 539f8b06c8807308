"""The connection set only through ``module_defaults`` on the action groups ``aml.kserve.kubernetes`` and
``aml.kserve.gitlab`` reaches the modules, which run as action plugins on the controller, and kubernetes.core's
(no K8S_AUTH_* or GITLAB_* in the environment)."""

from __future__ import annotations

import json
import secrets

import kubernetes.client
import yaml

from tests.harness.ansible import run_playbook
from tests.harness.gitlab_emulator import GitLabEmulator
from tests.integration.roles_support import RUNTIME_CLASS, create_runtime


def test_connection_only_from_module_defaults(kube, gitlab, namespace, tmp_path):
    # An identity of its own, so the audit log shows which kubeconfig the modules used
    account = "defaults-" + secrets.token_hex(3)
    token = kube.service_account_token(namespace, account)
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client())
    rbac.create_cluster_role_binding({
        "metadata": {"name": f"{namespace}-{account}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", token, account)

    runtime_class = RUNTIME_CLASS + "-" + secrets.token_hex(3)
    runtime = "md-" + secrets.token_hex(3)
    create_runtime(kube, runtime, ["transformers"], runtime_class=runtime_class)
    kubernetes.client.CustomObjectsApi(kube.api_client()).create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices",
        {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "svc"},
         "spec": {"predictor": {"model": {"modelFormat": {"name": "transformers"}, "storageUri": "hf://x/y:z"}}}})
    group = "md-" + secrets.token_hex(3)
    gitlab.create_project(f"{group}/qwen2-7b",
                          files={"README.md": GitLabEmulator.model_readme("text-generation", "transformers")})
    gitlab_token = sorted(gitlab.tokens)[0]
    results = tmp_path / "results.json"

    playbook = tmp_path / "playbook.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Connection from module_defaults only",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        # One set of defaults per group, side by side for the whole play, as a user sets them
        "module_defaults": {"group/aml.kserve.kubernetes": {"kubeconfig": str(kubeconfig)},
                            "group/aml.kserve.gitlab": {"api_url": gitlab.url, "api_token": gitlab_token}},
        "tasks": [
            {"name": "Runtime", "register": "runtime",
             "aml.kserve.serving_runtime_info": {"runtime_class": runtime_class, "model_format": "transformers"}},
            {"name": "Service", "register": "service",
             "aml.kserve.inference_service_info": {"name": "svc", "namespace": namespace}},
            # the group extends kubernetes.core's k8s group: its modules take the same defaults
            {"name": "kubernetes.core", "register": "core",
             "kubernetes.core.k8s_info": {"kind": "Namespace", "name": namespace}},
            {"name": "Render", "register": "rendered",
             "aml.kserve.inference_service": {"name": "svc", "namespace": namespace, "model": {
                 "repo": "qwen2-7b", "project_id": 1, "group": group, "subgroup": "", "branch": "main", "revision": "x",
                 "pipeline_tag": "text-generation", "library_name": "transformers"},
                 "runtime": {"name": runtime, "runtime_class": runtime_class, "container": {}}}},
            {"name": "Model", "register": "model",
             "aml.kserve.gitlab_model_ref": {"repo": "qwen2-7b", "search_namespace": group, "retries": 1, "timeout": 5}},
            {"name": "Results", "ansible.builtin.copy": {
                "dest": str(results), "mode": "0600",
                "content": "{{ {'runtime': runtime, 'service': service, 'model': model, 'core': core} | to_json }}"}},
        ],
    }], sort_keys=False))

    mark = kube.audit_mark()
    gitlab.reset_counters()
    # ansible_env drops every K8S_AUTH_* and GITLAB_*; KUBECONFIG points nowhere, so no default kubeconfig is found
    run = run_playbook(playbook, env={"KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}, verbosity=4)
    assert run.rc == 0, run.output[-5000:]
    assert "ESTABLISH LOCAL CONNECTION" in run.output  # -vvvv took effect
    assert gitlab_token not in run.output
    found = json.loads(results.read_text())
    assert gitlab_token not in results.read_text()

    assert found["core"]["resources"][0]["metadata"]["name"] == namespace
    assert found["runtime"]["runtime"]["name"] == runtime
    assert found["runtime"]["runtime"]["runtime_class"] == runtime_class
    assert found["service"]["inference_service"]["name"] == "svc"
    assert found["service"]["inference_service"]["namespace"] == namespace
    model = found["model"]
    assert (model["repo"], model["project_path"], model["group"]) == ("qwen2-7b", f"{group}/qwen2-7b", group)
    assert (model["pipeline_tag"], model["library_name"]) == ("text-generation", "transformers")
    assert len(model["commit_id"]) == 40
    assert gitlab.request_count("/api/v4/") >= 3  # search, branch, README: with the token the emulator accepts

    # Every Kubernetes request the modules made came from the kubeconfig given in module_defaults
    user = f"system:serviceaccount:{namespace}:{account}"
    mine = [(e["verb"], e["objectRef"]["resource"]) for e in kube.audit_events_since(mark)
            if e["user"]["username"] == user and e.get("objectRef")]
    assert ("list", "clusterservingruntimes") in mine, mine
    assert ("list", "inferenceservices") in mine, mine
    assert ("get", "namespaces") in mine, mine
