"""playbooks/batch_deploy.yml: many services across namespaces, waves, shared look-ups, reports, render-only."""

from __future__ import annotations

import json
import secrets
import time
import xml.etree.ElementTree as ET
from typing import Any

import kubernetes.client
import pytest
import yaml

from tests.harness.ansible import REPO_ROOT, run_playbook
from tests.harness.gitlab_emulator import GitLabEmulator
from tests.harness.kube import writes
from tests.integration.roles_support import READY_AFTER, SCENARIO, create_runtime, document, prepare_namespace

BATCH = REPO_ROOT / "playbooks" / "batch_deploy.yml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(kube, gitlab: GitLabEmulator, simulator) -> dict[str, Any]:
    """Three namespaces prepared as the pipeline expects, two models, one runtime class."""
    tag = secrets.token_hex(3)
    model_ns = f"amlmodels/batch-{tag}"
    for repo in ("alpha", "beta"):
        gitlab.create_project(f"{model_ns}/{repo}", files={"README.md": GitLabEmulator.model_readme("text-generation", "transformers")},
                              tags={"v1": "main"})
    runtime_class = "batch-" + tag
    create_runtime(kube, f"batch-rt-{tag}", ["transformers"], runtime_class=runtime_class)
    core = kubernetes.client.CoreV1Api(kube.api_client())
    namespaces = []
    for i in range(3):
        ns = f"batch-{tag}-{i}"
        core.create_namespace({"metadata": {"name": ns}})
        prepare_namespace(kube, gitlab, ns, model_ns=model_ns, repo="alpha")
        namespaces.append(ns)
    return {"namespaces": namespaces, "model_ns": model_ns, "runtime_class": runtime_class}


