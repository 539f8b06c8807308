"""The embedded environment for people: a real kube-apiserver + etcd, the KServe simulator and the GitLab
emulator, seeded with a sample model and runtime, running in the background until ``down``.

    python -m tests.harness.env up      # start (or show the running one)
    python -m tests.harness.env down    # stop everything
    python -m tests.harness.env demo    # up, then deploy the sample model with playbooks/deploy.yml

One environment per state directory: ``.build/env``, or ``$AML_KSERVE_ENV_DIR`` (the tests use their own, so a
person's environment is never reused, blocked or stopped by ``make test``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from tests.harness.ansible import REPO_ROOT, ansible_env

DEFAULT_STATE_DIR = REPO_ROOT / ".build" / "env"
STATE_DIR = pathlib.Path(os.environ.get("AML_KSERVE_ENV_DIR") or DEFAULT_STATE_DIR).absolute()
STATE_FILE = STATE_DIR / "state.json"
DEMO_NAMESPACE = "demo"
DEMO_REPO = "qwen2-0-5b-instruct"
DEMO_PROJECT = "amlmodels/demo/" + DEMO_REPO
DEMO_RUNTIME = "aml-vllm"


def _seed(kube: Any, gitlab: Any) -> None:
    import kubernetes.client

    from tests.harness.gitlab_emulator import GitLabEmulator

    gitlab.create_project(
        DEMO_PROJECT,
        files={"README.md": GitLabEmulator.model_readme("text-generation", "transformers", {"license": "apache-2.0"}),
               "config.json": json.dumps({"architectures": ["Qwen2ForCausalLM"]})},
        tags={"v1.0": "main"},
    )
    runtimes = kube.dynamic_client().resources.get(api_version="serving.kserve.io/v1alpha1", kind="ClusterServingRuntime")
    runtimes.create(body={
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime",
        "metadata": {"name": DEMO_RUNTIME, "labels": {"cpaas.io/runtime-class": "vllm"}},
        "spec": {"supportedModelFormats": [{"name": "transformers", "version": "1"}], "protocolVersions": ["v2"],
                 "containers": [{"name": "kserve-container", "image": "vllm/vllm-openai:v0.8.5",
                                 "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                                 "args": ["--port=8080", "--served-model-name={{.Name}}"]}]},
    })
    core = kubernetes.client.CoreV1Api(kube.api_client())
    core.create_namespace({"metadata": {"name": DEMO_NAMESPACE}})
    scheme, base = gitlab.url.split("://", 1)
    # As the pipeline expects them: GitLab's address and token in the namespace.
    core.create_namespaced_config_map(DEMO_NAMESPACE, {"metadata": {"name": "aml-image-builder-config"},
                                                       "data": {"MODEL_REPO_GIT_BASE": base, "MODEL_REPO_GIT_SCHEME": scheme}})
    token = sorted(gitlab.tokens)[0]
    core.create_namespaced_secret(DEMO_NAMESPACE, {"metadata": {"name": "aml-image-builder-secret"},
                                                   "data": {"MODEL_REPO_GIT_TOKEN": base64.b64encode(token.encode()).decode()}})


def serve() -> None:
    """The background process: start, seed, write the state file, run until SIGTERM."""
    from tests.harness.gitlab_emulator import GitLabEmulator
    from tests.harness.kserve_simulator import KServeSimulator
    from tests.harness.kube import KubeCluster

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    kube = KubeCluster(STATE_DIR / "kube")
    gitlab = GitLabEmulator(STATE_DIR / "gitlab", token="glpat-" + secrets.token_hex(10))
    simulator = None
    try:
        kube.start()
        gitlab.start()
        simulator = KServeSimulator(kube.api_client())
        simulator.start()
        _seed(kube, gitlab)
        state = {"pid": os.getpid(), "kubeconfig": str(kube.kubeconfig), "apiserver": kube.host, "gitlab_url": gitlab.url,
                 "gitlab_token": sorted(gitlab.tokens)[0], "audit_log": str(kube.audit_log),
                 "crds": os.environ.get("KSERVE_CRDS_DIR") or "minimal"}
        tmp = STATE_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(STATE_FILE)
        stop.wait()
    finally:
        if simulator is not None:
            simulator.stop()
        gitlab.stop()
        kube.stop()
        STATE_FILE.unlink(missing_ok=True)


def _running() -> dict[str, Any] | None:
    if not STATE_FILE.exists():
        return None
    state = json.loads(STATE_FILE.read_text())
    try:
        os.kill(state["pid"], 0)
    except ProcessLookupError:
        STATE_FILE.unlink(missing_ok=True)
        return None
    return state


def _with_dir(command: str) -> str:
    """``command`` as it must be typed to reach this environment."""
    if STATE_DIR == DEFAULT_STATE_DIR.absolute():
        return command
    return f"AML_KSERVE_ENV_DIR={STATE_DIR} {command}"


def up(quiet: bool = False) -> dict[str, Any]:
    state = _running()
    if state is None:
        # Only what an earlier run left: the directory may be one the caller named.
        for leftover in ("kube", "gitlab"):
            if (STATE_DIR / leftover).exists():
                subprocess.run(["rm", "-rf", str(STATE_DIR / leftover)], check=True)
        (STATE_DIR / "env.log").unlink(missing_ok=True)
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        log = open(STATE_DIR / "env.log", "ab")  # pylint: disable=consider-using-with  # handed to the daemon
        proc = subprocess.Popen([sys.executable, "-m", "tests.harness.env", "serve"], cwd=REPO_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 600  # the first run builds kube-apiserver
        while (state := _running()) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the environment did not start; see " + str(STATE_DIR / "env.log"))
            time.sleep(0.2)
    if not quiet:
        print(f"""Embedded environment is up (KServe CRDs: {state['crds']}).
  KUBECONFIG={state['kubeconfig']}
  kube-apiserver: {state['apiserver']} (TLS, verified with the CA in that kubeconfig)
  GitLab URL:     {state['gitlab_url']}
  GitLab token:   {state['gitlab_token']}
  Sample model:   {DEMO_PROJECT} (tag v1.0); runtime {DEMO_RUNTIME} (class vllm); namespace {DEMO_NAMESPACE}

