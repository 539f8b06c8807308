"""aml.kserve.gitlab_model_ref against the GitLab emulator (real git repositories, python-gitlab), run by ansible."""

from __future__ import annotations

import secrets
import subprocess
from typing import Any

import pytest

from tests.harness.ansible import run_module
from tests.harness.gitlab_emulator import GitLabEmulator

README = GitLabEmulator.model_readme("text-generation", "transformers", {"license": "apache-2.0", "tags": ["chat"]})


def git_sha(emulator: GitLabEmulator, path: str, ref: str) -> str:
    repo = emulator.repos_dir / (path + ".git")
    return subprocess.run(["git", "-C", str(repo), "rev-parse", ref + "^{commit}"], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def models(gitlab: GitLabEmulator) -> dict[str, Any]:
    """Projects under a namespace of this file's own, so counts are exact."""
    ns = "ref-" + secrets.token_hex(3)
    gitlab.create_project(f"{ns}/qwen2-7b", files={"README.md": README, "config.json": "{}"},
                          branches={"feature/new-weights": {"README.md": GitLabEmulator.model_readme("text-generation", "vllm")}},
                          tags={"v1.0": "main"})
    gitlab.create_project(f"{ns}/team-a/bert", files={"README.md": GitLabEmulator.model_readme("fill-mask", "transformers")})
    gitlab.create_project(f"{ns}/team-b/bert", files={"README.md": GitLabEmulator.model_readme("fill-mask", "onnx")})
    gitlab.create_project(f"{ns}/team-a/nlp/plain", files={"README.md": "# Plain\npipeline_tag: text2text-generation\nlibrary_name: transformers\n"})
    gitlab.create_project(f"{ns}/broken", files={"README.md": "---\npipeline_tag: [unclosed\nlibrary_name: x\n---\n"})
    gitlab.create_project(f"{ns}/no-readme", files={"model.safetensors": b"\x00\x01"})
    gitlab.create_project(f"{ns}/no-library", files={"README.md": "---\npipeline_tag: text-generation\n---\n# no library\n"})
    gitlab.create_project(f"{ns}-archive/qwen2-7b", files={"README.md": README})
    return {"ns": ns}


def args(gitlab: GitLabEmulator, **extra: Any) -> dict[str, Any]:
    return dict({"api_url": gitlab.url, "api_token": sorted(gitlab.tokens)[0], "retries": 2, "timeout": 5}, **extra)


def test_default_branch_resolves_to_full_sha_and_front_matter(gitlab, models):
    ns = models["ns"]
    gitlab.reset_counters()
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=ns))
    assert run.rc == 0, run.output
    r = run.result
    sha = git_sha(gitlab, f"{ns}/qwen2-7b", "main")
    assert r["changed"] is False
    assert (r["repo"], r["project_path"], r["group"], r["subgroup"]) == ("qwen2-7b", f"{ns}/qwen2-7b", ns, "")
    assert (r["branch"], r["tag"], r["default_branch"]) == ("main", "", "main")
    assert r["commit_id"] == sha and len(sha) == 40
    assert r["revision"] == sha
    assert (r["pipeline_tag"], r["library_name"]) == ("text-generation", "transformers")
    assert r["metadata"]["license"] == "apache-2.0" and r["metadata"]["tags"] == ["chat"]
    # search (one page), branch, README: three requests, as documented
    assert gitlab.request_count("/api/v4/") == 3


def test_branch_with_slash_and_tag(gitlab, models):
    ns = models["ns"]
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=ns, branch="feature/new-weights"))
    assert run.rc == 0, run.output
    assert run.result["commit_id"] == git_sha(gitlab, f"{ns}/qwen2-7b", "feature/new-weights")
    assert run.result["branch"] == "feature/new-weights"
    assert run.result["library_name"] == "vllm"

    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=ns, tag="v1.0"))
    assert run.rc == 0, run.output
    assert run.result["commit_id"] == git_sha(gitlab, f"{ns}/qwen2-7b", "v1.0")
    assert (run.result["revision"], run.result["tag"], run.result["branch"]) == ("v1.0", "v1.0", "")


def test_same_name_in_two_subgroups_is_an_error_listing_both(gitlab, models):
    ns = models["ns"]
    run = run_module("gitlab_model_ref", args(gitlab, repo="bert", search_namespace=ns))
    assert run.rc != 0 and run.result["failed"]
    assert f"{ns}/team-a/bert" in run.result["msg"] and f"{ns}/team-b/bert" in run.result["msg"]
    assert "project_path" in run.result["msg"]

    run = run_module("gitlab_model_ref", args(gitlab, repo="bert", project_path=f"{ns}/team-b/bert"))
    assert run.rc == 0, run.output
    assert (run.result["group"], run.result["subgroup"], run.result["library_name"]) == (ns, "team-b", "onnx")