def inventory(tmp_path, fleet, services_per_ns: int = 4, extra: dict[str, dict[str, Any]] | None = None,
              prefix: str = "svc") -> str:
    """An inventory for three namespaces: one group per namespace under 'isvc', one host per service.
    Each test uses its own prefix: services left by another test would already be Ready."""
    children = {}
    for i, ns in enumerate(fleet["namespaces"]):
        hosts = {}
        for j in range(services_per_ns):
            name = f"{prefix}-{i}-{j}"
            hosts[name] = dict({"isvc_model_repo": "alpha" if j % 2 == 0 else "beta", "isvc_model_repo_tag": "v1"},
                               **(extra or {}).get(name, {}))
        children[f"ns_{i}"] = {"hosts": hosts, "vars": {"isvc_namespace": ns}}
    document = {"all": {"children": {"isvc": {
        "children": children,
        "vars": {"ansible_connection": "local", "isvc_runtime_class": fleet["runtime_class"],
                 "isvc_model_search_namespace": fleet["model_ns"], "isvc_annotations": {READY_AFTER: "0.2"}}}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def run_batch(kube, inventory_path: str, tmp_path, **extra_vars: Any):
    report_dir = tmp_path / "report"
    run = run_playbook(BATCH, dict({"isvc_batch_report_dir": str(report_dir)}, **extra_vars),
                       {"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)}, inventory=inventory_path, extra_args=["-f", "8"])
    report = json.loads((report_dir / "report.json").read_text()) if (report_dir / "report.json").exists() else None
    junit = ET.parse(report_dir / "report.xml").getroot() if (report_dir / "report.xml").exists() else None
    return run, report, junit


def test_twelve_services_in_three_namespaces(kube, gitlab, fleet, tmp_path):
    mark = kube.audit_mark()
    gitlab.reset_counters()
    run, report, junit = run_batch(kube, inventory(tmp_path, fleet), tmp_path)
    assert run.rc == 0, run.output[-5000:]
    services = report["services"]
    assert len(services) == 12
    assert {s["result"] for s in services} == {"ok"}
    assert {s["namespace"] for s in services} == set(fleet["namespaces"])
    assert all(s["endpoint"].startswith("http://svc-") and len(s["commit"]) == 40 for s in services)
    assert junit.attrib["tests"] == "12" and junit.attrib["failures"] == "0"
    assert "12 of 12 ready; 0 failed; 0 skipped" in run.output
    # Shared look-ups: two model refs → two GitLab resolutions (search, tag, README each); one runtime look-up.
    assert gitlab.request_count("/api/v4/projects?") == 2
    assert gitlab.request_count("/repository/tags/") == 2
    assert gitlab.request_count("/api/v4/") == 6, "and one README each: nothing else"
    events = [e for e in kube.audit_events_since(mark) if e["user"]["username"] == "aml-admin"
              and "aml-kserve-simulator" not in e.get("userAgent", "")]
    by_resource = {}
    for event in events:
        ref = event.get("objectRef", {})
        key = (event["verb"], ref.get("resource"), ref.get("name") is not None)
        by_resource[key] = by_resource.get(key, 0) + 1
    # one cluster-wide list of each (the admin may list them), never a read per service
    assert by_resource.get(("list", "configmaps", True)) == 1 and ("get", "configmaps", True) not in by_resource
    assert by_resource.get(("list", "secrets", True)) == 1 and ("get", "secrets", True) not in by_resource
    assert by_resource.get(("list", "namespaces", False)) == 1 and ("get", "namespaces", True) not in by_resource
    assert by_resource.get(("list", "clusterservingruntimes", False)) == 1
    assert by_resource.get(("patch", "inferenceservices", True)) == 12


def test_one_failing_service_does_not_hide_the_others(kube, fleet, tmp_path):
    extra = {"one-1-2": {"isvc_annotations": {SCENARIO: "fail-load", READY_AFTER: "0.2"}}}
    run, report, junit = run_batch(kube, inventory(tmp_path, fleet, extra=extra, prefix="one"), tmp_path)
    assert run.rc != 0
    results = {s["service"]: s for s in report["services"]}
    assert len(results) == 12
    assert results["one-1-2"]["result"] == "failed"
    assert "failed to load" in results["one-1-2"]["reason"]
    assert [s for s, r in results.items() if r["result"] != "ok"] == ["one-1-2"]
    failures = junit.findall(".//testcase/failure")
    assert len(failures) == 1 and "failed to load" in failures[0].attrib["message"]
    assert "11 of 12 ready; 1 failed; 0 skipped" in run.output


def test_wave_stop_with_max_fail_percentage_zero(kube, fleet, tmp_path):
    extra = {"wave-0-0": {"isvc_annotations": {SCENARIO: "fail-load", READY_AFTER: "0.2"}}}
    mark = kube.audit_mark()
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=2, extra=extra, prefix="wave"), tmp_path,
                                    isvc_batch_serial=[1, "100%"], isvc_batch_max_fail_percentage=0)
    assert run.rc != 0
    results = {s["service"]: s["result"] for s in report["services"]}
    assert results.pop("wave-0-0") == "failed"
    assert set(results.values()) == {"skipped"} and len(results) == 5
    patched = {e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices"}
    assert patched == {"wave-0-0"}


def listed(fleet, namespace: str, names: list[str], **values: Any) -> list[dict[str, Any]]:
    return [dict({"isvc_name": name, "isvc_namespace": namespace, "isvc_model_repo": "alpha", "isvc_model_repo_tag": "v1",
                  "isvc_runtime_class": fleet["runtime_class"], "isvc_model_search_namespace": fleet["model_ns"],
                  "isvc_annotations": {READY_AFTER: "0.2"}}, **values) for name in names]


def run_listed(kube, tmp_path, services: list[dict[str, Any]], env: dict[str, str] | None = None, **extra_vars: Any):
    vars_file = tmp_path / "services.yml"
    vars_file.write_text(yaml.safe_dump({"isvc_batch": services}))
    report_dir = tmp_path / "report"
    run = run_playbook(BATCH, dict({"isvc_batch_report_dir": str(report_dir)}, **extra_vars),
                       dict({"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)}, **(env or {})), extra_args=["-e", "@" + str(vars_file)])
    report = json.loads((report_dir / "report.json").read_text()) if (report_dir / "report.json").exists() else None
    return run, report


def test_list_driven_batch_publishes_its_report_for_awx(kube, fleet, tmp_path):
    services = listed(fleet, fleet["namespaces"][2], ["listed-0", "listed-1", "listed-2"])
    run, report = run_listed(kube, tmp_path, services, {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                                                        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert run.rc == 0, run.output[-5000:]
    assert sorted(s["service"] for s in report["services"]) == ["listed-0", "listed-1", "listed-2"]
    assert {s["result"] for s in report["services"]} == {"ok"}
    # set_stats for a workflow's next node, under a name that is not the batch's own input list
    published = document(run)["global_custom_stats"]
    assert "isvc_batch" not in published
    assert published["isvc_batch_results"] == report["services"]


def test_waves_one_then_a_quarter_then_the_rest(kube, fleet, tmp_path):
    mark = kube.audit_mark()
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=3, prefix="waves"), tmp_path,
                                    isvc_batch_serial=[1, "25%", "100%"])
    assert run.rc == 0, run.output[-5000:]
    assert {s["result"] for s in report["services"]} == {"ok"}
    patched = [e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices" and "subresource" not in e["objectRef"]
               and "aml-kserve-simulator" not in e.get("userAgent", "")]
    hosts = [f"waves-{i}-{j}" for i in range(3) for j in range(3)]  # inventory order
    # 9 hosts: a wave of 1, then 25% of 9 (2), then the other 6, each applied only after the one before was Ready
    assert len(patched) == 9
    assert patched[0] == hosts[0]
    assert set(patched[1:3]) == set(hosts[1:3])
    assert set(patched[3:]) == set(hosts[3:])


def test_render_only_writes_manifests_and_no_cluster_writes(kube, gitlab, fleet, tmp_path):
    mark = kube.audit_mark()
    manifests = tmp_path / "manifests"
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=1, prefix="render"), tmp_path,
                                    isvc_render_only=True, isvc_render_dir=str(manifests))
    assert run.rc == 0, run.output[-5000:]
    assert writes(kube.audit_events_since(mark), "aml-admin") == []
    files = sorted(manifests.rglob("*.yaml"))
    assert len(files) == 3
    for path in files:
        resource = yaml.safe_load(path.read_text())
        assert resource["kind"] == "InferenceService" and "status" not in resource
        assert list(resource) == ["apiVersion", "kind", "metadata", "spec"]
        assert list(resource["metadata"]) == ["name", "namespace", "labels", "annotations"]
    assert {s["result"] for s in report["services"]} == {"ok"}
    first = {path: path.read_bytes() for path in files}
    again, _report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=1, prefix="render"), tmp_path,
                                       isvc_render_only=True, isvc_render_dir=str(manifests))
    assert again.rc == 0, again.output[-5000:]
    assert {path: path.read_bytes() for path in files} == first, "the same inputs give the same bytes"


def test_render_only_neither_guards_nor_labels_a_baseline_namespace(kube, gitlab, fleet, tmp_path):
    """A manifest for GitOps is written even where the apply would be refused, and the namespace is not relabelled."""
    namespace = fleet["namespaces"][0] + "-psa"
    core = kubernetes.client.CoreV1Api(kube.api_client())
    core.create_namespace({"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    prepare_namespace(kube, gitlab, namespace, model_ns=fleet["model_ns"], repo="alpha")
    mark = kube.audit_mark()
    manifests = tmp_path / "manifests"
    run, report = run_listed(kube, tmp_path, listed(fleet, namespace, ["gitops-0", "gitops-1"]),
                             isvc_render_only=True, isvc_render_dir=str(manifests), isvc_manage_pod_security=True)
    assert run.rc == 0, run.output[-5000:]
    assert writes(kube.audit_events_since(mark), "aml-admin") == []
    assert core.read_namespace(namespace).metadata.labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert sorted(p.name for p in (manifests / namespace).iterdir()) == ["gitops-0.yaml", "gitops-1.yaml"]
    assert yaml.safe_load((manifests / namespace / "gitops-0.yaml").read_text())["spec"]["predictor"]["hostIPC"] is True
    assert {s["result"] for s in report["services"]} == {"ok"}


def test_bad_input_fails_its_service_alone_with_the_roles_message_and_no_write(kube, fleet, tmp_path):
    extra = {"bad-0-1": {"isvc_min_replicas": 3, "isvc_max_replicas": 2},
             "bad-1-0": {"isvc_cpu_request": "lots"},
             "bad-2-1": {"isvc_min_replicas": "many"}}
    mark = kube.audit_mark()
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=2, extra=extra, prefix="bad"), tmp_path)
    assert run.rc != 0
    results = {s["service"]: s for s in report["services"]}
    assert results["bad-0-1"]["reason"] == (
        "Invalid role variables (1): isvc_max_replicas (2) must not be less than isvc_min_replicas (3)")
    assert "cpu_request" in results["bad-1-0"]["reason"] and "isvc_<option>" in results["bad-1-0"]["reason"]
    assert results["bad-2-1"]["reason"].startswith("Invalid role variables: ") and "isvc_min_replicas" in results["bad-2-1"]["reason"]
    assert sorted(s for s, r in results.items() if r["result"] == "ok") == ["bad-0-0", "bad-1-1", "bad-2-0"]
    patched = {e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices"}
    assert patched == {"bad-0-0", "bad-1-1", "bad-2-0"}
    assert "3 of 6 ready; 3 failed; 0 skipped" in run.output


def test_namespace_reads_once_per_namespace_without_cluster_wide_rights(kube, gitlab, fleet, tmp_path):
    """An account with the rbac role's grants in each namespace, and no cluster-wide list: the batch falls back to
    one read of each ConfigMap, Secret and Namespace per namespace, never one per service."""
    home = fleet["namespaces"][0]
    admin_env = {"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)}
    for ns in fleet["namespaces"]:
        rbac = run_playbook(REPO_ROOT / "playbooks" / "prepare_rbac.yml",
                            {"rbac_namespace": ns, "rbac_service_account": "batcher",
                             "rbac_create_runtime_view_cluster_role": True}, admin_env)
        assert rbac.rc == 0, rbac.output[-3000:]
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(kube.api_client())
    for ns in fleet["namespaces"][1:]:  # the same identity (home's ServiceAccount) in every namespace
        rbac_api.create_namespaced_role_binding(ns, {
            "metadata": {"name": "deploy-model-" + home},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deploy-model"},
            "subjects": [{"kind": "ServiceAccount", "name": "batcher", "namespace": home}]})
    token = kube.service_account_token(home, "batcher")
    kubeconfig = kube.write_kubeconfig(tmp_path / "batcher", token, "batcher")

    mark = kube.audit_mark()
    report_dir = tmp_path / "report"
    run = run_playbook(BATCH, {"isvc_batch_report_dir": str(report_dir)}, {"K8S_AUTH_KUBECONFIG": str(kubeconfig)},
                       inventory=inventory(tmp_path, fleet, services_per_ns=2, prefix="sa"), extra_args=["-f", "8"])
    assert run.rc == 0, run.output[-5000:]
    report = json.loads((report_dir / "report.json").read_text())
    assert len(report["services"]) == 6 and {s["result"] for s in report["services"]} == {"ok"}
    user = f"system:serviceaccount:{home}:batcher"
    reads: dict[tuple[str, str], list[str]] = {}
    for event in kube.audit_events_since(mark):
        ref = event.get("objectRef") or {}
        if event["user"]["username"] == user and ref.get("resource") in ("configmaps", "secrets", "namespaces"):
            key = (event["verb"], ref["resource"])
            reads.setdefault(key, []).append(ref.get("namespace") or ("*" if event["verb"] == "list" else ref.get("name")))
    # the cluster-wide list is tried once and refused; then one get per namespace
    for resource in ("configmaps", "secrets", "namespaces"):
        assert reads.get(("list", resource)) == ["*"], reads
        assert sorted(reads.get(("get", resource), [])) == sorted(fleet["namespaces"]), (resource, reads)


def test_batch_waits_by_the_roles_rules_after_a_description_change(kube, fleet, tmp_path, simulator):
    """A description-only change across the batch: KServe holds the old Ready status for 6 s (stale-ready), while
    observedGeneration (the Deployment's counter) already passed the generation; the batch's wait, with each
    service's baseline from its read before the apply, holds until each one's new pods rolled out."""
    stale = {READY_AFTER: "0.2", SCENARIO: "stale-ready", "aml.kserve.test/stale-seconds": "6"}
    names = [f"drift-{i}-0" for i in range(3)]
    extra = {name: {"isvc_annotations": stale, "isvc_description": "v1"} for name in names}
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=1, extra=extra, prefix="drift"), tmp_path)
    assert run.rc == 0, run.output[-5000:]
    extra = {name: {"isvc_annotations": stale, "isvc_description": "v2"} for name in names}
    started = time.monotonic()
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=1, extra=extra, prefix="drift"), tmp_path)
    assert run.rc == 0, run.output[-5000:]
    ended = time.monotonic()
    assert {s["result"] for s in report["services"]} == {"ok"} and len(report["services"]) == 3
    for i, name in enumerate(names):
        rolled_out = simulator.wait_for(fleet["namespaces"][i], name, "deployment-rolled-out", since=started, timeout=1)
        assert rolled_out - started >= 6 and ended > rolled_out