Try:
  export KUBECONFIG={state['kubeconfig']} K8S_AUTH_KUBECONFIG={state['kubeconfig']} ANSIBLE_COLLECTIONS_PATH={REPO_ROOT / '.build'}
  .venv/bin/ansible-playbook playbooks/deploy.yml -e isvc_name=chat -e isvc_namespace={DEMO_NAMESPACE} \\
      -e isvc_model_repo={DEMO_REPO} -e isvc_runtime_class=vllm
  kubectl get inferenceservices -n {DEMO_NAMESPACE}
Stop it with: {_with_dir('make env-down')}""")
    return state


def down() -> None:
    state = _running()
    if state is None:
        print("The embedded environment is not running.")
        return
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _running() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    print("The embedded environment is stopped.")


def demo() -> int:
    state = up(quiet=True)
    print(f"Embedded environment up: {state['apiserver']} (KServe CRDs: {state['crds']}), GitLab {state['gitlab_url']}")
    env = ansible_env({"K8S_AUTH_KUBECONFIG": state["kubeconfig"]})
    extra = {"isvc_name": "qwen-chat", "isvc_namespace": DEMO_NAMESPACE, "isvc_model_repo": DEMO_REPO,
             "isvc_model_repo_tag": "v1.0", "isvc_runtime_class": "vllm", "isvc_description": "Demo: Qwen2 0.5B instruct"}
    argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), str(REPO_ROOT / "playbooks" / "deploy.yml"),
            "-e", json.dumps(extra)]
    print("$ ansible-playbook playbooks/deploy.yml -e '" + json.dumps(extra) + "'")
    rc = subprocess.call(argv, env=env, cwd=REPO_ROOT)
    if rc == 0:
        print(f"\nDeployed. Look at it with: KUBECONFIG={state['kubeconfig']} kubectl get isvc -n {DEMO_NAMESPACE}\n"
              "The environment keeps running; stop it with: " + _with_dir("make env-down"))
    return rc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "demo", "serve"])
    command = parser.parse_args().command
    if command == "serve":
        serve()
        return 0
    if command == "up":
        up()
        return 0
    if command == "down":
        down()
        return 0
    return demo()


if __name__ == "__main__":
    sys.exit(main())
