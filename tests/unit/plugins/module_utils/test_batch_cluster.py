"""module_utils/_batch_cluster.py: the role's reads before its look-ups, per cluster and namespace, with a stand-in client
(the reads on a real apiserver: tests/integration/test_role_isvc.py, test_clusters.py)."""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Optional

from ansible_collections.aml.kserve.plugins.module_utils import _batch, _k8s
from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import apply, read_batch
from ansible_collections.aml.kserve.plugins.module_utils._errors import KubernetesError
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC
from tests.unit.plugins.module_utils.test_batch import OPTIONS, TOKEN, service

CONFIG = {"data": {"MODEL_REPO_GIT_BASE": "gl.example", "MODEL_REPO_GIT_SCHEME": "https"}}
SECRET = {"data": {"MODEL_REPO_GIT_TOKEN": base64.b64encode(TOKEN.encode()).decode()}}
FORBIDDEN = 'configmaps "aml-image-builder-config" is forbidden: User "x" cannot get resource "configmaps"'


class Client:
    """What the reads ask of the Kubernetes backend (_k8s.KubeClient), answered from ``objects``."""

    def __init__(self, objects: Dict[tuple, Any], levels: Optional[Dict[str, str]] = None) -> None:
        self.objects, self.levels, self.asked = objects, levels or {}, []  # type: Dict[tuple, Any], Dict[str, str], List[tuple]

    def get(self, kind_version, name, namespace=None):
        self.asked.append(("get", kind_version[0], namespace, name))
        found = self.objects.get((kind_version[0], namespace, name))
        if isinstance(found, KubernetesError):
            raise found
        return found

    def list(self, kind_version, namespace=None, label_selector=None, field_selector=None):
        self.asked.append(("list", kind_version[0], namespace))
        return {"items": [o for (kind, ns, _n), o in self.objects.items() if kind == kind_version[0] and ns == namespace]}

    def pod_security_level(self, namespace):
        self.asked.append(("get", "Namespace", None, namespace))
        return self.levels.get(namespace)


def forbidden() -> KubernetesError:
    error = KubernetesError("Forbidden while reading ConfigMap ...", status=403, reason="Forbidden")
    error.api_message = FORBIDDEN
    return error


def pipeline_objects(*namespaces: str) -> Dict[tuple, Any]:
    found: Dict[tuple, Any] = {}
    for namespace in namespaces:
        found[("ConfigMap", namespace, _batch.CONFIG_MAP)] = CONFIG
        found[("Secret", namespace, _batch.SECRET)] = SECRET
    return found


def test_each_namespace_is_read_once_and_each_service_gets_its_gitlab_connection():
    client = Client(pipeline_objects("ns1", "ns2"), levels={"ns1": "baseline", "ns2": ""})
    inputs = {"a": service("a"), "b": service("b"), "c": service("c", "ns2")}
    found = read_batch(_batch.plan(inputs, OPTIONS, RENDER_SPEC), {"c1": {}}, {}, connect=lambda _c: client)
    assert sorted(client.asked) == sorted(
        [("list", "InferenceService", "ns1"), ("get", "Namespace", None, "ns1"),
         ("list", "InferenceService", "ns2"), ("get", "Namespace", None, "ns2"),
         ("get", "ConfigMap", "ns1", _batch.CONFIG_MAP), ("get", "Secret", "ns1", _batch.SECRET),
         ("get", "ConfigMap", "ns2", _batch.CONFIG_MAP), ("get", "Secret", "ns2", _batch.SECRET)])
    assert [s["error"] for s in found["services"].values()] == ["", "", ""]
    assert found["existing"]["c1|ns1"]["pod_security_level"] == "baseline"
    assert found["existing"]["c1|ns2"]["pod_security_level"] == ""
    # one look-up for the three: the same GitLab, token and model ref, whichever namespace they are in
    assert [(lookup["api_url"], lookup["args"]["repo"]) for lookup in found["lookups"]] == [("https://gl.example", "m")]
    assert found["gitlab_tokens"] == {"model-1": TOKEN}


def test_a_cluster_that_cannot_be_reached_fails_its_own_services_and_is_asked_once():
    client = Client(pipeline_objects("ns1"))
    made: List[str] = []

    def connect(connection):
        made.append(connection.get("host", ""))
        if connection.get("host") == "https://down":
            raise KubernetesError("Cannot reach the Kubernetes API (connection refused)")
        return client

    inputs = {"up": service("up"), "down1": service("down1", isvc_kubernetes={"host": "https://down"}),
              "down2": service("down2", "ns2", isvc_kubernetes={"host": "https://down"})}
    plan = _batch.plan(inputs, OPTIONS, RENDER_SPEC)
    clusters = {"c1": {"host": "https://down"}, "c2": {}}
    assert {s["cluster"] for h, s in plan["services"].items() if h.startswith("down")} == {"c1"}
    found = read_batch(plan, clusters, {}, connect=connect)
    assert made == ["https://down", ""], "one connection per cluster, the unreachable one not retried per namespace"
    services = found["services"]
    assert services["up"]["error"] == ""
    assert services["down1"]["error"] == services["down2"]["error"] == "Cannot reach the Kubernetes API (connection refused)"
    assert services["down1"]["reason"] == "read"
    assert len(found["lookups"]) == 1


