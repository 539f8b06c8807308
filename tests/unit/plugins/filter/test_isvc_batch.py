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
