"""The batch filters: plan, grouping of look-ups, reports."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

from ansible_collections.aml.kserve.plugins.filter import isvc_batch

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


# -- waves: one apply per field manager, one wait per namespace -------------------------------------------------------

def _rendered(name: str, namespace: str) -> dict:
    return {"resource": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                         "metadata": {"name": name, "namespace": namespace}},
            "in_cluster_endpoint": f"http://{name}-predictor.{namespace}.svc.cluster.local"}


WAVE_HOSTS = {
    "a": {"isvc_name": "a", "isvc_namespace": "ns1", "isvc_rendered": _rendered("a", "ns1"), "isvc_batch_clock": 100.0,
          "isvc_model": {"commit_id": "c" * 40}},
    "b": {"isvc_name": "b", "isvc_namespace": "ns2", "isvc_rendered": _rendered("b", "ns2"), "isvc_batch_clock": 100.0,
          "isvc_force_conflicts": "true", "isvc_wait_timeout": 60},
    "c": {"isvc_name": "c", "isvc_namespace": "ns1", "isvc_rendered": _rendered("c", "ns1"), "isvc_batch_clock": 100.0,
          "isvc_wait": "false"},
    "failed": {"isvc_name": "failed", "isvc_namespace": "ns1", "isvc_rendered": _rendered("failed", "ns1"),
               "isvc_batch_outcome": {"service": "failed", "result": "failed", "reason": "bad input"}},
    "manifest": {"isvc_name": "manifest", "isvc_namespace": "ns1", "isvc_render_only": True,
                 "isvc_rendered": _rendered("manifest", "ns1"), "isvc_batch_clock": 100.0,
                 "isvc_result": {"manifest": "/tmp/m/ns1/manifest.yaml"}},
}


def test_wave_apply_groups_by_field_manager_and_leaves_out_failed_and_render_only():
    groups = isvc_batch.batch_wave_apply(WAVE_HOSTS, list(WAVE_HOSTS))
    assert [(g["field_manager"], g["force_conflicts"], [s["host"] for s in g["services"]]) for g in groups] == [
        ("aml.kserve", False, ["a", "c"]), ("aml.kserve", True, ["b"])]
    assert [d["metadata"]["name"] for d in groups[0]["definitions"]] == ["a", "c"]


def _registered(groups, per_group):
    return {"results": [dict(result, item=group) for group, result in zip(groups, per_group)]}


def test_wave_applied_reads_list_and_single_results_and_keeps_each_error():
    groups = isvc_batch.batch_wave_apply(WAVE_HOSTS, list(WAVE_HOSTS))
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
    waits = isvc_batch.batch_wave_waits(applied, WAVE_HOSTS)
    # c failed to apply, so it is not waited for
    assert waits == [{"namespace": "ns1", "names": ["a"], "timeout": 1800}, {"namespace": "ns2", "names": ["b"], "timeout": 60}]


def test_wave_waits_one_per_namespace_with_the_longest_timeout_and_skip_unwaited():
    applied = {h: {"host": h, "name": h, "namespace": WAVE_HOSTS[h]["isvc_namespace"], "changed": True, "error": ""}
               for h in ("a", "b", "c")}
    waits = isvc_batch.batch_wave_waits(applied, WAVE_HOSTS)
    assert waits == [{"namespace": "ns1", "names": ["a"], "timeout": 1800},  # c has isvc_wait "false"
                     {"namespace": "ns2", "names": ["b"], "timeout": 60}]


def test_a_whole_failed_apply_fails_each_of_its_services():
    groups = isvc_batch.batch_wave_apply(WAVE_HOSTS, ["a", "c"])
    applied = isvc_batch.batch_wave_applied(_registered(groups, [{"failed": True, "msg": "Unauthorized"}]))
    assert {h: s["error"] for h, s in applied.items()} == {"a": "Unauthorized", "c": "Unauthorized"}
    assert isvc_batch.batch_wave_waits(applied, WAVE_HOSTS) == []


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
    outcomes = isvc_batch.batch_wave_outcomes(WAVE_HOSTS, list(WAVE_HOSTS), applied, waited, 112.34)
    assert outcomes["a"] == {"service": "a", "namespace": "ns1", "result": "ok", "commit": "c" * 40,
                             "endpoint": "http://a.example.com", "reason": "", "seconds": 12.3}
    assert (outcomes["b"]["result"], outcomes["b"]["reason"]) == ("failed", "Forbidden while watching Deployment")
    assert (outcomes["c"]["result"], outcomes["c"]["reason"]) == ("failed", "apply failed: conflict")
    assert outcomes["failed"] == WAVE_HOSTS["failed"]["isvc_batch_outcome"]
    assert (outcomes["manifest"]["result"], outcomes["manifest"]["endpoint"]) == ("ok", "/tmp/m/ns1/manifest.yaml")


def test_wave_outcome_of_a_service_that_is_not_ready():
    applied = {"a": {"host": "a", "name": "a", "namespace": "ns1", "changed": True, "error": ""}}
    waited = {"results": [{"item": {"namespace": "ns1", "names": ["a"]}, "failed": True, "msg": "1 of 1 ...",
                           "inference_services": [{"name": "a", "namespace": "ns1", "ready": False, "state": "failed",
                                                   "message": "InferenceService ns1/a failed: the model\nfailed to load"}]}]}
    outcome = isvc_batch.batch_wave_outcomes(WAVE_HOSTS, ["a"], applied, waited, 101.0)["a"]
    assert (outcome["result"], outcome["reason"], outcome["endpoint"]) == (
        "failed", "InferenceService ns1/a failed: the model failed to load", "")
