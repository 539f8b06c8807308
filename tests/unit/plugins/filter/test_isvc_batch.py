"""The batch filters: plan, grouping of look-ups, reports."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import yaml

from ansible_collections.aml.kserve.plugins.filter import isvc_batch
from tests.harness.ansible import REPO_ROOT

DEFAULTS = {"isvc_model_search_namespace": "amlmodels", "isvc_gitlab_validate_certs": True, "isvc_runtime_name": "",
            "isvc_runtime_class": "", "isvc_gitlab_url": "", "isvc_gitlab_token": ""}


def hostvars() -> dict:
    return {
        "a": {"isvc_namespace": "ns1", "isvc_model_repo": "m", "isvc_model_repo_tag": "v1", "isvc_runtime_class": "vllm",
              "ansible_connection": "local"},
        "b": {"isvc_namespace": "ns2", "isvc_model_repo": "m", "isvc_model_repo_tag": "v1", "isvc_runtime_class": "vllm"},
        "c": {"isvc_batch_entry": {"isvc_name": "c-svc", "isvc_namespace": "ns2", "isvc_model_repo": "other",
                                   "isvc_gitlab_url": "https://gl2", "isvc_gitlab_token": "t0k"}},
    }


def test_plan_reads_entries_host_vars_and_defaults():
    plan = isvc_batch.batch_plan(hostvars(), ["a", "b", "c"], DEFAULTS)
    assert plan["services"]["a"]["name"] == "a"
    assert plan["services"]["c"]["name"] == "c-svc"
    assert plan["services"]["c"]["token_host"] == "c" and "t0k" not in str(plan)
    assert plan["services"]["a"]["model_args"]["search_namespace"] == "amlmodels"
    assert plan["namespaces"] == {"ns1": {"needs_gitlab_config": True, "needs_gitlab_secret": True},
                                  "ns2": {"needs_gitlab_config": True, "needs_gitlab_secret": True}}


def test_same_gitlab_and_ref_in_two_namespaces_is_one_lookup():
    plan = isvc_batch.batch_plan(hostvars(), ["a", "b", "c"], DEFAULTS)
    token = base64.b64encode(b"secret").decode()
    configs = {ns: {"data": {"MODEL_REPO_GIT_BASE": "gl.example", "MODEL_REPO_GIT_SCHEME": "https"}} for ns in ("ns1", "ns2")}
    secrets = {ns: {"data": {"MODEL_REPO_GIT_TOKEN": token}} for ns in ("ns1", "ns2")}
    result = isvc_batch.batch_model_lookups(plan, configs, secrets, hostvars())
    assert len(result["lookups"]) == 2
    assert result["service_keys"]["a"] == result["service_keys"]["b"] != result["service_keys"]["c"]
    urls = sorted(item["api_url"] for item in result["lookups"])
    assert urls == ["https://gl.example", "https://gl2"]
    assert "secret" not in str(result) and token not in str(result) and "t0k" not in str(result)


def test_other_token_means_another_lookup():
    plan = isvc_batch.batch_plan(hostvars(), ["a", "b"], DEFAULTS)
    configs = {ns: {"data": {"MODEL_REPO_GIT_BASE": "gl.example"}} for ns in ("ns1", "ns2")}
    secrets = {"ns1": {"data": {"MODEL_REPO_GIT_TOKEN": "YQ=="}}, "ns2": {"data": {"MODEL_REPO_GIT_TOKEN": "Yg=="}}}
    result = isvc_batch.batch_model_lookups(plan, configs, secrets, hostvars())
    assert len(result["lookups"]) == 2


def test_by_namespace_handles_listings_loops_and_failures():
    listing = {"resources": [{"metadata": {"name": "x", "namespace": "ns1"}, "data": {"k": "1"}}]}
    loop = {"results": [{"resources": [{"metadata": {"name": "x", "namespace": "ns2"}, "data": {"k": "2"}}]},
                        {"skipped": True}, {"failed": True, "msg": "403"}]}
    found = isvc_batch.batch_by_namespace({"failed": True}, listing, loop, {"skipped": True})
    assert {ns: obj["data"]["k"] for ns, obj in found.items()} == {"ns1": "1", "ns2": "2"}
    namespaces = isvc_batch.batch_by_namespace({"resources": [{"metadata": {"name": "team-a", "labels": {"x": "y"}}}]})
    assert namespaces["team-a"]["metadata"]["labels"] == {"x": "y"}


OUTCOMES = [
    {"service": "a", "namespace": "ns1", "result": "ok", "commit": "f" * 40, "endpoint": "http://a", "seconds": 3.25, "reason": ""},
    {"service": "b", "namespace": "ns1", "result": "failed", "commit": "", "endpoint": "", "seconds": 1.5,
     "reason": "the model failed to load: <boom> & \"quotes\""},
    {"service": "c", "namespace": "ns2", "result": "skipped", "commit": "", "endpoint": "", "seconds": 0, "reason": "stopped"},
]


def test_junit_xml_marks_failures_and_skips():
    root = ET.fromstring(isvc_batch.junit_xml(OUTCOMES).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["skipped"]) == ("3", "1", "1")
    assert suite.attrib["time"] == "4.750"
    cases = {c.attrib["name"]: c for c in suite.findall("testcase")}
    assert cases["b"].find("failure").attrib["message"] == "the model failed to load: <boom> & \"quotes\""
    assert cases["c"].find("skipped") is not None
    assert "f" * 40 in cases["a"].find("system-out").text


def test_batch_table_is_aligned_and_counts():
    lines = isvc_batch.batch_table(OUTCOMES)
    assert lines[0].split() == ["SERVICE", "NAMESPACE", "RESULT", "COMMIT", "ENDPOINT", "SECONDS", "FAILURE"]
    assert lines[1].split()[:3] == ["a", "ns1", "ok"] and "ffffffffffff" in lines[1] and "3.2" in lines[1]
    assert lines[0].index("RESULT") == lines[2].index("failed")
    assert lines[-1] == "1 of 3 ready; 1 failed; 1 skipped"


# -- waves: prepared in one task, one apply per field manager, one wait per namespace ----------------------------------

ROLE_DEFAULTS = yaml.safe_load((REPO_ROOT / "roles/isvc/defaults/main.yml").read_text())
ROLE_OPTIONS = yaml.safe_load((REPO_ROOT / "roles/isvc/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
MODEL = {"repo": "alpha", "project_id": 7, "project_path": "amlmodels/alpha", "group": "amlmodels", "subgroup": "",
         "branch": "", "revision": "v1", "commit_id": "c" * 40, "pipeline_tag": "text-generation",
         "library_name": "transformers"}
RUNTIME = {"runtime": {"name": "rt", "runtime_class": "vllm", "container": {}}, "choice": "class"}


def _shared(hosts: dict) -> dict:
    services = {h: {"name": v.get("isvc_name", h), "namespace": v["isvc_namespace"], "runtime_key": "rk"}
                for h, v in hosts.items()}
    return {"plan": {"services": services, "model_keys": {h: "m1" for h in hosts}},
            "models": {"m1": MODEL}, "runtimes": {"rk|transformers": RUNTIME},
            "namespaces": {"ns1": {"metadata": {"name": "ns1", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}}}


def _prepare(hosts: dict, existing: dict | None = None, stopped: bool = False) -> dict:
    base = {"isvc_model_repo": "alpha", "isvc_runtime_class": "vllm", "isvc_host_ipc": False, "isvc_batch_clock": 100.0}
    hostvars = {h: dict(base, **v) for h, v in hosts.items()}
    return isvc_batch.batch_wave_prepare(hostvars, list(hosts), ROLE_DEFAULTS, ROLE_OPTIONS, _shared(hosts),
                                         existing or {"results": []}, stopped)


def test_prepare_renders_each_service_as_the_role_would():
    prepared = _prepare({"a": {"isvc_namespace": "ns2"},
                         "b": {"isvc_namespace": "ns2", "isvc_force_conflicts": "yes", "isvc_min_replicas": "2",
                               "isvc_max_replicas": 3}})
    a, b = prepared["a"], prepared["b"]
    assert "error" not in a and "error" not in b
    assert a["rendered"]["resource"]["metadata"]["name"] == "a"
    assert a["rendered"]["deployment_mode"] == "RawDeployment" and b["rendered"]["deployment_mode"] == "Serverless"
    assert b["rendered"]["resource"]["spec"]["predictor"]["minReplicas"] == 2  # "2" converted as the role's spec does
    assert (a["commit"], a["wait"], a["wait_timeout"], b["force_conflicts"]) == ("c" * 40, True, 1800, True)
    assert a["rendered"]["resource"]["spec"]["predictor"]["model"]["storageUri"].startswith("hf://")


def test_prepare_fails_each_bad_service_alone_with_the_roles_messages():
    prepared = _prepare({
        "ok": {"isvc_namespace": "ns2"},
        "type": {"isvc_namespace": "ns2", "isvc_min_replicas": "many"},
        "rules": {"isvc_namespace": "ns2", "isvc_min_replicas": 3, "isvc_max_replicas": 2},
        "render": {"isvc_namespace": "ns2", "isvc_cpu_request": "lots"},
        "upper": {"isvc_namespace": "ns2", "isvc_name": "Upper"},
        "psa": {"isvc_namespace": "ns1", "isvc_host_ipc": "true"},
    })
    assert "error" not in prepared["ok"]
    assert prepared["type"]["error"].startswith("Invalid role variables: ") and "isvc_min_replicas" in prepared["type"]["error"]
    assert prepared["rules"]["error"] == (
        "Invalid role variables (1): isvc_max_replicas (2) must not be less than isvc_min_replicas (3)")
    assert "cpu_request" in prepared["render"]["error"] and "isvc_<option>" in prepared["render"]["error"]
    assert "name" in prepared["upper"]["error"] and "Upper" in prepared["upper"]["error"]
    assert prepared["psa"]["error"].startswith("Namespace ns1 enforces Pod Security level baseline, which forbids hostIPC")


def test_prepare_guards_existing_services_and_failed_reads():
    existing = {"results": [
        {"item": {"namespace": "ns2", "names": ["a", "b"]},
         "inference_services": [{"name": "a", "resource": {"metadata": {"annotations": {
             "serving.kserve.io/deploymentMode": "Serverless"}}}}]},
        {"item": {"namespace": "ns3", "names": ["c"]}, "failed": True, "msg": "Forbidden while listing InferenceService"},
    ]}
    prepared = _prepare({"a": {"isvc_namespace": "ns2"}, "b": {"isvc_namespace": "ns2", "isvc_update_if_exists": False},
                         "c": {"isvc_namespace": "ns3"}}, existing)
    assert "runs in Serverless mode and this run renders RawDeployment" in prepared["a"]["error"]
    assert "error" not in prepared["b"]  # b does not exist yet
    assert prepared["c"]["error"] == "Forbidden while listing InferenceService"


def test_prepare_after_a_stopped_wave_skips_everything():
    prepared = _prepare({"a": {"isvc_namespace": "ns2"}}, stopped=True)
    assert prepared["a"]["result"] == "skipped" and "earlier wave" in prepared["a"]["error"]
    assert isvc_batch.batch_wave_apply(prepared) == []


def _entry(host: str, namespace: str, **extra) -> dict:
    entry = {"host": host, "name": host, "namespace": namespace, "clock": 100.0, "commit": "c" * 40, "wait": True,
             "wait_timeout": 1800, "field_manager": "aml.kserve", "force_conflicts": False, "render_only": False,
             "manifest": f"./m/{namespace}/{host}.yaml", "label_namespace": False,
             "rendered": {"resource": {"kind": "InferenceService", "metadata": {"name": host, "namespace": namespace}},
                          "in_cluster_endpoint": f"http://{host}-predictor.{namespace}.svc.cluster.local"}}
    entry.update(extra)
    return entry


PREPARED = {
    "a": _entry("a", "ns1"),
    "b": _entry("b", "ns2", force_conflicts=True, wait_timeout=60),
    "c": _entry("c", "ns1", wait=False),
    "failed": _entry("failed", "ns1", error="bad\ninput"),
    "manifest": _entry("manifest", "ns1", render_only=True),
}


def test_wave_apply_groups_by_field_manager_and_leaves_out_failed_and_render_only():
    groups = isvc_batch.batch_wave_apply(PREPARED)
    assert [(g["field_manager"], g["force_conflicts"], [s["host"] for s in g["services"]]) for g in groups] == [
        ("aml.kserve", False, ["a", "c"]), ("aml.kserve", True, ["b"])]
    assert [d["metadata"]["name"] for d in groups[0]["definitions"]] == ["a", "c"]


def _registered(groups, per_group):
    return {"results": [dict(result, item=group) for group, result in zip(groups, per_group)]}


def test_wave_applied_reads_list_and_single_results_and_keeps_each_error():
    groups = isvc_batch.batch_wave_apply(PREPARED)
    registered = _registered(groups, [
        # two definitions: kubernetes.core returns result.results, one entry each, errors kept (continue_on_error)
        {"changed": True, "result": {"results": [
            {"changed": True, "result": {}},
            {"changed": False, "result": {}, "error": {"msg": "Failed to apply object: conflict\n with \"other\""}}]}},
        # one definition: kubernetes.core returns that result itself
        {"changed": True, "result": {"metadata": {}}, "method": "apply"},
    ])
    applied = isvc_batch.batch_wave_applied(registered)
    assert applied["a"] == {"host": "a", "name": "a", "namespace": "ns1", "changed": True, "error": ""}
    assert applied["c"]["error"] == 'Failed to apply object: conflict with "other"'
    assert applied["b"]["changed"] is True and applied["b"]["error"] == ""
    # c failed to apply (and is not waited for anyway)
    rules = {"settle_seconds": 20.0, "trust_observed_generation": False, "ready_when": "", "fail_when": ""}
    assert isvc_batch.batch_wave_waits(applied, PREPARED) == [
        dict({"namespace": "ns1", "names": ["a"], "timeout": 1800, "baselines": {"a": {"exists": False}}}, **rules),
        dict({"namespace": "ns2", "names": ["b"], "timeout": 60, "baselines": {"b": {"exists": False}}}, **rules)]


def test_a_whole_failed_apply_fails_each_of_its_services():
    groups = isvc_batch.batch_wave_apply({h: PREPARED[h] for h in ("a", "c")})
    applied = isvc_batch.batch_wave_applied(_registered(groups, [{"failed": True, "msg": "Unauthorized"}]))
    assert {h: s["error"] for h, s in applied.items()} == {"a": "Unauthorized", "c": "Unauthorized"}
    assert isvc_batch.batch_wave_waits(applied, PREPARED) == []


def test_wave_outcomes_from_apply_and_wait():
    applied = {
        "a": {"host": "a", "name": "a", "namespace": "ns1", "changed": True, "error": ""},
        "b": {"host": "b", "name": "b", "namespace": "ns2", "changed": True, "error": ""},
        "c": {"host": "c", "name": "c", "namespace": "ns1", "changed": False, "error": "conflict"},
    }
    waited = {"results": [
        {"item": {"namespace": "ns1", "names": ["a"]},
         "inference_services": [{"name": "a", "namespace": "ns1", "ready": True, "url": "http://a.example.com"}]},
        # a wait that failed as a whole (no entry per service): its message is the service's reason
        {"item": {"namespace": "ns2", "names": ["b"]}, "failed": True, "msg": "Forbidden while watching Deployment"},
    ]}
    outcomes = isvc_batch.batch_wave_outcomes(PREPARED, applied, waited, 112.34)
    assert outcomes["a"] == {"service": "a", "namespace": "ns1", "result": "ok", "commit": "c" * 40,
                             "endpoint": "http://a.example.com", "reason": "", "seconds": 12.3}
    assert (outcomes["b"]["result"], outcomes["b"]["reason"]) == ("failed", "Forbidden while watching Deployment")
    assert (outcomes["c"]["result"], outcomes["c"]["reason"]) == ("failed", "apply failed: conflict")
    assert (outcomes["failed"]["result"], outcomes["failed"]["reason"]) == ("failed", "bad input")
    assert (outcomes["manifest"]["result"], outcomes["manifest"]["endpoint"]) == ("ok", "./m/ns1/manifest.yaml")


def test_wave_outcome_of_a_service_that_is_not_ready():
    applied = {"a": {"host": "a", "name": "a", "namespace": "ns1", "changed": True, "error": ""}}
    waited = {"results": [{"item": {"namespace": "ns1", "names": ["a"]}, "failed": True, "msg": "1 of 1 ...",
                           "inference_services": [{"name": "a", "namespace": "ns1", "ready": False, "state": "failed",
                                                   "message": "InferenceService ns1/a failed: the model\nfailed to load"}]}]}
    outcome = isvc_batch.batch_wave_outcomes({"a": PREPARED["a"]}, applied, waited, 101.0)["a"]
    assert (outcome["result"], outcome["reason"], outcome["endpoint"]) == (
        "failed", "InferenceService ns1/a failed: the model failed to load", "")


def test_wave_outcome_of_a_stopped_service_is_ok_with_the_reason():
    """serving.kserve.io/stop: "true" was asked for: not a failure of the batch."""
    applied = {"a": {"host": "a", "name": "a", "namespace": "ns1", "changed": True, "error": ""}}
    waited = {"results": [{"item": {"namespace": "ns1", "names": ["a"]},
                           "inference_services": [{"name": "a", "namespace": "ns1", "ready": False, "state": "stopped",
                                                   "message": 'stopped (serving.kserve.io/stop is "true")'}]}]}
    outcome = isvc_batch.batch_wave_outcomes({"a": PREPARED["a"]}, applied, waited, 101.0)["a"]
    assert (outcome["result"], outcome["reason"]) == ("ok", 'stopped (serving.kserve.io/stop is "true")')


def test_wave_prepare_keeps_each_services_baseline_for_its_wait():
    existing = {"results": [{"item": {"namespace": "ns1"}, "inference_services": [
        {"name": "a", "resource": {}, "baseline": {"exists": True, "generation": 3, "deployments": {"a-predictor": 5}}}]}]}
    assert isvc_batch._baselines(existing) == {  # pylint: disable=protected-access
        "ns1": {"a": {"exists": True, "generation": 3, "deployments": {"a-predictor": 5}}}}
    assert isvc_batch._baselines({"results": [{"item": {"namespace": "ns2"}, "failed": True}]}) == {}  # pylint: disable=protected-access
