"""aml.kserve.serving_runtime_info against the real apiserver, run by ansible."""

from __future__ import annotations

import secrets
from typing import Any

import kubernetes.client
import pytest

from tests.harness.ansible import run_module

ENV_WITH_VALUE_FROM = [
    {"name": "HF_HOME", "value": "/tmp/hf"},
    {"name": "EMPTY", "value": ""},
    {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token", "optional": True}}},
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
]
ARGS = ["--port=8080", "--served-model-name={{.Name}}", "--model={{ .Name }}/weights", "{%raw%}"]


def runtime_body(kind: str, name: str, runtime_class: str, formats: list[str], disabled: bool = False,
                 namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"cpaas.io/runtime-class": runtime_class}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": kind, "metadata": metadata,
        "spec": {"disabled": disabled, "supportedModelFormats": [{"name": f, "version": "1", "autoSelect": True} for f in formats],
                 "protocolVersions": ["v2", "grpc-v2"],
                 "containers": [{"name": "kserve-container", "image": f"registry.local/{name}:1",
                                 "command": ["python3", "-m", "server"], "args": ARGS, "env": ENV_WITH_VALUE_FROM}]},
    }


@pytest.fixture(scope="module")
def runtimes(kube) -> dict[str, str]:
    cls = "cls-" + secrets.token_hex(3)
    api = kube.dynamic_client().resources.get(api_version="serving.kserve.io/v1alpha1", kind="ClusterServingRuntime")
    names = {"a": f"a-{cls}-onnx", "b": f"b-{cls}-disabled", "c": f"c-{cls}-vllm", "d": f"d-{cls}-vllm"}
    api.create(body=runtime_body("ClusterServingRuntime", names["a"], cls, ["onnx"]))
    api.create(body=runtime_body("ClusterServingRuntime", names["b"], cls, ["transformers"], disabled=True))
    api.create(body=runtime_body("ClusterServingRuntime", names["d"], cls, ["transformers", "vllm"]))
    api.create(body=runtime_body("ClusterServingRuntime", names["c"], cls, ["transformers"]))
    api.create(body=runtime_body("ClusterServingRuntime", f"other-{cls}", "other-" + cls, ["transformers"]))
    return dict(names, cls=cls)


def test_by_class_skips_unfit_and_disabled_runtimes_deterministically(kube, kube_env, runtimes):
    run = run_module("serving_runtime_info", {"runtime_class": runtimes["cls"], "model_format": "transformers"}, kube_env)
    assert run.rc == 0, run.output
    runtime = run.result["runtime"]
    assert runtime["name"] == runtimes["c"]  # a: onnx only, b: disabled, c: first fit by name
    assert runtime["kind"] == "ClusterServingRuntime" and runtime["runtime_class"] == runtimes["cls"]
    assert runtimes["a"] + " (supports onnx)" in run.result["choice"]
    assert runtimes["b"] + " (disabled)" in run.result["choice"]
    assert [f["name"] for f in runtime["supported_model_formats"]] == ["transformers"]
    assert runtime["protocol_versions"] == ["v2", "grpc-v2"]
    assert runtime["disabled"] is False
    assert run.result["changed"] is False


def test_container_is_copied_whole_and_byte_for_byte(kube, kube_env, runtimes):
    run = run_module("serving_runtime_info", {"name": runtimes["c"], "model_format": "transformers"}, kube_env)
    assert run.rc == 0, run.output
    container = run.result["runtime"]["container"]
    assert container["args"] == ARGS
    assert container["env"] == ENV_WITH_VALUE_FROM
    assert container["command"] == ["python3", "-m", "server"]
    assert (container["name"], container["image"]) == ("kserve-container", f"registry.local/{runtimes['c']}:1")


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"name": "no-such-runtime"}, "ClusterServingRuntime 'no-such-runtime' not found"),
        ({"runtime_class": "no-such-class"}, "No ClusterServingRuntime has the label cpaas.io/runtime-class=no-such-class"),
        ({"runtime_class": "{cls}", "model_format": "sklearn"}, "No enabled ClusterServingRuntime of class '{cls}' supports the model format 'sklearn'"),
        ({"name": "{a}", "model_format": "transformers"}, "does not support the model format 'transformers' (the README's library_name); it supports: onnx"),
        ({"name": "{b}"}, "is disabled"),
        ({"name": "{c}", "runtime_class": "vllm-other"}, "has runtime class '{cls}' (label cpaas.io/runtime-class), but runtime_class 'vllm-other'"),
        ({"model_format": "x"}, "one of the following is required: name, runtime_class"),
        ({"kind": "ServingRuntime", "name": "x"}, "kind is ServingRuntime but all of the following are missing: namespace"),
    ],
)
def test_errors(kube, kube_env, runtimes, params, expected):
    params = {k: v.format(**runtimes) for k, v in params.items()}
    run = run_module("serving_runtime_info", params, kube_env)
    assert run.rc != 0 and run.result.get("failed")
    assert expected.format(**runtimes) in run.result["msg"]


def test_namespaced_serving_runtime(kube, kube_env, namespace):
    api = kube.dynamic_client().resources.get(api_version="serving.kserve.io/v1alpha1", kind="ServingRuntime")
    api.create(body=runtime_body("ServingRuntime", "team-runtime", "team", ["transformers"], namespace=namespace), namespace=namespace)
    run = run_module("serving_runtime_info", {"kind": "ServingRuntime", "namespace": namespace, "runtime_class": "team",
                                              "model_format": "transformers"}, kube_env)
    assert run.rc == 0, run.output
    assert (run.result["runtime"]["name"], run.result["runtime"]["kind"], run.result["runtime"]["namespace"]) == (
        "team-runtime", "ServingRuntime", namespace)


