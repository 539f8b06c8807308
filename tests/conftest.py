"""Shared fixtures: the collection importable as aml.kserve, a real apiserver, the KServe simulator
and the GitLab emulator (session-scoped: started once, torn down at the end)."""

from __future__ import annotations

import os
import pathlib
import secrets
import sys
from typing import Any, Iterator

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / ".build"


def _install_collection_loader() -> None:
    """Make ``ansible_collections.aml.kserve`` (the checkout) and kubernetes.core importable, as
    ansible-test's pytest plugin does."""
    link = BUILD_DIR / "ansible_collections" / "aml" / "kserve"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO_ROOT)
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[str(BUILD_DIR)], scan_sys_paths=True)._install()


_install_collection_loader()


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.harness.kube import KubeCluster

    cluster = KubeCluster(tmp_path_factory.mktemp("kube"))
    try:
        # start() stops what it started when it fails; stop() is idempotent, so the finally is
        # a second line of defence (e.g. an interrupt between start() returning and the yield).
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def simulator(kube: Any) -> Iterator[Any]:
    from tests.harness.kserve_simulator import KServeSimulator

    sim = KServeSimulator(kube.api_client())
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def gitlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.harness.gitlab_emulator import GitLabEmulator

    emulator = GitLabEmulator(tmp_path_factory.mktemp("gitlab"), token="glpat-" + secrets.token_hex(10))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def namespace(kube: Any, request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test (no namespace controller runs, so they are never deleted)."""
    import kubernetes.client

    name = ("t-" + request.node.name.lower().replace("_", "-"))[:50].strip("-[]") + "-" + secrets.token_hex(3)
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)
    kubernetes.client.CoreV1Api(kube.api_client()).create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture(scope="session")
def kube_env(kube: Any) -> dict[str, str]:
    """Environment that points kubernetes.core (and our modules) at the test apiserver, verified TLS."""
    return {"K8S_AUTH_KUBECONFIG": str(kube.kubeconfig)}


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"python: {sys.executable}", f"KSERVE_CRDS_DIR: {os.environ.get('KSERVE_CRDS_DIR') or '(minimal CRDs)'}"]
