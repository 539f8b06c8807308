"""`make build`: the collection tarball holds the collection, and nothing galaxy.yml's build_ignore keeps out."""

from __future__ import annotations

import fnmatch
import json
import os
import pathlib
import shutil
import subprocess
import tarfile

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = REPO_ROOT / ".venv" / "bin"
BUILD = REPO_ROOT / ".build"
KUBERNETES_CORE_MANIFEST = (
    REPO_ROOT / ".venv" / "lib" / "python3.11" / "site-packages" / "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json"
)


# What a working checkout accumulates and a tarball must not carry (relative path: content).
PLANTED = {
    "tests/harness/__pycache__/kube.cpython-311.pyc": "junk",
    "plugins/modules/__pycache__/inference_service.cpython-311.pyc": "junk",
    ".pytest_cache/v/cache/lastfailed": "{}",
    "tests/.pytest_cache/v/cache/nodeids": "[]",
    "tests/output/junit/report.xml": "<x/>",
    ".build/env/state.json": "{}",
    ".venv/bin/python": "",
    ".cache/aml-kserve/blob": "",
    "benchmarks/results/run.json": "{}",
    "aml-kserve-0.0.9.tar.gz": "",
}


def _checkout_copy(dest: pathlib.Path) -> pathlib.Path:
    """The checkout's files (tracked and untracked, as `make sanity` copies them), plus the PLANTED junk."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT, capture_output=True,
                            check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for name, content in PLANTED.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(content)
    return dest


@pytest.fixture(scope="module", params=["checkout", "checkout-with-caches"])
def tarball(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("build")
    source = REPO_ROOT if request.param == "checkout" else _checkout_copy(tmp_path_factory.mktemp("src"))
    # As the Makefile's `build` target runs it (same environment, from the collection's root).
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(BUILD), ANSIBLE_HOME=str(BUILD / "ansible-home"),
               PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    result = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out)],
                            cwd=source, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    built = sorted(out.glob("*.tar.gz"))
    assert [p.name for p in built] == ["aml-kserve-0.1.0.tar.gz"]
    assert f"Created collection for aml.kserve at {built[0]}" in result.stdout
    return built[0]


@pytest.fixture(scope="module")
def members(tarball: pathlib.Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return [m.name.rstrip("/") for m in tar.getmembers()]


@pytest.fixture(scope="module")
def galaxy() -> dict:
    return yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())


def test_tarball_is_under_one_megabyte(tarball):
    assert 0 < tarball.stat().st_size < 1024 * 1024


def test_tarball_holds_the_collection(members):
    required = {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "meta/runtime.yml",
                "plugins/modules/inference_service.py", "roles/isvc/tasks/main.yml", "requirements.txt"}
    assert required - set(members) == set()
    # galaxy.yml keeps tests/ (sanity and unit tests ship with collections), so the harness ships too.
    assert {"tests/conftest.py", "tests/harness/kube.py", "tests/unit/test_build.py"} - set(members) == set()


def test_tarball_leaves_out_what_build_ignore_names(members, galaxy):
    ignored = galaxy["build_ignore"]
    # Every path (and each of its parent directories) is checked, as ansible-galaxy does when it walks the tree.
    offenders = sorted(
        name for name in members
        for prefix in ("/".join(name.split("/")[:i]) for i in range(1, name.count("/") + 2))
        if any(fnmatch.fnmatch(prefix, pattern) for pattern in ignored)
    )
    assert offenders == []
    # The brief's list, said plainly, so a pattern dropped from galaxy.yml is caught too.
    tops = {name.split("/")[0] for name in members}
    assert tops & {".build", ".venv", ".cache", ".pytest_cache", ".ci", ".git", "benchmarks", "Makefile",
                   "requirements-dev.txt", "ansible_collections"} == set()
    parts = {part for name in members for part in name.split("/")}
    assert parts & {"__pycache__", ".pytest_cache", "output"} == set()
    assert [name for name in members if name.endswith((".pyc", ".tar.gz"))] == []
    assert set(PLANTED) & set(members) == set()


def test_manifest_declares_the_tested_kubernetes_core_range(tarball, galaxy):
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        files = json.load(tar.extractfile("FILES.json"))
        names = set(tar.getnames())
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("aml", "kserve", "0.1.0")
    assert info["dependencies"] == galaxy["dependencies"] == {"kubernetes.core": ">=6.0.0,<7.0.0"}
    # The kubernetes.core the tests run with (from the `ansible` package) is inside that range.
    installed = json.loads(KUBERNETES_CORE_MANIFEST.read_text())["collection_info"]["version"]
    major = int(installed.split(".")[0])
    assert major == 6, installed
    # FILES.json lists exactly what the tarball holds.
    assert {f["name"] for f in files["files"] if f["name"] != "."} == names - {"MANIFEST.json", "FILES.json"}


def test_manifest_carries_no_placeholder_address(tarball, galaxy):
    # An address that points nowhere (example.invalid) is left out rather than invented.
    url_keys = ("repository", "documentation", "homepage", "issues")
    with tarfile.open(tarball) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert {key: info[key] for key in url_keys} == {key: galaxy.get(key) for key in url_keys} == dict.fromkeys(url_keys)
    assert "example.invalid" not in (REPO_ROOT / "galaxy.yml").read_text()