def test_nested_subgroup_and_readme_without_front_matter(gitlab, models):
    ns = models["ns"]
    run = run_module("gitlab_model_ref", args(gitlab, repo="plain", search_namespace=ns))
    assert run.rc == 0, run.output
    assert run.result["subgroup"] == "team-a/nlp"
    assert (run.result["pipeline_tag"], run.result["library_name"]) == ("text2text-generation", "transformers")
    assert run.result["metadata"] == {}


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"repo": "qwen2"}, "No project named 'qwen2'"),                     # substring of a name only
        ({"repo": "broken"}, "is not valid YAML"),
        ({"repo": "no-readme"}, "README.md of"),
        ({"repo": "no-library"}, "lacks library_name"),
        ({"repo": "qwen2-7b", "branch": "nope"}, "404 Branch Not Found"),
        ({"repo": "qwen2-7b", "tag": "v9"}, "404 Tag Not Found"),
        ({"repo": "qwen2-7b", "branch": "main", "tag": "v1.0"}, "mutually exclusive"),
    ],
)
def test_errors_name_the_problem(gitlab, models, extra, expected):
    run = run_module("gitlab_model_ref", args(gitlab, search_namespace=models["ns"], **extra))
    assert run.rc != 0 and run.result.get("failed"), run.output
    assert expected in run.result["msg"]


def test_project_path_not_found(gitlab, models):
    run = run_module("gitlab_model_ref", args(gitlab, repo="x", project_path=models["ns"] + "/missing"))
    assert run.rc != 0
    assert "404 Project Not Found" in run.result["msg"]


def test_bad_token_is_reported_without_the_token(gitlab, models):
    bad = "glpat-wrong-" + secrets.token_hex(8)
    run = run_module("gitlab_model_ref", dict(args(gitlab, repo="qwen2-7b", search_namespace=models["ns"]), api_token=bad), verbosity=4)
    assert run.rc != 0
    assert "rejected the token" in run.result["msg"] and "401" in run.result["msg"]
    assert bad not in run.output


def test_token_from_environment_never_printed(gitlab, models):
    token = sorted(gitlab.tokens)[0]
    params = {"repo": "qwen2-7b", "search_namespace": models["ns"], "api_url": gitlab.url}
    run = run_module("gitlab_model_ref", params, env={"GITLAB_TOKEN": token}, verbosity=4)
    assert run.rc == 0, run.output
    assert token not in run.output
    assert run.result["commit_id"]


def test_pagination_reads_every_page(gitlab):
    ns = "page-" + secrets.token_hex(3)
    for i in range(104):
        gitlab.create_project(f"{ns}/filler-{i:03d}", files={"README.md": README})
    gitlab.create_project(f"{ns}/deep/target", files={"README.md": README})
    gitlab.reset_counters()
    run = run_module("gitlab_model_ref", args(gitlab, repo="target", search_namespace=ns))
    assert run.rc == 0, run.output
    assert run.result["project_path"] == f"{ns}/deep/target"
    assert gitlab.request_count("/api/v4/projects?") == 2  # 105 projects, 100 a page


def test_transient_errors_are_retried(gitlab, models):
    gitlab.fail_next(2, 503)
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"]))
    assert run.rc == 0, run.output

    gitlab.fail_next(1, 429, retry_after=1)
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"]))
    assert run.rc == 0, run.output


def test_retries_are_bounded(gitlab, models):
    gitlab.reset_counters()
    gitlab.fail_next(50, 503)
    try:
        run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], retries=2))
    finally:
        gitlab.clear_faults()
    assert run.rc != 0
    assert "503" in run.result["msg"] and "after 2 retries" in run.result["msg"]
    assert gitlab.request_count("/api/v4/projects") == 3  # first try + 2 retries


def test_connection_refused_is_clear(gitlab, models):
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], retries=0,
                                              api_url="http://127.0.0.1:9"))
    assert run.rc != 0
    assert "Cannot connect to GitLab at http://127.0.0.1:9" in run.result["msg"]


@pytest.fixture(scope="module")
def tls_gitlab(tmp_path_factory):
    emulator = GitLabEmulator(tmp_path_factory.mktemp("gitlab-tls"), token="glpat-" + secrets.token_hex(10), tls=True)
    emulator.start()
    emulator.create_project("amlmodels/secure", files={"README.md": README})
    yield emulator
    emulator.stop()


def test_tls_verified_with_ca_path_and_refused_without(tls_gitlab):
    base = args(tls_gitlab, repo="secure")
    run = run_module("gitlab_model_ref", dict(base, retries=0))
    assert run.rc != 0
    assert "TLS verification failed" in run.result["msg"] and "ca_path" in run.result["msg"]

    run = run_module("gitlab_model_ref", dict(base, ca_path=tls_gitlab.ca_file))
    assert run.rc == 0, run.output
    assert run.result["project_path"] == "amlmodels/secure"


def test_timeout_is_reported(gitlab, models):
    gitlab.latency = 2.0
    try:
        run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], timeout=0.5, retries=0))
    finally:
        gitlab.latency = 0.0
    assert run.rc != 0
    assert "did not answer within 0.5 s" in run.result["msg"]
