"""aml.kserve.gitlab_model_ref against the GitLab emulator (real git repositories, python-gitlab), run by ansible."""

from __future__ import annotations

import secrets
import subprocess
import time
from typing import Any

import pytest

from tests.harness.ansible import run_module
from tests.harness.gitlab_emulator import RESET, GitLabEmulator

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
    gitlab.create_project(f"{ns}/body-library", files={
        "README.md": "---\npipeline_tag: text-generation\nlicense: mit\n---\n# Card\n\nlibrary_name: x\n"})
    gitlab.create_project(f"{ns}/empty-readme", files={"README.md": "", "config.json": "{}"})
    gitlab.create_project(f"{ns}/no-pipeline-tag", files={"README.md": "---\nlibrary_name: transformers\n---\n# no tag\n"})
    gitlab.create_project(f"{ns}/on-develop", default_branch="develop",
                          files={"README.md": GitLabEmulator.model_readme("text-generation", "vllm")},
                          branches={"main": {"README.md": GitLabEmulator.model_readme("text-generation", "onnx")}})
    gitlab.create_project(f"{ns}/card-in-docs", files={
        "README.md": "# Just a readme, no metadata\n",
        "docs/CARD.md": GitLabEmulator.model_readme("automatic-speech-recognition", "whisper", {"license": "mit"})})
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
        gitlab.wait_idle()  # the search the client gave up on is answered 2 s after it came, in no later test
    assert run.rc != 0
    assert "did not answer within 0.5 s" in run.result["msg"]


# -- connection from the environment ---------------------------------------------------------------------------


def test_url_and_token_from_environment(gitlab, models):
    token = sorted(gitlab.tokens)[0]
    params = {"repo": "qwen2-7b", "search_namespace": models["ns"], "retries": 0}
    run = run_module("gitlab_model_ref", params, env={"GITLAB_URL": gitlab.url, "GITLAB_TOKEN": token}, verbosity=4)
    assert run.rc == 0, run.output
    assert run.result["project_path"] == f"{models['ns']}/qwen2-7b"
    assert run.result["commit_id"] == git_sha(gitlab, f"{models['ns']}/qwen2-7b", "main")
    assert token not in run.output

    # GITLAB_URL really is what the module talks to
    run = run_module("gitlab_model_ref", params, env={"GITLAB_URL": "http://127.0.0.1:9", "GITLAB_TOKEN": token}, verbosity=4)
    assert run.rc != 0
    assert "Cannot connect to GitLab at http://127.0.0.1:9" in run.result["msg"], run.result["msg"]
    assert token not in run.output


# -- bounded retries ----------------------------------------------------------------------------------------------

SEARCH = "/api/v4/projects?"


@pytest.fixture
def timed_gitlab(gitlab):
    """The session emulator, idle, with faults and counters (``requests``, ``timeline``) cleared.

    Idle first: CI once saw test_timeout_is_reported's search (latency 2 s, given up on after 0.5 s) wake in the next
    test, take its 429 and leave the module's own search a 200, 0.11 s "after the 429"."""
    gitlab.wait_idle()
    gitlab.clear_faults()
    gitlab.reset_counters()
    yield gitlab
    gitlab.clear_faults()


def searches_of(gitlab) -> list:
    """The project searches in ``timeline``, in the order they were answered."""
    return [visit for visit in gitlab.timeline if SEARCH in visit.path]


