"""playbooks/batch_deploy.yml: the deploy role over an inventory (one host per service) with Ansible's serial and
max_fail_percentage; shared look-ups, per-host outcomes, reports, retry files, render-only."""

from __future__ import annotations

import json
import pathlib
import re
import secrets
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

import kubernetes.client
import pytest
import yaml

from tests.harness.ansible import REPO_ROOT, ansible_env, run_playbook
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


def run_batch(kube, inventory_path: str, tmp_path, env: dict[str, str] | None = None, extra_args: list[str] | None = None,
              **extra_vars: Any):
    report_dir = tmp_path / "report"
    run = run_playbook(BATCH, dict({"isvc_batch_report_dir": str(report_dir)}, **extra_vars),
                       dict({"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)}, **(env or {})), inventory=inventory_path,
                       extra_args=["-f", "8"] + (extra_args or []))
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
    assert "12 of 12 deployed; 0 failed; 0 skipped" in run.output
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
    # one read of each per namespace (the Namespace by the read of what exists), never a read per service
    assert by_resource.get(("get", "configmaps", True)) == 3 and ("list", "configmaps", False) not in by_resource
    assert by_resource.get(("get", "secrets", True)) == 3 and ("list", "secrets", False) not in by_resource
    assert by_resource.get(("get", "namespaces", True)) == 3 and ("list", "namespaces", False) not in by_resource
    # per namespace: one list of what exists; then the wait's one list of each kind across the three namespaces
    assert by_resource.get(("list", "inferenceservices", False)) == 3 + 1
    assert by_resource.get(("list", "deployments", False)) == 1 and by_resource.get(("list", "pods", False)) == 1
    assert [e["objectRef"] for e in events if e["verb"] == "watch" and e["objectRef"].get("namespace")] == []
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
    assert "11 of 12 deployed; 1 failed; 0 skipped" in run.output
    assert recap(run.output)["one-1-2"]["failed"] == 1
    assert [h for h, counts in recap(run.output).items() if counts["failed"]] == ["one-1-2"]
    assert "TASK [aml.kserve.isvc : Summary]" in run.output, "a batch with a failure runs the summary"


def test_wave_stop_with_max_fail_percentage_zero(kube, fleet, tmp_path):
    extra = {"wave-0-0": {"isvc_annotations": {SCENARIO: "fail-load", READY_AFTER: "0.2"}}}
    mark = kube.audit_mark()
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=2, extra=extra, prefix="wave"), tmp_path,
                                    isvc_batch_serial=[2, "100%"], isvc_batch_max_fail_percentage=0)
    assert run.rc != 0
    results = {s["service"]: s for s in report["services"]}
    assert results.pop("wave-0-0")["result"] == "failed"
    assert results.pop("wave-0-1")["result"] == "ok"
    # Ansible's max_fail_percentage stopped the play after the first batch (2 hosts, 1 failed): the others never ran
    assert {r["result"] for r in results.values()} == {"skipped"} and len(results) == 4
    assert "max_fail_percentage" in results["wave-1-0"]["reason"]
    patched = {e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices" and "subresource" not in e["objectRef"]
               and "aml-kserve-simulator" not in e.get("userAgent", "")}
    assert patched == {"wave-0-0", "wave-0-1"}


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
    # each wave's report, then each service's own task, the summary: every host ok in the recap (and in AWX)
    assert run.output.count("TASK [Summary]") == 3 and run.output.count("TASK [aml.kserve.isvc : Summary]") == 3
    recap = run.output[run.output.index("PLAY RECAP"):]
    assert sorted(re.findall(r"^(waves-\d-\d) +: ok=[1-9]\d* .* failed=0 ", recap, re.M)) == hosts, recap


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
    assert results["bad-2-1"]["reason"].startswith("Validation of arguments failed: ") and \
        "isvc_min_replicas" in results["bad-2-1"]["reason"]
    assert sorted(s for s, r in results.items() if r["result"] == "ok") == ["bad-0-0", "bad-1-1", "bad-2-0"]
    patched = {e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices"}
    assert patched == {"bad-0-0", "bad-1-1", "bad-2-0"}
    assert "3 of 6 deployed; 3 failed; 0 skipped" in run.output
    assert sorted(h for h, counts in recap(run.output).items() if counts["failed"]) == ["bad-0-1", "bad-1-0", "bad-2-1"]


def test_namespace_reads_once_per_namespace_without_cluster_wide_rights(kube, gitlab, fleet, tmp_path):
    """An account with the rbac role's grants in each namespace, and no cluster-wide rights: one read of each
    ConfigMap, Secret and Namespace per namespace, never one per service."""
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
    for resource in ("configmaps", "secrets", "namespaces"):
        assert ("list", resource) not in reads, reads
        assert sorted(reads.get(("get", resource), [])) == sorted(fleet["namespaces"]), (resource, reads)


RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP of the default callback, by host."""
    text = output[output.rfind("PLAY RECAP"):]
    return {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
            for m in RECAP_LINE.finditer(text)}


def test_two_failing_services_fail_their_hosts_and_a_retry_reruns_only_them(kube, fleet, tmp_path):
    """Twelve services over three namespaces, two failing (a bad quantity, a tag GitLab does not have): exactly those
    two hosts fail in the recap, the report and the retry file; fixed, ``--limit @<retry file>`` redeploys just them."""
    broken = {"retry-0-1": {"isvc_cpu_request": "lots"}, "retry-2-2": {"isvc_model_repo_tag": "v404"}}
    env = {"ANSIBLE_RETRY_FILES_ENABLED": "1", "ANSIBLE_RETRY_FILES_SAVE_PATH": str(tmp_path / "retry")}
    run, report, junit = run_batch(kube, inventory(tmp_path, fleet, extra=broken, prefix="retry"), tmp_path, env=env)
    assert run.rc != 0
    failed = sorted(h for h, counts in recap(run.output).items() if counts["failed"])
    assert failed == ["retry-0-1", "retry-2-2"], recap(run.output)
    results = {s["service"]: s for s in report["services"]}
    assert sorted(s for s, r in results.items() if r["result"] == "failed") == failed
    assert "cpu_request='lots' is not a Kubernetes quantity" in results["retry-0-1"]["reason"]
    assert "v404" in results["retry-2-2"]["reason"] and "404" in results["retry-2-2"]["reason"]
    assert len([s for s in results.values() if s["result"] == "ok"]) == 10
    assert int(junit.attrib["failures"]) == 2
    retry_file = tmp_path / "retry" / "batch_deploy.retry"
    assert retry_file.read_text().split() == failed

    mark = kube.audit_mark()
    again, report, _junit = run_batch(kube, inventory(tmp_path, fleet, prefix="retry"), tmp_path, env=env,
                                      extra_args=["--limit", "@" + str(retry_file)])
    assert again.rc == 0, again.output[-5000:]
    assert sorted(recap(again.output)) == failed
    assert sorted(s["service"] for s in report["services"]) == failed
    assert {s["result"] for s in report["services"]} == {"ok"}
    touched = {e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices" and "subresource" not in e["objectRef"]
               and "aml-kserve-simulator" not in e.get("userAgent", "")}
    assert sorted(touched) == failed


def test_removal_in_a_batch_deletes_those_services_and_deploys_the_others(kube, fleet, tmp_path):
    """isvc_state absent per host: one removal step for the batch deletes exactly those services (audit log), each
    with its own outcome in the report; a second run finds them gone and changes nothing for them."""
    run, _report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=2, prefix="rm"), tmp_path)
    assert run.rc == 0, run.output[-5000:]
    gone = {"rm-0-1": {"isvc_state": "absent"}, "rm-2-0": {"isvc_state": "absent"}}
    json_output = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                   "ANSIBLE_SHOW_CUSTOM_STATS": "1"}
    mark = kube.audit_mark()
    run, report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=2, extra=gone, prefix="rm"),
                                    tmp_path, env=json_output)
    assert run.rc == 0, run.output[-5000:]
    deleted = sorted(e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
                     if e["verb"] == "delete" and e.get("objectRef", {}).get("resource") == "inferenceservices")
    assert deleted == ["rm-0-1", "rm-2-0"]
    api = kubernetes.client.CustomObjectsApi(kube.api_client())
    left = {i["metadata"]["name"] for ns in fleet["namespaces"]
            for i in api.list_namespaced_custom_object("serving.kserve.io", "v1beta1", ns, "inferenceservices")["items"]
            if i["metadata"]["name"].startswith("rm-")}
    assert left == {"rm-0-0", "rm-1-0", "rm-1-1", "rm-2-1"}
    results = {s["service"]: s for s in report["services"]}
    assert {s: r["result"] for s, r in results.items()} == dict.fromkeys(sorted(results), "ok")
    assert results["rm-0-1"]["endpoint"] == "" and results["rm-0-0"]["endpoint"].startswith("http://rm-0-0")
    stats = {r["name"]: r for r in document(run)["global_custom_stats"]["isvc_results"].values()}
    assert stats["rm-0-1"]["state"] == "absent" and stats["rm-0-1"]["changed"] is True
    assert stats["rm-0-1"]["msg"] == f"{fleet['namespaces'][0]}/rm-0-1: deleted"

    again, _report, _junit = run_batch(kube, inventory(tmp_path, fleet, services_per_ns=2, extra=gone, prefix="rm"),
                                       tmp_path, env=json_output)
    assert again.rc == 0, again.output[-5000:]
    stats = {r["name"]: r for r in document(again)["global_custom_stats"]["isvc_results"].values()}
    assert stats["rm-2-0"]["changed"] is False and stats["rm-2-0"]["msg"].endswith("rm-2-0: absent already")


# Bad input at each layer the role checks, in the order it checks them: the same message from a deploy of one and from
# a batch, where the service fails its own host and the others go on.
SAME_MESSAGE_CASES = {
    "argspec": ({"isvc_min_replicas": "many"}, "'isvc_min_replicas' is of type str and we were unable to convert to int"),
    "preflight": ({"isvc_min_replicas": 3, "isvc_max_replicas": 2},
                  "Invalid role variables (1): isvc_max_replicas (2) must not be less than isvc_min_replicas (3)"),
    "render": ({"isvc_cpu_request": "lots"}, "cpu_request='lots' is not a Kubernetes quantity"),
    "gitlab-config": ({"isvc_namespace": "<bare>"}, "ConfigMap aml-image-builder-config does not exist in namespace"),
    "resolve": ({"isvc_model_repo_tag": "v404"}, "reading tag 'v404'"),
}


def host_failures(run) -> dict[str, str]:
    """Each failed host's last failure message, from the json callback's document."""
    found: dict[str, str] = {}
    for play in document(run).get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task["hosts"].items():
                # the role's shared steps are loops whose failures it keeps (ignore_errors) as the services' outcomes
                if result.get("failed") and not result.get("skipped") and "results" not in result:
                    found[host] = str(result.get("msg", ""))
    return found


def test_same_bad_input_same_message_in_a_deploy_and_in_a_batch(kube, gitlab, fleet, tmp_path):
    bare = "same-" + secrets.token_hex(3)  # a namespace without the pipeline's ConfigMap and Secret
    kubernetes.client.CoreV1Api(kube.api_client()).create_namespace({"metadata": {"name": bare}})
    namespace = fleet["namespaces"][0]
    base = {"isvc_namespace": namespace, "isvc_model_repo": "alpha", "isvc_model_repo_tag": "v1",
            "isvc_runtime_class": fleet["runtime_class"], "isvc_model_search_namespace": fleet["model_ns"],
            "isvc_annotations": {READY_AFTER: "0.2"}}
    hosts = {}
    for case, (values, _expected) in SAME_MESSAGE_CASES.items():
        hosts["same-" + case] = {k: (bare if v == "<bare>" else v) for k, v in values.items()}
    hosts["same-good"] = {}
    env = {"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}

    deployed = {}
    for host, values in hosts.items():
        if host == "same-good":
            continue
        run = run_playbook(REPO_ROOT / "playbooks" / "deploy.yml", dict(base, isvc_name=host, **values), env)
        assert run.rc != 0, run.output[-3000:]
        deployed[host] = host_failures(run)["localhost"]

    path = tmp_path / "same.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"isvc": {
        "hosts": hosts, "vars": dict(base, ansible_connection="local")}}}}))
    report_dir = tmp_path / "report"
    run = run_playbook(BATCH, {"isvc_batch_report_dir": str(report_dir)}, env, inventory=str(path))
    assert run.rc != 0
    batched = host_failures(run)
    assert sorted(batched) == sorted(deployed), "exactly the bad services failed, each on its own host"
    report = {s["service"]: s for s in json.loads((report_dir / "report.json").read_text())["services"]}
    assert report["same-good"]["result"] == "ok"
    for case, (_values, expected) in SAME_MESSAGE_CASES.items():
        host = "same-" + case
        assert expected in deployed[host], (case, deployed[host])
        assert batched[host] == deployed[host], case
        assert report[host]["reason"] == " ".join(deployed[host].split()), case


def test_two_slices_at_once_deploy_everything_exactly_once(kube, fleet, tmp_path):
    """AWX job slicing: the same playbook on disjoint halves of the inventory at the same time, each with its own
    report directory (separate execution nodes share nothing); every service is applied exactly once."""
    path = inventory(tmp_path, fleet, services_per_ns=2, prefix="slice")
    hosts = [f"slice-{i}-{j}" for i in range(3) for j in range(2)]
    halves = [hosts[0::2], hosts[1::2]]
    env = ansible_env({"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)})
    mark = kube.audit_mark()
    procs = []
    for index, half in enumerate(halves):
        report_dir = tmp_path / f"slice-{index}"
        argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", path, str(BATCH), "-f", "4",
                "--limit", ",".join(half), "-e", json.dumps({"isvc_batch_report_dir": str(report_dir)})]
        procs.append(subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-4000:]
    for index, half in enumerate(halves):
        report = json.loads((tmp_path / f"slice-{index}" / "report.json").read_text())
        assert sorted(s["service"] for s in report["services"]) == sorted(half)
        assert {s["result"] for s in report["services"]} == {"ok"}
    applies = [e["objectRef"]["name"] for e in writes(kube.audit_events_since(mark), "aml-admin")
               if e.get("objectRef", {}).get("resource") == "inferenceservices" and "subresource" not in e["objectRef"]
               and "aml-kserve-simulator" not in e.get("userAgent", "")]
    assert sorted(applies) == sorted(hosts), "each service applied once, by its own slice"


@pytest.fixture(scope="module")
def second_cluster(tmp_path_factory, gitlab, fleet):
    """Another kube-apiserver with its own KServe simulator, prepared as the first: one namespace, the runtime class."""
    from tests.harness.kserve_simulator import KServeSimulator
    from tests.harness.kube import KubeCluster

    cluster = KubeCluster(tmp_path_factory.mktemp("kube-b")).start()
    simulator = KServeSimulator(cluster.api_client())
    simulator.start()
    try:
        create_runtime(cluster, "batch-rt-b", ["transformers"], runtime_class=fleet["runtime_class"])
        namespace = "cluster-b-" + secrets.token_hex(3)
        kubernetes.client.CoreV1Api(cluster.api_client()).create_namespace({"metadata": {"name": namespace}})
        prepare_namespace(cluster, gitlab, namespace, model_ns=fleet["model_ns"], repo="alpha")
        yield {"kube": cluster, "namespace": namespace}
    finally:
        simulator.stop()
        cluster.stop()


def isvc_names_in(cluster, namespace: str) -> list[str]:
    found = kubernetes.client.CustomObjectsApi(cluster.api_client()).list_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices")
    return sorted(item["metadata"]["name"] for item in found["items"])


def test_one_batch_over_two_clusters_and_an_unreachable_one(kube, fleet, second_cluster, tmp_path):
    """isvc_kubernetes per inventory group, one group per cluster: each service lands on its own cluster, and the
    service whose cluster cannot be reached fails alone."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down_port = probe.getsockname()[1]
    down = kube.kubeconfig_dict(kube.admin_token)
    down["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{down_port}"
    down_path = tmp_path / "down.kubeconfig"
    down_path.write_text(yaml.safe_dump(down))
    cluster_b = second_cluster["kube"]
    home_a, home_b = fleet["namespaces"][1], second_cluster["namespace"]
    groups = {
        "cluster_a": {"vars": {"isvc_kubernetes": {"kubeconfig": str(kube.kubeconfig)}, "isvc_namespace": home_a},
                      "hosts": {"two-a-0": {}, "two-a-1": {}}},
        "cluster_b": {"vars": {"isvc_kubernetes": {"kubeconfig": str(cluster_b.kubeconfig)}, "isvc_namespace": home_b},
                      "hosts": {"two-b-0": {}, "two-b-1": {}}},
        "cluster_down": {"vars": {"isvc_kubernetes": {"kubeconfig": str(down_path)}, "isvc_namespace": home_a},
                         "hosts": {"two-down-0": {}}},
    }
    path = tmp_path / "clusters.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"isvc": {"children": groups, "vars": {
        "ansible_connection": "local", "isvc_model_repo": "alpha", "isvc_model_repo_tag": "v1",
        "isvc_runtime_class": fleet["runtime_class"], "isvc_model_search_namespace": fleet["model_ns"],
        "isvc_annotations": {READY_AFTER: "0.2"}}}}}}))
    report_dir = tmp_path / "report"
    # no K8S_AUTH_* at all: every connection comes from the inventory
    run = run_playbook(BATCH, {"isvc_batch_report_dir": str(report_dir)}, {"KUBECONFIG": str(tmp_path / "none")},
                       inventory=str(path))
    assert run.rc != 0
    assert sorted(h for h, counts in recap(run.output).items() if counts["failed"]) == ["two-down-0"], run.output[-4000:]
    results = {s["service"]: s for s in json.loads((report_dir / "report.json").read_text())["services"]}
    assert "Cannot reach the Kubernetes API" in results["two-down-0"]["reason"], results["two-down-0"]
    assert sorted(s for s, r in results.items() if r["result"] == "ok") == ["two-a-0", "two-a-1", "two-b-0", "two-b-1"]
    assert [n for n in isvc_names_in(kube, home_a) if n.startswith("two-")] == ["two-a-0", "two-a-1"]
    assert isvc_names_in(cluster_b, home_b) == ["two-b-0", "two-b-1"]


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
