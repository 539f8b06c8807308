"""The predictor container the KServe simulator writes into the Deployment, on the real apiserver: the runtime
found as KServe finds it (spec.predictor.model.runtime: a ServingRuntime of the namespace before a
ClusterServingRuntime of that name, GetServingRuntime in pkg/controller/v1beta1/inferenceservice/utils/utils.go) and
merged as MergeRuntimeContainers merges it (env by name, command replaced, args concatenated, the runtime's first)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.harness.kserve_simulator import KServeSimulator
from tests.integration.test_harness_simulator import GROUP, Api, make_isvc

RUNTIME_VERSION = "v1alpha1"


def runtime_body(kind: str, name: str, args: list[str], namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": f"{GROUP}/{RUNTIME_VERSION}",
        "kind": kind,
        "metadata": metadata,
        "spec": {
            "supportedModelFormats": [{"name": "transformers"}],
            "protocolVersions": ["v2"],
            "containers": [{
                "name": "kserve-container",
                "image": f"registry.local/{kind.lower()}:1",
                "command": ["python3", "-m", "runtime"],
                "args": args,
                "env": [{"name": "HF_HOME", "value": "/tmp/hf"}, {"name": "FROM", "value": kind}],
            }],
        },
    }


@pytest.fixture
def runtimes(api: Api, namespace: str) -> str:
    """A ClusterServingRuntime and a ServingRuntime of the namespace, of one name."""
    name = "rt-" + secrets.token_hex(4)
    api.custom.create_cluster_custom_object(GROUP, RUNTIME_VERSION, "clusterservingruntimes",
                                            runtime_body("ClusterServingRuntime", name, ["--cluster"]))
    api.custom.create_namespaced_custom_object(GROUP, RUNTIME_VERSION, namespace, "servingruntimes",
                                               runtime_body("ServingRuntime", name, ["--port=8080", "serve", "{{.Name}}"],
                                                            namespace))
    return name


@pytest.fixture
def api(kube: Any) -> Api:
    return Api(kube)


def predictor(api: Api, namespace: str, name: str) -> dict[str, Any]:
    [container] = api.deployment(namespace, name + "-predictor")["spec"]["template"]["spec"]["containers"]
    return container


def test_namespaced_runtime_merged_with_the_model_container(simulator: KServeSimulator, namespace: str, api: Api,
                                                            runtimes: str) -> None:
    isvc = make_isvc(namespace, "merged", runtime=runtimes)
    isvc["spec"]["predictor"]["model"].update({
        "command": ["vllm", "serve"],
        "args": ["--port=8080", "--extra"],
        "env": [{"name": "NEW", "value": "1"}, {"name": "FROM", "value": "isvc"}],
    })
    api.create(isvc)
    simulator.wait_for(namespace, "merged", "ready")
    assert api.get(namespace, "merged")["status"]["servingRuntimeName"] == runtimes
    container = predictor(api, namespace, "merged")
    assert container["image"] == "registry.local/servingruntime:1"  # the namespace's runtime, not the cluster's
    assert container["command"] == ["vllm", "serve"]  # replaced
    # concatenated, the runtime's first, placeholders filled in; the repeated --port stays repeated
    assert container["args"] == ["--port=8080", "serve", "merged", "--port=8080", "--extra"]
    # merged by name: FROM overridden in place, NEW (new) before the runtime's remaining HF_HOME, as a strategic merge
    assert container["env"] == [{"name": "NEW", "value": "1"}, {"name": "HF_HOME", "value": "/tmp/hf"},
                                {"name": "FROM", "value": "isvc"}]


def test_cluster_runtime_when_the_namespace_has_none(simulator: KServeSimulator, namespace: str, api: Api,
                                                     runtimes: str) -> None:
    api.custom.delete_namespaced_custom_object(GROUP, RUNTIME_VERSION, namespace, "servingruntimes", runtimes)
    api.create(make_isvc(namespace, "plain", runtime=runtimes))
    simulator.wait_for(namespace, "plain", "ready")
    assert api.get(namespace, "plain")["status"]["clusterServingRuntimeName"] == runtimes
    container = predictor(api, namespace, "plain")
    assert (container["image"], container["command"], container["args"]) == (
        "registry.local/clusterservingruntime:1", ["python3", "-m", "runtime"], ["--cluster"])
    assert container["env"] == [{"name": "HF_HOME", "value": "/tmp/hf"}, {"name": "FROM", "value": "ClusterServingRuntime"}]