def test_retry_after_of_an_hour_is_capped(timed_gitlab, models):
    gitlab = timed_gitlab
    gitlab.fail_next(1, 429, retry_after=3600, path_contains=SEARCH)
    started = time.monotonic()
    # timeout=5 is the cap of the wait, and the read timeout too: long enough that the 429 itself is read in time on a
    # loaded machine (with 2, a 429 answered after the client gave up on it was followed by the retry it had already
    # sent, 0.3 s later, and the wait was never seen)
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], timeout=5, retries=2))
    elapsed = time.monotonic() - started
    assert run.rc == 0, run.output
    assert run.result["commit_id"] == git_sha(gitlab, f"{models['ns']}/qwen2-7b", "main")
    searches = searches_of(gitlab)
    statuses = [visit.status for visit in searches]
    # What the code guarantees: the 429, then answers until one is read in time, within retries=2. On a loaded
    # machine a 200 read too late is sent again (as the next test forces): [429, 200] usually, [429, 200, 200] then.
    assert statuses in ([429, 200], [429, 200, 200]), statuses
    assert gitlab.request_count("/api/v4/") == len(searches) + 2  # the searches, branch, README
    # Between arrivals, as they came: the wait is the client's, from the 429 it read to the next search it sent.
    arrivals = sorted(visit.arrived for visit in searches)
    gap = arrivals[1] - arrivals[0]
    assert 5.0 <= gap < 5.0 + 5, f"retried {gap:.2f}s after Retry-After: 3600 with timeout=5"
    assert elapsed < 5.0 + 5.0 + 20  # the capped wait, at most one read timeout, plus ansible's own start-up


def test_an_answer_later_than_timeout_is_asked_again(timed_gitlab, models):
    # Why test_retry_after_of_an_hour_is_capped may see three searches: the one after the 429 answered 200, but
    # later than the read timeout, so the client retried it (a timeout is retryable) and the emulator counted both.
    gitlab = timed_gitlab
    gitlab.fail_next(1, 429, retry_after=3600, path_contains=SEARCH)
    gitlab.delay_next(1, 3.0, path_contains=SEARCH)
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], timeout=2, retries=2))
    assert run.rc == 0, run.output
    assert run.result["project_path"] == f"{models['ns']}/qwen2-7b"
    time.sleep(1.5)  # the late answer is recorded when the emulator sends it, after the client gave up on it
    assert [visit.status for visit in searches_of(gitlab)] == [429, 200, 200]
    assert gitlab.request_count("/api/v4/") == 5  # three searches, branch, README


def test_retry_after_that_never_ends_fails_after_the_retries(timed_gitlab, models):
    gitlab = timed_gitlab
    gitlab.fail_next(50, 429, retry_after=3600, path_contains=SEARCH)
    started = time.monotonic()
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], timeout=1, retries=2))
    elapsed = time.monotonic() - started
    assert run.rc != 0 and run.result["failed"]
    msg = run.result["msg"]
    assert "GitLab answered 429 (429 Too Many Requests)" in msg, msg
    assert "after 2 retries (each wait capped at 1 s, whatever Retry-After asked)" in msg, msg
    assert run.result["status"] == 429
    assert gitlab.request_count(SEARCH) == 3 and gitlab.request_count("/api/v4/") == 3
    arrivals = sorted(visit.arrived for visit in searches_of(gitlab))
    assert all(1.0 <= b - a < 4.0 for a, b in zip(arrivals, arrivals[1:])), arrivals
    assert elapsed < 2 * 1.0 + 20


def test_connection_reset_is_retried(timed_gitlab, models):
    gitlab = timed_gitlab
    gitlab.reset_next(1, path_contains=SEARCH)
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"]))
    assert run.rc == 0, run.output
    assert run.result["project_path"] == f"{models['ns']}/qwen2-7b"
    assert [visit.status for visit in searches_of(gitlab)] == [RESET, 200]
    assert gitlab.request_count(SEARCH) == 2
    assert gitlab.request_count("/api/v4/") == 4  # the reset search, the search, branch, README


def test_connection_reset_forever_fails_after_the_retries(timed_gitlab, models):
    gitlab = timed_gitlab
    gitlab.reset_next(50, path_contains="/repository/branches/")
    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=models["ns"], retries=1))
    assert run.rc != 0
    msg = run.result["msg"]
    assert f"Cannot connect to GitLab at {gitlab.url}" in msg and "after 1 retries" in msg, msg
    assert "reading branch 'main' of " + models["ns"] + "/qwen2-7b" in msg, msg
    assert "Connection reset by peer" in msg or "Connection aborted" in msg, msg
    assert gitlab.request_count("/repository/branches/") == 2
    assert gitlab.request_count("/api/v4/") == 3  # search, branch twice; never the README