def test_caller_with_only_get_list_watch_on_clusterservingruntimes(kube, runtimes, tmp_path):
    """The pipeline's ClusterRoleBinding grants exactly this; the module needs no more."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client())
    role = "csr-view-" + secrets.token_hex(3)
    rbac.create_cluster_role({"metadata": {"name": role}, "rules": [
        {"apiGroups": ["serving.kserve.io"], "resources": ["clusterservingruntimes"], "verbs": ["get", "list", "watch"]}]})
    kubeconfig = kube.write_kubeconfig(tmp_path / "bob", kube.user_tokens["bob"], "bob")
    env = {"K8S_AUTH_KUBECONFIG": str(kubeconfig)}
    denied = run_module("serving_runtime_info", {"runtime_class": runtimes["cls"], "model_format": "transformers"}, env)
    assert denied.rc != 0
    assert 'User "bob" cannot list resource "clusterservingruntimes"' in denied.result["msg"]
    assert "Forbidden while listing ClusterServingRuntime" in denied.result["msg"]

    rbac.create_cluster_role_binding({"metadata": {"name": role}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "ClusterRole", "name": role},
                                      "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]})
    allowed = run_module("serving_runtime_info", {"runtime_class": runtimes["cls"], "model_format": "transformers"}, env)
    assert allowed.rc == 0, allowed.output
    assert allowed.result["runtime"]["name"] == runtimes["c"]


def test_tls_is_verified(kube, tmp_path, runtimes):
    """A kubeconfig with another CA is refused: TLS verification is never skipped."""
    config = kube.kubeconfig_dict(kube.admin_token)
    wrong_ca = tmp_path / "other-ca.crt"
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(wrong_ca), "-days", "1", "-subj", "/CN=other"], check=True, capture_output=True)
    config["clusters"][0]["cluster"]["certificate-authority"] = str(wrong_ca)
    import yaml
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    run = run_module("serving_runtime_info", {"name": runtimes["c"]}, {"K8S_AUTH_KUBECONFIG": str(path)})
    assert run.rc != 0
    assert "CERTIFICATE_VERIFY_FAILED" in run.result["msg"] or "certificate verify failed" in run.result["msg"]


def _grant_runtime_view(kube: Any, user: str) -> tuple[str, Any]:
    """A ClusterRole with get/list/watch on clusterservingruntimes only, bound to ``user``; returns (name, rbac api)."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.api_client())
    role = "csr-view-" + secrets.token_hex(3)
    rbac.create_cluster_role({"metadata": {"name": role}, "rules": [
        {"apiGroups": ["serving.kserve.io"], "resources": ["clusterservingruntimes"], "verbs": ["get", "list", "watch"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": role}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": "ClusterRole", "name": role},
                                      "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    return role, rbac


def test_caller_with_only_get_list_watch_on_clusterservingruntimes_by_name(kube, runtimes, tmp_path):
    """The by-name path (a get, not a list) works with the same restricted grant."""
    role, rbac = _grant_runtime_view(kube, "bob")
    try:
        kubeconfig = kube.write_kubeconfig(tmp_path / "bob", kube.user_tokens["bob"], "bob")
        mark = kube.audit_mark()
        run = run_module("serving_runtime_info", {"name": runtimes["d"], "model_format": "vllm"},
                         {"K8S_AUTH_KUBECONFIG": str(kubeconfig)})
        assert run.rc == 0, run.output
        runtime = run.result["runtime"]
        assert (runtime["name"], runtime["kind"], runtime["runtime_class"]) == (
            runtimes["d"], "ClusterServingRuntime", runtimes["cls"])
        assert [f["name"] for f in runtime["supported_model_formats"]] == ["transformers", "vllm"]
        assert run.result["choice"] == f"ClusterServingRuntime {runtimes['d']!r} by name"
        requests = [(e["verb"], e["objectRef"].get("resource"), e["objectRef"].get("name"), e["responseStatus"]["code"])
                    for e in kube.audit_events_since(mark)
                    if e["user"]["username"] == "bob" and e.get("objectRef", {}).get("resource")]
        assert requests == [("get", "clusterservingruntimes", runtimes["d"], 200)], requests
    finally:
        rbac.delete_cluster_role_binding(role)
        rbac.delete_cluster_role(role)


@pytest.mark.parametrize(
    "by, verb, what",
    [("name", "get", "reading ClusterServingRuntime {d}"), ("runtime_class", "list", "listing ClusterServingRuntime")],
)
def test_caller_without_the_grant_gets_a_clear_403(kube, runtimes, tmp_path, by, verb, what):
    """alice has no grant at all: the message names the user, the verb, the resource and what was being done."""
    params = {"name": runtimes["d"]} if by == "name" else {"runtime_class": runtimes["cls"]}
    kubeconfig = kube.write_kubeconfig(tmp_path / "alice", kube.user_tokens["alice"], "alice")
    run = run_module("serving_runtime_info", dict(params, model_format="transformers"), {"K8S_AUTH_KUBECONFIG": str(kubeconfig)})
    assert run.rc != 0 and run.result.get("failed")
    message = run.result["msg"]
    assert f'User "alice" cannot {verb} resource "clusterservingruntimes" in API group "serving.kserve.io"' in message
    assert f"Forbidden while {what.format(**runtimes)}" in message
    assert "Grant that permission to the identity Ansible uses" in message
    assert run.result.get("status") == 403
