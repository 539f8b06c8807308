"""Collection docs as the ecosystem builds them: `make test` runs antsibull-docs' linter, and `make docs` builds the
HTML docsite with every module, filter and role entry point and the README as the guide, without the private
filters (plugins/filter/_*.py: the role's own plumbing)."""

from __future__ import annotations

import html
import os
import pathlib
import re
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = REPO_ROOT / ".venv" / "bin"
BUILD = REPO_ROOT / ".build"
PRIVATE_FILTERS = {"_isvc_waits", "_isvc_report"}


def _make_env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(BUILD), ANSIBLE_HOME=str(BUILD / "ansible-home"),
                PATH=f"{BIN}:{os.environ.get('PATH', '')}")


def test_make_test_runs_the_docs_linter():
    dry = subprocess.run(["make", "-n", "--no-print-directory", "test"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True, timeout=120, env=_make_env())
    commands = dry.stdout.splitlines()
    lint = [i for i, line in enumerate(commands) if "antsibull-docs lint-collection-docs --plugin-docs ." in line]
    pytest_run = [i for i, line in enumerate(commands) if "-m pytest" in line]
    assert len(lint) == 1 and pytest_run and lint[0] < pytest_run[0], dry.stdout
    # From .ci/run too, which is exactly `make test`.
    assert (REPO_ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def _text(page: pathlib.Path) -> str:
    """A page's text, without its markup."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def _documented(kind: str) -> set[str]:
    """What the checkout documents: modules by file, filters by their docs files, roles by their argument specs."""
    if kind == "module":
        return {p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_")}
    if kind == "filter":
        return {p.stem for p in (REPO_ROOT / "plugins" / "filter").glob("*.yml")}
    return {p.parent.parent.name for p in (REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")}


@pytest.mark.slow
def test_make_docs_builds_the_docsite(tmp_path):
    docs = tmp_path / "docs"
    run = subprocess.run(["make", "--no-print-directory", "docs", f"DOCS={docs}"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=600, env=_make_env(), check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    site = docs / "site" / "build" / "html"
    assert f"Docsite: {site}/index.html" in run.stdout
    pages = {p.name for p in (site / "collections" / "aml" / "kserve").glob("*.html")}
    modules, filters, roles = _documented("module"), _documented("filter"), _documented("role")
    assert modules == {"gitlab_model_ref", "inference_service", "inference_service_info", "inference_service_ownership",
                       "serving_runtime_info"}
    assert roles == {"isvc", "rbac"}
    assert filters and all(f.startswith("_isvc_") for f in filters), "every filter is private: the role's plumbing"
    assert pages == ({f"{m}_module.html" for m in modules} | {f"{r}_role.html" for r in roles} | {"index.html"})
    index = (site / "collections" / "aml" / "kserve" / "index.html").read_text()
    assert not [name for name in PRIVATE_FILTERS | filters if name in index], "and not on the docsite"
    # Each role page documents its entry point's options.
    isvc = _text(site / "collections" / "aml" / "kserve" / "isvc_role.html")
    assert "Entry point main" in isvc and "isvc_model_repo" in isvc and "isvc_wait_timeout" in isvc
    # The README's guides, as one page, linked from the start page.
    guide = _text(site / "guide.html")
    headings = re.findall(r"^## (.+)$", (REPO_ROOT / "README.md").read_text(), re.M)
    assert headings and [h for h in headings if h not in guide] == []
    assert 'href="guide.html"' in (site / "index.html").read_text()
