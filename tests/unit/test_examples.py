"""examples/batch: the inventory and the plain list of services are valid input for batch_deploy.yml, checked as
the role checks each service before any request (module_utils/_batch.plan: the argument spec, the cross-field rules,
every rendering option) with the role's defaults overlaid by group and host variables."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import yaml

from ansible_collections.aml.kserve.plugins.module_utils import _batch
from ansible_collections.aml.kserve.plugins.modules.inference_service import SPEC as RENDER_SPEC
from tests.harness.ansible import ansible_env

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "batch"
ROLE = REPO_ROOT / "roles" / "isvc"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
OPTIONS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


@pytest.fixture(scope="module")
def inventory() -> dict[str, Any]:
    argv = [str(pathlib.Path(sys.executable).parent / "ansible-inventory"), "-i", str(EXAMPLES / "inventory.yml"), "--list"]
    proc = subprocess.run(argv, env=ansible_env(), capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _hosts(inventory: dict[str, Any], group: str) -> list[str]:
    entry = inventory.get(group, {})
    found = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        found += _hosts(inventory, child)
    return found


def _effective(host_vars: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A service's role variables as the role sees them: its defaults, then its group and host (or list) variables."""
    return dict(defaults, **{k: v for k, v in host_vars.items() if k.startswith("isvc_")})


def _problems(values: dict[str, Any]) -> list[str]:
    """What the role would refuse before any request."""
    error = _batch.plan({"host": values}, OPTIONS, RENDER_SPEC)["services"]["host"]["error"]
    return [error] if error else []


def _inventory_services(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hostvars = inventory["_meta"]["hostvars"]
    services = {}
    for host in _hosts(inventory, "isvc"):
        values = _effective(hostvars[host], DEFAULTS)
        values.setdefault("isvc_name", host.split("@")[0])  # batch_deploy.yml: the host's name up to an "@"
        services[host] = values
    return services


def test_inventory_services_are_valid(inventory):
    services = _inventory_services(inventory)
    assert sorted(services) == ["bge-embed", "llama-chat", "qwen-chat", "qwen-code"]
    for host, values in services.items():
        assert _problems(values) == [], host


def test_inventory_overlays_group_and_host_vars_on_the_defaults(inventory):
    services = _inventory_services(inventory)
    # group vars of "isvc", the namespace group's vars, then the host's own
    assert services["qwen-chat"]["isvc_runtime_class"] == "vllm"
    assert services["qwen-chat"]["isvc_model_repo_tag"] == "v1.0"
    assert services["bge-embed"]["isvc_runtime_class"] == "tei"
    assert [services["bge-embed"][k] for k in ("isvc_nvidia_gpualloc", "isvc_nvidia_gpucores", "isvc_nvidia_gpumem")] == [
        "", "", ""]
    assert (services["llama-chat"]["isvc_min_replicas"], services["llama-chat"]["isvc_max_replicas"]) == (0, 3)
    assert (services["qwen-code"]["isvc_min_replicas"], services["qwen-code"]["isvc_max_replicas"]) == (1, 1)
    # untouched role defaults stay
    assert services["qwen-code"]["isvc_nvidia_gpualloc"] == DEFAULTS["isvc_nvidia_gpualloc"] == "1"
    assert services["qwen-code"]["isvc_wait_timeout"] == DEFAULTS["isvc_wait_timeout"]


def test_inventory_spans_three_namespaces(inventory):
    services = _inventory_services(inventory)
    by_namespace: dict[str, list[str]] = {}
    for host, values in services.items():
        by_namespace.setdefault(values["isvc_namespace"], []).append(host)
    assert {ns: sorted(hosts) for ns, hosts in by_namespace.items()} == {
        "team-a": ["qwen-chat", "qwen-code"], "team-b": ["bge-embed"], "team-c": ["llama-chat"]}


def test_services_list_is_valid():
    entries = yaml.safe_load((EXAMPLES / "services.yml").read_text())["isvc_batch"]
    assert len(entries) == 3
    for entry in entries:
        assert entry.get("isvc_name") and entry.get("isvc_namespace"), entry
        values = _effective(entry, DEFAULTS)
        assert _problems(values) == [], entry
    # a service is identified by namespace and name: the same name may recur in another namespace only
    identities = [(e["isvc_namespace"], e["isvc_name"]) for e in entries]
    assert len(set(identities)) == len(identities)
    assert {e["isvc_namespace"] for e in entries} == {"team-a", "team-b"}


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"isvc_min_replicas": "many"}, "isvc_min_replicas"),
        ({"isvc_model_repo_branch": "main"}, "cannot both be set"),
        ({"isvc_nvidia_gpu": "1"}, "cannot be combined with the HAMi values"),
    ],
)
def test_the_checks_would_catch_a_broken_example(inventory, override, expected):
    """Negative control: the same checks reject an example service with one bad variable."""
    values = dict(_inventory_services(inventory)["qwen-chat"], **override)
    problems = _problems(values)
    assert problems and any(expected in p for p in problems), problems