def test_a_refused_read_of_the_configmap_is_explained_in_the_apiservers_words():
    objects = pipeline_objects("ns1", "ns2")
    objects[("ConfigMap", "ns2", _batch.CONFIG_MAP)] = forbidden()
    inputs = {"a": service("a"), "b": service("b", "ns2")}
    found = read_batch(_batch.plan(inputs, OPTIONS, RENDER_SPEC), {"c1": {}}, {}, connect=lambda _c: Client(objects))
    assert found["services"]["a"]["error"] == ""
    assert found["services"]["b"]["error"] == (
        "Cannot read ConfigMap aml-image-builder-config in namespace ns2: " + FORBIDDEN + ". Give this identity get on "
        "configmaps and secrets there (playbooks/prepare_rbac.yml), or set isvc_gitlab_url and isvc_gitlab_token.")
    assert found["services"]["b"]["reason"] == "gitlab"


def test_a_missing_secret_is_named_with_the_command_that_creates_it():
    objects = pipeline_objects("ns1")
    del objects[("Secret", "ns1", _batch.SECRET)]
    found = read_batch(_batch.plan({"a": service("a")}, OPTIONS, RENDER_SPEC), {"c1": {}}, {},
                       connect=lambda _c: Client(objects))
    assert "Secret aml-image-builder-secret does not exist in namespace ns1" in found["services"]["a"]["error"]
    assert "kubectl create secret generic aml-image-builder-secret -n ns1" in found["services"]["a"]["error"]
    assert found["lookups"] == []


def test_given_address_and_token_read_neither_object_and_the_token_is_used():
    client = Client({})
    inputs = {"a": service("a", isvc_gitlab_url="https://gitlab.given", isvc_gitlab_token="glpat-given")}
    plan = _batch.plan(inputs, OPTIONS, RENDER_SPEC)
    found = read_batch(plan, {"c1": {}}, _batch.given_tokens(inputs), connect=lambda _c: client)
    assert [a for a in client.asked if a[1] in ("ConfigMap", "Secret")] == []
    assert found["gitlab_tokens"] == {"model-1": "glpat-given"}
    assert "glpat-given" not in repr(found["services"]), "a token is kept only where the look-up task takes it"


def test_a_connection_of_the_wrong_type_names_isvc_kubernetes():
    from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import _client

    try:
        _client({"validate_certs": "sometimes"})
    except KubernetesError as error:
        assert error.msg.startswith("isvc_kubernetes: ") and "validate_certs" in error.msg
    else:
        raise AssertionError("a connection that is not kubernetes.core's options must be refused")


class Writes(Client):
    """The stand-in, with the label patch the step before the apply sends."""

    def __init__(self, refuse: str = "") -> None:
        super().__init__({})
        self.refuse = refuse

    def merge_patch(self, kind_version, name, namespace, patch):
        self.asked.append(("merge-patch", kind_version[0], name, patch))
        if name == self.refuse:
            error = KubernetesError(f'Forbidden while patching Namespace {name}: namespaces "{name}" is forbidden: User '
                                    '"x" cannot patch resource "namespaces"', status=403, reason="Forbidden")
            raise error
        return {}


def rendered(**values):
    from tests.unit.plugins.module_utils.test_batch import prepared

    reads = {"results": [{"item": {"namespace": ns, "cluster": "c1"}, "inference_services": [],
                          "pod_security_level": "baseline"} for ns in ("ns1", "ns2")]}
    return prepared({"a": service("a", **values), "b": service("b", "ns2", **values)}, reads=reads)


def test_new_services_are_grouped_for_the_apply_with_no_request():
    from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import prepare_apply

    client = Writes()
    found = prepare_apply(rendered(isvc_host_ipc=False), {"c1": {}}, False, False, connect=lambda _c: client)
    assert client.asked == []
    assert found["changed"] is False
    assert [(g["field_manager"], g["hosts"]) for g in found["apply"]] == [("aml.kserve", ["a", "b"])]