# -- README contents ----------------------------------------------------------------------------------------------


def where(gitlab, ns: str, name: str, ref: str = "main", readme: str = "README.md") -> str:
    """How errors name a README: '<readme> of <project path> at <ref> (<sha12>)'."""
    return f"{readme} of {ns}/{name} at {ref} ({git_sha(gitlab, f'{ns}/{name}', ref)[:12]})"


def test_key_missing_from_front_matter_is_read_from_the_body(gitlab, models):
    run = run_module("gitlab_model_ref", args(gitlab, repo="body-library", search_namespace=models["ns"]))
    assert run.rc == 0, run.output
    assert (run.result["pipeline_tag"], run.result["library_name"]) == ("text-generation", "x")
    assert run.result["metadata"] == {"pipeline_tag": "text-generation", "license": "mit"}


@pytest.mark.parametrize("repo, says, also", [
    ("empty-readme", " is empty;", "pipeline_tag and library_name"),
    ("no-pipeline-tag", " lacks pipeline_tag;", "pipeline_tag"),
    ("no-readme", " does not exist;", "readme_path"),
])
def test_readme_problem_is_an_error_naming_project_and_ref(gitlab, models, repo, says, also):
    ns = models["ns"]
    run = run_module("gitlab_model_ref", args(gitlab, repo=repo, search_namespace=ns))
    assert run.rc != 0 and run.result["failed"]
    msg = run.result["msg"]
    assert msg.startswith(where(gitlab, ns, repo) + says), msg
    assert also in msg
    if repo == "no-pipeline-tag":
        assert "library_name" not in msg.split(";")[0]
        assert run.result["missing"] == ["pipeline_tag"]


def test_default_branch_other_than_main(gitlab, models):
    ns = models["ns"]
    run = run_module("gitlab_model_ref", args(gitlab, repo="on-develop", search_namespace=ns))
    assert run.rc == 0, run.output
    develop, main = git_sha(gitlab, f"{ns}/on-develop", "develop"), git_sha(gitlab, f"{ns}/on-develop", "main")
    assert develop != main
    assert (run.result["branch"], run.result["default_branch"], run.result["tag"]) == ("develop", "develop", "")
    assert run.result["commit_id"] == develop and run.result["revision"] == develop
    assert run.result["library_name"] == "vllm"  # develop's README, not main's (onnx)


def test_readme_path_in_a_subdirectory(gitlab, models):
    ns = models["ns"]
    run = run_module("gitlab_model_ref", args(gitlab, repo="card-in-docs", search_namespace=ns, readme_path="docs/CARD.md"))
    assert run.rc == 0, run.output
    assert (run.result["pipeline_tag"], run.result["library_name"]) == ("automatic-speech-recognition", "whisper")
    assert run.result["metadata"]["license"] == "mit"

    # the default README.md of that project has no metadata: the error names it
    run = run_module("gitlab_model_ref", args(gitlab, repo="card-in-docs", search_namespace=ns))
    assert run.rc != 0
    assert run.result["msg"].startswith(where(gitlab, ns, "card-in-docs") + " lacks pipeline_tag and library_name"), run.result["msg"]

    run = run_module("gitlab_model_ref", args(gitlab, repo="qwen2-7b", search_namespace=ns, readme_path="docs/CARD.md"))
    assert run.rc != 0
    assert run.result["msg"].startswith(where(gitlab, ns, "qwen2-7b", readme="docs/CARD.md") + " does not exist"), run.result["msg"]


def test_validate_certs_false_needs_no_ca_path(tls_gitlab):
    # TLS verification off on purpose: the option itself is under test (every other TLS test verifies)
    run = run_module("gitlab_model_ref", args(tls_gitlab, repo="secure", validate_certs=False, retries=0))
    assert run.rc == 0, run.output
    assert (run.result["project_path"], run.result["branch"]) == ("amlmodels/secure", "main")
    assert run.result["commit_id"] == git_sha(tls_gitlab, "amlmodels/secure", "main")
