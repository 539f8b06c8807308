"""The local control plane itself: version, verified TLS, tokens, RBAC, audit log, CRDs (and their pruning)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request

import kubernetes.client
import pytest


def test_apiserver_reports_v1_20_2_over_verified_tls(kube):
    version = kubernetes.client.VersionApi(kube.api_client()).get_code()
    assert version.git_version == "v1.20.2"
    assert (version.major, version.minor) == ("1", "20")
    # The same request without the CA is refused: the certificate really is checked.
    request = urllib.request.Request(kube.host + "/version", headers={"Authorization": "Bearer " + kube.admin_token})
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(request, context=ssl.create_default_context(), timeout=5)  # noqa: S310
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)


def test_tokens_and_rbac(kube):
    with pytest.raises(kubernetes.client.ApiException) as err:
        kubernetes.client.CoreV1Api(kube.api_client("not-a-token")).list_namespace()
    assert err.value.status == 401
    with pytest.raises(kubernetes.client.ApiException) as err:
        kubernetes.client.CoreV1Api(kube.api_client(kube.user_tokens["alice"])).list_namespace()
    assert err.value.status == 403
    assert json.loads(err.value.body)["message"].startswith('namespaces is forbidden: User "alice" cannot list resource "namespaces"')


def test_service_account_tokens_are_real(kube, namespace):
    token = kube.service_account_token(namespace, "robot")
    with pytest.raises(kubernetes.client.ApiException) as err:
        kubernetes.client.CoreV1Api(kube.api_client(token)).list_namespaced_pod(namespace)
    assert err.value.status == 403
    assert f'User "system:serviceaccount:{namespace}:robot" cannot list' in json.loads(err.value.body)["message"]


def test_audit_log_records_requests(kube, namespace):
    mark = kube.audit_mark()
    kubernetes.client.CoreV1Api(kube.api_client()).create_namespaced_config_map(namespace, {"metadata": {"name": "audited"}})
    events = kube.audit_events_since(mark)
    creates = [e for e in events if e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "configmaps"]
    assert len(creates) == 1
    assert creates[0]["objectRef"]["namespace"] == namespace
    assert creates[0]["user"]["username"] == "aml-admin"
    assert creates[0]["responseStatus"]["code"] == 201


def test_kserve_crds_are_served(kube):
    kinds = {r.kind for r in kube.dynamic_client().resources.search(group="serving.kserve.io")}
    assert {"InferenceService", "ClusterServingRuntime", "ServingRuntime"} <= kinds


def test_unknown_spec_fields_are_pruned_only_with_kserve_full_crds(kube, namespace):
    """With KServe's full schema a 1.20 server silently drops a misspelled field; tests compare sent and stored."""
    api = kubernetes.client.CustomObjectsApi(kube.api_client())
    body = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "pruned", "namespace": namespace,
                         "labels": {"aml.kserve.test/simulator": "off"}},
            "spec": {"predictor": {"minReplica": 2,  # misspelled minReplicas
                                   "model": {"modelFormat": {"name": "transformers"}, "storageUri": "hf://x/y:z",
                                             "env": [{"name": "EMPTY", "value": ""}]}}}}
    stored = api.create_namespaced_custom_object("serving.kserve.io", "v1beta1", namespace, "inferenceservices", body)
    predictor = stored["spec"]["predictor"]
    assert predictor["model"]["env"] == [{"name": "EMPTY", "value": ""}]  # empty strings survive (kubernetes#99804)
    if os.environ.get("KSERVE_CRDS_DIR"):
        assert "minReplica" not in predictor
    else:
        assert predictor["minReplica"] == 2
