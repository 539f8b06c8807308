"""Run the collection's modules and playbooks the way users do: through ansible / ansible-playbook."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / ".build"


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ansible commands: the checkout as aml.kserve, no colour, no host key prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "GITLAB_"))}
    bin_dir = str(pathlib.Path(sys.executable).parent)
    env.update(
        {
            "PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_COLLECTIONS_PATH": str(BUILD_DIR),
            "ANSIBLE_HOME": str(BUILD_DIR / "ansible-home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class ModuleRun:
    rc: int
    result: dict[str, Any]
    output: str = field(repr=False)

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))


def run_module(
    module: str, args: dict[str, Any], env: dict[str, str] | None = None, *, check: bool = False,
    diff: bool = False, verbosity: int = 0, timeout: float = 300,
) -> ModuleRun:
    """Run ``aml.kserve.<module>`` ad hoc on localhost and return its result dict."""
    argv = [
        str(pathlib.Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
        "-m", module if "." in module else f"aml.kserve.{module}", "-a", json.dumps(args),
    ]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    run_env = ansible_env({"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    run_env.update(env or {})
    proc = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False)
    output = proc.stdout + proc.stderr
    start = proc.stdout.find("{")
    try:
        document = json.loads(proc.stdout[start:])
        result = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as err:
        raise AssertionError(f"no JSON result from ansible ({err}):\n{output}") from err
    return ModuleRun(proc.returncode, result, output)


@dataclass
class PlaybookRun:
    rc: int
    output: str

    def __str__(self) -> str:
        return self.output


def run_playbook(
    playbook: str | pathlib.Path, extra_vars: dict[str, Any] | None = None, env: dict[str, str] | None = None, *,
    check: bool = False, diff: bool = False, verbosity: int = 0, inventory: str = "localhost,",
    extra_args: list[str] | None = None, timeout: float = 900,
) -> PlaybookRun:
    argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, str(playbook)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    argv += extra_args or []
    run_env = ansible_env(env)
    proc = subprocess.run(argv, env=run_env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False)
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)
