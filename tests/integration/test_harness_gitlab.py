"""Tests of the GitLab API emulator (tests/harness/gitlab_emulator.py), driven through python-gitlab
and, for raw status codes and headers, through requests / http.client."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.parse
from typing import Iterator

import gitlab
import pytest
import requests
import yaml

from tests.harness.gitlab_emulator import RESET, GitLabEmulator

TOKEN = "glpat-test-harness-0001"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

AML_TOP = [f"amlmodels/model-{i:02d}" for i in range(10)]
QWEN = "amlmodels/team-a/qwen2-7b"
AML_TEAM = [QWEN] + [f"amlmodels/team-a/model-{i:02d}" for i in range(10, 19)]
AML_NLP = [f"amlmodels/team-a/nlp/model-{i:02d}" for i in range(19, 26)]
AML_ALL = AML_TOP + AML_TEAM + AML_NLP
OTHERS = ["other/alpha", "other/model-zz", "sandbox/tools/gamma"]

QWEN_README = GitLabEmulator.model_readme(extra={"license": "apache-2.0", "tags": ["qwen2", "chat"]})
QWEN_CONFIG = json.dumps({"model_type": "qwen2", "hidden_size": 3584}, indent=2) + "\n"
WEIGHTS_V1 = bytes(range(256)) * 4
WEIGHTS_V2 = b"\x00\xffnew-weights\x00" * 10
NEW_README = "# qwen2-7b\n\nNew weights.\n"


def _git(repo: pathlib.Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabEmulator]:
    emulator = GitLabEmulator(tmp_path_factory.mktemp("gitlab-emulator"), token=TOKEN)
    for path in AML_ALL + OTHERS:
        if path == QWEN:
            emulator.create_project(
                path,
                files={"README.md": QWEN_README, "config.json": QWEN_CONFIG, "weights/model.safetensors": WEIGHTS_V1},
                branches={"feature/new-weights": {"weights/model.safetensors": WEIGHTS_V2, "README.md": NEW_README}},
                tags={"v1.0": "main", "v1.1-rc1": "feature/new-weights"},
                description="Qwen2 7B instruct",
            )
        else:
            emulator.create_project(path, files={"README.md": GitLabEmulator.model_readme()})
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def gl(emu: GitLabEmulator) -> gitlab.Gitlab:
    return gitlab.Gitlab(emu.url, private_token=TOKEN, retry_transient_errors=True)


@pytest.fixture(scope="module")
def qwen_repo(emu: GitLabEmulator) -> pathlib.Path:
    return emu.repos_dir / f"{QWEN}.git"


@pytest.fixture()
def api(emu: GitLabEmulator) -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = TOKEN
    yield session
    session.close()


# --------------------------------------------------------------------------- basics


def test_version_and_common_headers(gl: gitlab.Gitlab, emu: GitLabEmulator, api: requests.Session) -> None:
    assert gl.version() == ("16.11.0", "abc123")
    resp = api.get(f"{emu.url}/api/v4/version")
    assert resp.status_code == 200
    assert resp.json() == {"version": "16.11.0", "revision": "abc123"}
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Content-Length"] == str(len(resp.content))
    assert len(resp.headers["X-Request-Id"]) >= 16
    assert emu.url.startswith("http://127.0.0.1:") and not emu.url.endswith("/api/v4")


def test_model_readme_front_matter() -> None:
    text = GitLabEmulator.model_readme("text-classification", "peft", extra={"license": "mit"})
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    assert yaml.safe_load(front) == {"pipeline_tag": "text-classification", "library_name": "peft", "license": "mit"}
    assert body.lstrip().startswith("# ")


# --------------------------------------------------------------------------- projects list / pagination


def test_search_namespaces_get_all_returns_all_27(gl: gitlab.Gitlab) -> None:
    projects = gl.projects.list(search="amlmodels", search_namespaces=True, get_all=True)
    assert len(projects) == 27
    assert {p.path_with_namespace for p in projects} == set(AML_ALL)


def test_iterator_follows_link_next(gl: gitlab.Gitlab, emu: GitLabEmulator) -> None:
    emu.reset_counters()
    items = list(gl.projects.list(search="amlmodels", search_namespaces=True, iterator=True, per_page=10))
    assert [p.path_with_namespace for p in items] == [p.path_with_namespace for p in sorted(items, key=lambda p: -p.id)]
    assert {p.path_with_namespace for p in items} == set(AML_ALL)
    assert [(m, s) for m, _path, s in emu.requests] == [("GET", 200)] * 3
    pages = [dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p).query)).get("page", "1") for _method, p, _status in emu.requests]
    assert pages == ["1", "2", "3"]


def test_page_two_has_seven_oldest(gl: gitlab.Gitlab, emu: GitLabEmulator) -> None:
    page2 = gl.projects.list(search="amlmodels", search_namespaces=True, page=2, per_page=20)
    assert len(page2) == 7
    # default order is created_at desc: page 2 holds the 7 first-created projects, newest first
    assert [p.path_with_namespace for p in page2] == list(reversed(AML_ALL[:7]))
    assert [p.id for p in page2] == [7, 6, 5, 4, 3, 2, 1]


def test_pagination_headers(emu: GitLabEmulator, api: requests.Session) -> None:
    url = f"{emu.url}/api/v4/projects"
    first = api.get(url, params={"search": "amlmodels", "search_namespaces": "true", "per_page": 20})
    assert first.status_code == 200
    h = first.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Per-Page"]) == ("27", "2", "1", "20")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("2", "")
    assert len(first.json()) == 20
    links = first.links
    assert set(links) == {"next", "first", "last"}
    next_q = urllib.parse.parse_qs(urllib.parse.urlsplit(links["next"]["url"]).query)
    assert next_q == {"page": ["2"], "per_page": ["20"], "search": ["amlmodels"], "search_namespaces": ["true"]}
    assert links["next"]["url"].startswith(f"{emu.url}/api/v4/projects?")
    assert "page=1&" in links["first"]["url"] and "page=2&" in links["last"]["url"]

    second = api.get(links["next"]["url"])
    h2 = second.headers
    assert (h2["X-Page"], h2["X-Next-Page"], h2["X-Prev-Page"], h2["X-Total"]) == ("2", "", "1", "27")
    assert set(second.links) == {"prev", "first", "last"}
    assert len(second.json()) == 7
    assert {p["id"] for p in first.json()}.isdisjoint({p["id"] for p in second.json()})

    clamped = api.get(url, params={"per_page": 500, "order_by": "id", "sort": "asc"})
    assert clamped.headers["X-Per-Page"] == "100"
    assert clamped.headers["X-Total"] == "30" and clamped.headers["X-Total-Pages"] == "1"
    assert [p["id"] for p in clamped.json()] == list(range(1, 31))

    beyond = api.get(url, params={"page": 9})
    assert beyond.json() == [] and beyond.headers["X-Page"] == "9" and beyond.headers["X-Next-Page"] == ""


def test_search_semantics(gl: gitlab.Gitlab) -> None:
    assert gl.projects.list(search="amlmodels", get_all=True) == []
    assert [p.path_with_namespace for p in gl.projects.list(search="QWEN2", get_all=True)] == [QWEN]
    nlp = gl.projects.list(search="team-a/nlp", search_namespaces=True, get_all=True)
    assert {p.path_with_namespace for p in nlp} == set(AML_NLP)
    assert {p.path_with_namespace for p in gl.projects.list(search="model-zz", get_all=True)} == {"other/model-zz"}


# --------------------------------------------------------------------------- single project


def test_get_project_by_id_and_full_path(gl: gitlab.Gitlab, emu: GitLabEmulator) -> None:
    by_path = gl.projects.get(QWEN)
    by_id = gl.projects.get(by_path.id)
    assert by_id.id == by_path.id == AML_ALL.index(QWEN) + 1 == 11
    assert by_id.attributes == by_path.attributes
    p = by_path
    assert (p.name, p.path, p.path_with_namespace) == ("qwen2-7b", "qwen2-7b", QWEN)
    assert p.name_with_namespace == "amlmodels / team-a / qwen2-7b"
    assert p.description == "Qwen2 7B instruct"
    assert p.default_branch == "main"
    assert p.visibility == "private" and p.archived is False
    assert p.web_url == f"{emu.url}/{QWEN}"
    assert p.http_url_to_repo == f"{emu.url}/{QWEN}.git"
    assert p.ssh_url_to_repo == f"git@127.0.0.1:{QWEN}.git"
    assert p.readme_url == f"{emu.url}/{QWEN}/-/blob/main/README.md"
    assert p.created_at == "2024-01-01T11:00:00.000Z"
    assert p.namespace == {
        "id": 2,
        "name": "team-a",
        "path": "team-a",
        "kind": "group",
        "full_path": "amlmodels/team-a",
        "parent_id": 1,
        "avatar_url": None,
        "web_url": f"{emu.url}/groups/amlmodels/team-a",
    }
    nlp = gl.projects.get(AML_NLP[0])
    assert nlp.namespace["full_path"] == "amlmodels/team-a/nlp"
    assert (nlp.namespace["id"], nlp.namespace["parent_id"]) == (3, 2)
    assert gl.projects.get("other/alpha").namespace["parent_id"] is None


# --------------------------------------------------------------------------- branches / tags


def test_branches(gl: gitlab.Gitlab, qwen_repo: pathlib.Path) -> None:
    project = gl.projects.get(QWEN, lazy=True)
    main_sha = _git(qwen_repo, "rev-parse", "refs/heads/main")
    feature_sha = _git(qwen_repo, "rev-parse", "refs/heads/feature/new-weights")
    assert main_sha != feature_sha

    main = project.branches.get("main")
    assert (main.name, main.default, main.protected, main.merged) == ("main", True, True, False)
    assert main.commit["id"] == main_sha and main.commit["short_id"] == main_sha[:8]
    assert main.commit["parent_ids"] == [] and main.commit["title"] == "Initial commit"

    feature = project.branches.get("feature/new-weights")
    assert (feature.name, feature.default, feature.protected, feature.merged) == (
        "feature/new-weights",
        False,
        False,
        False,
    )
    assert feature.commit["id"] == feature_sha
    assert feature.commit["parent_ids"] == [main_sha]
    assert feature.commit["committed_date"] == "2024-01-01T00:01:00.000+00:00"
    assert feature.web_url.endswith(f"/{QWEN}/-/tree/feature/new-weights")

    listed = project.branches.list(get_all=True)
    assert [(b.name, b.commit["id"]) for b in listed] == [("feature/new-weights", feature_sha), ("main", main_sha)]


def test_tags(gl: gitlab.Gitlab, qwen_repo: pathlib.Path) -> None:
    project = gl.projects.get(QWEN, lazy=True)
    main_sha = _git(qwen_repo, "rev-parse", "refs/heads/main")
    feature_sha = _git(qwen_repo, "rev-parse", "refs/heads/feature/new-weights")
    tag = project.tags.get("v1.0")
    assert (tag.name, tag.target, tag.commit["id"], tag.release, tag.protected) == (
        "v1.0",
        main_sha,
        main_sha,
        None,
        False,
    )
    rc = project.tags.get("v1.1-rc1")
    assert rc.target == feature_sha
    # default order: most recently updated first
    assert [(t.name, t.target) for t in project.tags.list(get_all=True)] == [
        ("v1.1-rc1", feature_sha),
        ("v1.0", main_sha),
    ]


# --------------------------------------------------------------------------- files / commits


def test_files_get_raw_head(
    gl: gitlab.Gitlab, emu: GitLabEmulator, qwen_repo: pathlib.Path, api: requests.Session
) -> None:
    project = gl.projects.get(QWEN)
    main_sha = _git(qwen_repo, "rev-parse", "refs/heads/main")

    readme = project.files.get("README.md", ref=main_sha)
    assert readme.decode() == QWEN_README.encode()
    assert (readme.file_name, readme.file_path, readme.ref, readme.encoding) == (
        "README.md",
        "README.md",
        main_sha,
        "base64",
    )
    assert readme.size == len(QWEN_README.encode())
    assert readme.content_sha256 == hashlib.sha256(QWEN_README.encode()).hexdigest()
    assert readme.blob_id == _git(qwen_repo, "rev-parse", f"{main_sha}:README.md")
    assert readme.commit_id == readme.last_commit_id == main_sha

    weights = project.files.get("weights/model.safetensors", ref="feature/new-weights")
    assert weights.decode() == WEIGHTS_V2
    assert weights.file_name == "model.safetensors" and weights.file_path == "weights/model.safetensors"
    assert project.files.get("weights/model.safetensors", ref="v1.0").decode() == WEIGHTS_V1
    assert project.files.get("README.md", ref="feature/new-weights").decode() == NEW_README.encode()
    # config.json is unchanged on the branch: last_commit_id is the initial commit
    config = project.files.get("config.json", ref="feature/new-weights")
    assert config.last_commit_id == main_sha and config.commit_id != main_sha

    assert project.files.raw("config.json", ref="main") == QWEN_CONFIG.encode()
    assert project.files.raw("weights/model.safetensors", ref="v1.1-rc1") == WEIGHTS_V2

    head = project.files.head("README.md", ref="main")
    assert head["X-Gitlab-File-Name"] == "README.md"
    assert head["X-Gitlab-Ref"] == "main"
    assert head["X-Gitlab-Commit-Id"] == head["X-Gitlab-Last-Commit-Id"] == main_sha
    assert head["X-Gitlab-Size"] == str(len(QWEN_README.encode()))

    raw = api.get(f"{emu.url}/api/v4/projects/{project.id}/repository/files/config.json/raw")  # no ref: default branch
    assert raw.status_code == 200 and raw.content == QWEN_CONFIG.encode()
    assert raw.headers["Content-Type"].startswith("text/plain")


def test_commits(gl: gitlab.Gitlab, qwen_repo: pathlib.Path) -> None:
    project = gl.projects.get(QWEN, lazy=True)
    main_sha = _git(qwen_repo, "rev-parse", "refs/heads/main")
    feature_sha = _git(qwen_repo, "rev-parse", "refs/heads/feature/new-weights")
    commit = project.commits.get(main_sha)
    assert commit.id == main_sha and commit.short_id == main_sha[:8]
    assert (commit.title, commit.message, commit.parent_ids) == ("Initial commit", "Initial commit\n", [])
    assert commit.author_name == commit.committer_name == "GitLab Emulator"
    assert commit.authored_date == commit.committed_date == commit.created_at == "2024-01-01T00:00:00.000+00:00"
    assert commit.stats["additions"] == QWEN_README.count("\n") + QWEN_CONFIG.count("\n")
    assert project.commits.get(main_sha[:8]).id == main_sha
    assert project.commits.get("feature/new-weights").id == feature_sha
    assert project.commits.get("v1.0").id == main_sha


def test_tree_and_commit_list(gl: gitlab.Gitlab, qwen_repo: pathlib.Path) -> None:
    project = gl.projects.get(QWEN, lazy=True)
    main_sha = _git(qwen_repo, "rev-parse", "refs/heads/main")
    feature_sha = _git(qwen_repo, "rev-parse", "refs/heads/feature/new-weights")
    top = project.repository_tree(ref="main", get_all=True)
    assert [(e["type"], e["path"]) for e in top] == [
        ("tree", "weights"),
        ("blob", "README.md"),
        ("blob", "config.json"),
    ]
    deep = project.repository_tree(ref="feature/new-weights", recursive=True, get_all=True)
    by_path = {e["path"]: e for e in deep}
    assert set(by_path) == {"README.md", "config.json", "weights", "weights/model.safetensors"}
    assert by_path["weights/model.safetensors"]["id"] == _git(
        qwen_repo, "rev-parse", f"{feature_sha}:weights/model.safetensors"
    )
    assert by_path["weights/model.safetensors"]["name"] == "model.safetensors"
    sub = project.repository_tree(path="weights", ref="v1.0", get_all=True)
    assert [(e["type"], e["path"], e["mode"]) for e in sub] == [("blob", "weights/model.safetensors", "100644")]

    assert [c.id for c in project.commits.list(ref_name="feature/new-weights", get_all=True)] == [feature_sha, main_sha]
    assert [
        c.id
        for c in project.commits.list(
            ref_name="feature/new-weights", query_parameters={"path": "config.json"}, get_all=True
        )
    ] == [main_sha]
    assert [c.id for c in project.commits.list(get_all=True)] == [main_sha]


def test_commit_seeding_updates_branch(gl: gitlab.Gitlab, emu: GitLabEmulator) -> None:
    emu.create_project("scratch/commit-target", files={"a.txt": "one\n"})
    project = gl.projects.get("scratch/commit-target", lazy=True)
    first = project.branches.get("main").commit["id"]
    new_sha = emu.commit("scratch/commit-target", "main", {"a.txt": "two\n", "dir/b.txt": b"\x01"}, message="second")
    branch = project.branches.get("main")
    assert branch.commit["id"] == new_sha and branch.commit["parent_ids"] == [first]
    assert branch.commit["title"] == "second"
    assert project.files.raw("a.txt", ref="main") == b"two\n"
    assert project.files.raw("a.txt", ref=first) == b"one\n"
    side = emu.commit("scratch/commit-target", "side", {"c.txt": "c"})
    assert project.branches.get("side").commit["parent_ids"] == [new_sha]
    assert project.commits.get(side).parent_ids == [new_sha]
    assert gl.projects.get("scratch/commit-target").readme_url is None


def test_shas_are_deterministic(tmp_path: pathlib.Path) -> None:
    seed = {
        "files": {"README.md": "# det\n", "weights/w.bin": b"\x00\x01\x02"},
        "branches": {"feature/new-weights": {"weights/w.bin": b"\x03"}},
        "tags": {"v1": "main"},
    }
    heads = []
    for name in ("one", "two"):
        with GitLabEmulator(tmp_path / name, token=TOKEN) as emulator:
            emulator.create_project("detgroup/sub/model", **seed)
            client = gitlab.Gitlab(emulator.url, private_token=TOKEN)
            project = client.projects.get("detgroup/sub/model")
            heads.append(
                (
                    project.branches.get("main").commit["id"],
                    project.branches.get("feature/new-weights").commit["id"],
                    project.tags.get("v1").target,
                    emulator.commit("detgroup/sub/model", "main", {"x": "y"}),
                )
            )
    assert heads[0] == heads[1]
    main_sha, feature_sha, tag_sha, next_sha = heads[0]
    assert tag_sha == main_sha
    # fixed identity and dates: the same SHA as `git commit` with those dates, on every run and machine
    assert main_sha == "b072f4958ce0c1541d7cb30c08f5facc157b56f8"
    assert len({main_sha, feature_sha, next_sha}) == 3


# --------------------------------------------------------------------------- errors


def test_authentication(emu: GitLabEmulator) -> None:
    bad = gitlab.Gitlab(emu.url, private_token="glpat-wrong")
    with pytest.raises(gitlab.GitlabAuthenticationError) as err:
        bad.projects.get(QWEN)
    assert err.value.response_code == 401
    assert err.value.error_message == "401 Unauthorized"

    url = f"{emu.url}/api/v4/projects/{urllib.parse.quote(QWEN, safe='')}"
    anon = requests.get(url)
    assert anon.status_code == 401 and anon.json() == {"message": "401 Unauthorized"}
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).json()["id"] == 11
    emu.tokens.add("glpat-added-later")
    assert gitlab.Gitlab(emu.url, private_token="glpat-added-later").projects.get(QWEN).id == 11


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda gl: gl.projects.get(9999), "404 Project Not Found"),
        (lambda gl: gl.projects.get("amlmodels/nope"), "404 Project Not Found"),
        (lambda gl: gl.projects.get(QWEN, lazy=True).branches.get("feature/missing"), "404 Branch Not Found"),
        (lambda gl: gl.projects.get(QWEN, lazy=True).tags.get("v9.9"), "404 Tag Not Found"),
        (lambda gl: gl.projects.get(QWEN, lazy=True).files.get("nope/x.txt", ref="main"), "404 File Not Found"),
        (lambda gl: gl.projects.get(QWEN, lazy=True).files.get("weights", ref="main"), "404 File Not Found"),
        (lambda gl: gl.projects.get(QWEN, lazy=True).files.get("README.md", ref="no-such-ref"), "404 Commit Not Found"),
        (lambda gl: gl.projects.get(QWEN, lazy=True).commits.get("deadbeef" * 5), "404 Commit Not Found"),
    ],
)
def test_not_found_bodies(gl: gitlab.Gitlab, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(gitlab.GitlabGetError) as err:
        call(gl)
    assert err.value.response_code == 404
    assert err.value.error_message == message


def test_raw_error_statuses(emu: GitLabEmulator, api: requests.Session) -> None:
    base = f"{emu.url}/api/v4"
    missing_ref = api.get(f"{base}/projects/11/repository/files/README.md")
    assert (missing_ref.status_code, missing_ref.json()) == (400, {"error": "ref is missing"})
    unknown = api.get(f"{base}/projects/11/wikis")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "404 Not Found"})
    not_allowed = api.post(f"{base}/projects", json={"name": "x"})
    assert (not_allowed.status_code, not_allowed.json()) == (405, {"error": "405 Method Not Allowed"})
    raw_missing = api.get(f"{base}/projects/11/repository/files/nope/raw", params={"ref": "main"})
    assert (raw_missing.status_code, raw_missing.json()) == (404, {"message": "404 File Not Found"})


def test_keep_alive_connection_reuse(emu: GitLabEmulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    headers = {"PRIVATE-TOKEN": TOKEN}
    try:
        results = []
        for method, path in [
            ("GET", "/api/v4/version"),
            ("HEAD", "/api/v4/projects/11/repository/files/README.md?ref=main"),
            ("GET", "/api/v4/projects/9999"),
            ("POST", "/api/v4/projects/11"),
            ("GET", "/api/v4/projects/11/repository/branches/main"),
        ]:
            conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
            resp = conn.getresponse()
            results.append((resp.status, resp.read(), resp.getheader("X-Gitlab-File-Name")))
        sock_before = conn.sock
        assert sock_before is not None
        assert [r[0] for r in results] == [200, 200, 404, 405, 200]
        assert results[1][1] == b"" and results[1][2] == "README.md"
        assert json.loads(results[2][1]) == {"message": "404 Project Not Found"}
        assert json.loads(results[4][1])["name"] == "main"
    finally:
        conn.close()


# --------------------------------------------------------------------------- faults


def test_fail_next_503_is_retried(gl: gitlab.Gitlab, emu: GitLabEmulator) -> None:
    emu.reset_counters()
    emu.fail_next(2, 503, path_contains="/projects/12")
    project = gl.projects.get(12)
    assert project.id == 12
    assert emu.request_count("/api/v4/projects/12") == 3
    assert [s for _method, _path, s in emu.requests] == [503, 503, 200]

    no_retry = gitlab.Gitlab(emu.url, private_token=TOKEN, retry_transient_errors=False)
    emu.fail_next(1, 503)
    with pytest.raises(gitlab.GitlabGetError) as err:
        no_retry.projects.get(12)
    assert (err.value.response_code, err.value.error_message) == (503, "503 Service Unavailable")
    assert no_retry.projects.get(12).id == 12


def test_fail_next_path_filter(emu: GitLabEmulator, api: requests.Session) -> None:
    emu.reset_counters()
    emu.fail_next(1, 500, path_contains="repository/tags")
    assert api.get(f"{emu.url}/api/v4/version").status_code == 200
    failed = api.get(f"{emu.url}/api/v4/projects/11/repository/tags")
    assert (failed.status_code, failed.json()) == (500, {"message": "500 Internal Server Error"})
    assert api.get(f"{emu.url}/api/v4/projects/11/repository/tags").status_code == 200
    assert emu.requests == [
        ("GET", "/api/v4/version", 200),
        ("GET", "/api/v4/projects/11/repository/tags", 500),
        ("GET", "/api/v4/projects/11/repository/tags", 200),
    ]
    assert emu.request_count("repository/tags") == 2 and emu.request_count() == 3
    # reset_counters keeps pending faults; clear_faults drops them
    emu.fail_next(1, 500, path_contains="/version")
    emu.reset_counters()
    assert api.get(f"{emu.url}/api/v4/version").status_code == 500
    emu.fail_next(1, 500, path_contains="/version")
    emu.clear_faults()
    assert api.get(f"{emu.url}/api/v4/version").status_code == 200
    # path_contains matches the decoded path too
    emu.fail_next(1, 502, path_contains=QWEN)
    assert api.get(f"{emu.url}/api/v4/projects/{urllib.parse.quote(QWEN, safe='')}").status_code == 502


def test_fail_next_429_honours_retry_after(gl: gitlab.Gitlab, emu: GitLabEmulator, api: requests.Session) -> None:
    emu.reset_counters()
    emu.fail_next(1, 429, retry_after=7)
    limited = api.get(f"{emu.url}/api/v4/version")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json() == {"message": "429 Too Many Requests"}

    emu.reset_counters()
    emu.fail_next(1, 429, retry_after=1)
    started = time.monotonic()
    assert gl.projects.get(11).path == "qwen2-7b"
    assert time.monotonic() - started >= 1.0
    assert [s for _method, _path, s in emu.requests] == [429, 200]


def test_reset_next_closes_without_answering(gl: gitlab.Gitlab, emu: GitLabEmulator, api: requests.Session) -> None:
    emu.reset_counters()
    emu.reset_next(2, path_contains="/version")
    for _attempt in range(2):
        with pytest.raises(requests.exceptions.ConnectionError) as err:
            api.get(f"{emu.url}/api/v4/version")
        assert "Connection aborted" in str(err.value) or "reset" in str(err.value).lower()
    assert api.get(f"{emu.url}/api/v4/projects/11").status_code == 200  # other paths are not reset
    assert api.get(f"{emu.url}/api/v4/version").status_code == 200  # both resets used up
    assert emu.requests == [
        ("GET", "/api/v4/version", RESET),
        ("GET", "/api/v4/version", RESET),
        ("GET", "/api/v4/projects/11", 200),
        ("GET", "/api/v4/version", 200),
    ]
    assert emu.request_count("/version") == 3 and RESET == 0

    # a raw socket sees the connection end with no status line at all
    emu.reset_next(1)
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        conn.request("GET", "/api/v4/version", headers={"PRIVATE-TOKEN": TOKEN})
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
    finally:
        conn.close()

    # python-gitlab retries a reset as a transient error; the reset request is counted
    emu.reset_counters()
    emu.reset_next(1, path_contains="/projects/12")
    assert gl.projects.get(12).id == 12
    assert [s for _method, _path, s in emu.requests] == [RESET, 200]

    # clear_faults drops pending resets too
    emu.reset_next(1)
    emu.clear_faults()
    assert api.get(f"{emu.url}/api/v4/version").status_code == 200


def test_latency(emu: GitLabEmulator, api: requests.Session) -> None:
    emu.latency = 0.3
    try:
        started = time.monotonic()
        assert api.get(f"{emu.url}/api/v4/version").status_code == 200
        assert time.monotonic() - started >= 0.3
    finally:
        emu.latency = 0.0
    started = time.monotonic()
    api.get(f"{emu.url}/api/v4/version")
    assert time.monotonic() - started < 0.3


# --------------------------------------------------------------------------- TLS and CLI


def test_tls(tmp_path: pathlib.Path) -> None:
    with GitLabEmulator(tmp_path, token=TOKEN, tls=True) as emulator:
        emulator.create_project("secure/model", files={"README.md": "# secure\n"})
        assert emulator.url.startswith("https://127.0.0.1:")
        assert emulator.ca_file is not None and pathlib.Path(emulator.ca_file).read_text().startswith(
            "-----BEGIN CERTIFICATE"
        )
        headers = {"PRIVATE-TOKEN": TOKEN}
        ok = requests.get(f"{emulator.url}/api/v4/version", headers=headers, verify=emulator.ca_file)
        assert ok.status_code == 200 and ok.json()["version"] == "16.11.0"
        via_localhost = requests.get(
            f"https://localhost:{emulator.port}/api/v4/projects/secure%2Fmodel",
            headers=headers,
            verify=emulator.ca_file,
        )
        assert via_localhost.json()["path_with_namespace"] == "secure/model"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{emulator.url}/api/v4/version", headers=headers)
        client = gitlab.Gitlab(emulator.url, private_token=TOKEN, ssl_verify=emulator.ca_file)
        assert client.projects.get("secure/model").files.raw("README.md", ref="main") == b"# secure\n"


def test_cli_serves_until_sigterm(tmp_path: pathlib.Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"cli/model": {"files": {"README.md": "# cli\n"}, "tags": {"v1": "main"}}}))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.harness.gitlab_emulator",
            "--root",
            str(tmp_path / "root"),
            "--token",
            "glpat-cli",
            "--seed",
            str(seed),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["token"] == "glpat-cli" and info["url"].startswith("http://127.0.0.1:")
        resp = requests.get(
            f"{info['url']}/api/v4/projects/cli%2Fmodel/repository/tags/v1", headers={"PRIVATE-TOKEN": "glpat-cli"}
        )
        assert resp.status_code == 200 and resp.json()["name"] == "v1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