def test_namespaces_are_labelled_privileged_each_failure_its_own_and_nothing_written_in_check_mode():
    from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import PRIVILEGED, prepare_apply

    batch = rendered(isvc_manage_pod_security=True)
    assert [n["namespace"] for n in batch["label_namespaces"]] == ["ns1", "ns2"]
    client = Writes(refuse="ns2")
    found = prepare_apply(batch, {"c1": {}}, False, False, connect=lambda _c: client)
    assert client.asked == [("merge-patch", "Namespace", "ns1", PRIVILEGED), ("merge-patch", "Namespace", "ns2", PRIVILEGED)]
    assert PRIVILEGED == {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    assert found["changed"] is True
    assert [g["hosts"] for g in found["apply"]] == [["a"]]
    services = _batch.plain(found["services"])
    assert services["b"]["error"].startswith("Cannot label namespace ns2 privileged for hostIPC (isvc_manage_pod_security): ")
    assert 'cannot patch resource "namespaces"' in services["b"]["error"]

    dry = Writes()
    checked = prepare_apply(rendered(isvc_manage_pod_security=True), {"c1": {}}, True, False, connect=lambda _c: dry)
    assert dry.asked == [] and checked["changed"] is True and [g["hosts"] for g in checked["apply"]] == [["a", "b"]]


def test_the_secrets_of_the_connections_are_known_to_scrub():
    from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import cluster_secrets

    assert sorted(cluster_secrets({"c1": {"api_key": "sha256~abc", "host": "https://k"}, "c2": {"kubeconfig": "/k/cfg"},
                                   "c3": {"kubeconfig": {"inline": "dict"}}})) == ["/k/cfg", "sha256~abc"]


def test_without_the_kubernetes_library_every_cluster_step_says_what_to_install(monkeypatch):
    from ansible_collections.aml.kserve.plugins.module_utils._batch_cluster import _client

    monkeypatch.setattr(_k8s, "HAS_KUBERNETES", False)
    try:
        _client({})
    except KubernetesError as error:
        assert error.msg == "The kubernetes Python library is needed on the controller: pip install kubernetes"
    else:
        raise AssertionError("a client without the library must be refused")


def test_each_apply_group_is_one_kubernetes_core_call_and_each_service_keeps_its_own_outcome():
    groups = [{"cluster": "c1", "field_manager": "aml-kserve", "force_conflicts": False, "method": "apply",
               "hosts": ["a", "b"], "definitions": [definition("a"), definition("b")]},
              {"cluster": "c2", "field_manager": "aml-kserve", "force_conflicts": True, "method": "create",
               "hosts": ["c"], "definitions": [definition("c", "ns2")]}]
    connections = {"c1": {"kubeconfig": "/k/one", "api_key": "sekret"}, "c2": {"host": "https://two:6443"}}
    calls: List[Dict[str, Any]] = []

    def kubernetes_core_k8s(arguments: Dict[str, Any]) -> Dict[str, Any]:
        calls.append(arguments)
        if len(arguments["definition"]) == 1:  # one definition: kubernetes.core returns its result alone
            return {"changed": False, "failed": True, "msg": "Failed to create object: b'...connection refused'"}
        return {"changed": True, "result": {"results": [
            {"changed": True, "result": {"kind": "InferenceService"}, "diff": {"before": {}, "after": {"a": 1}}},
            {"error": {"msg": 'Failed to apply object: b\'{"kind":"Status","message":"admission webhook denied"}\''}}]}}

    found = apply(groups, connections, kubernetes_core_k8s)
    # kubernetes.core's arguments, as the role's own k8s task gave them: the group's cluster in its option names
    assert calls[0] == {"state": "present", "definition": [definition("a"), definition("b")], "apply": True,
                        "server_side_apply": {"field_manager": "aml-kserve", "force_conflicts": False},
                        "continue_on_error": True, "kubeconfig": "/k/one", "api_key": "sekret"}
    assert (calls[1]["apply"], calls[1]["server_side_apply"]["force_conflicts"], calls[1]["host"]) == (False, True, "https://two:6443")
    assert found["services"] == {
        "a": {"changed": True, "error": ""},
        "b": {"changed": False, "error": "Cannot apply InferenceService ns1/b: admission webhook denied"},
        "c": {"changed": False, "error": "Cannot apply InferenceService ns2/c: Failed to create object: b'...connection refused'"}}
    assert found["changed"] is True and found["diff"] == [{"before": {}, "after": {"a": 1}}]
    assert found["applies"] == ["2 InferenceServices, field manager aml-kserve: 1 changed, 1 failed",
                                "1 InferenceServices, field manager aml-kserve: 0 changed, 1 failed"]
    # what the later steps read of it
    assert _batch.applied(found, {}) == found["services"]
    assert _batch.applied({"failed": True, "msg": "boom"}, {"a": {}}) == {"a": {"changed": False, "error": "boom"}}


def definition(name: str, namespace: str = "ns1") -> Dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": namespace}, "spec": {}}


def test_a_services_outcome_is_its_hosts_result():
    ok = {"name": "a", "namespace": "ns1", "msg": "ns1/a: ready", "changed": True, "ready": True, "warnings": []}
    assert _batch.host_result(ok) == dict(ok, failed=False, _ansible_verbose_always=True)
    failed = {"name": "b", "namespace": "ns1", "msg": "Cannot apply", "message": "Cannot apply", "failed": True,
              "changed": False, "reason": "apply", "ready": False}
    assert _batch.host_result(failed) == dict(failed, _ansible_verbose_always=True)
