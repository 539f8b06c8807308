"""The harness around the tests: no stray processes when a cluster fails to start, the envtest
``KUBEBUILDER_ASSETS`` convention, and ``make env-up`` / ``make env-down``."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.harness import kube as kube_mod
from tests.harness.kube import ClusterError, KubeCluster

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = REPO_ROOT / ".venv" / "bin"
BUILD = REPO_ROOT / ".build"
CACHE_DIR = pathlib.Path(os.environ.get("AML_KSERVE_CACHE") or pathlib.Path.home() / ".cache" / "aml-kserve")
CACHED_APISERVER = CACHE_DIR / "kube-apiserver-v1.20.2" / "kube-apiserver"
DEBIAN_ETCD = pathlib.Path("/usr/bin/etcd")


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid``: {pid: comm}."""
    found = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = comm
    return found


def _port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


# -- 1. a failed start leaves nothing running ----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["apiserver-exits", "no-crd-files", "invalid-crd"])
def test_failed_start_stops_what_it_started(failure, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBEBUILDER_ASSETS", "")  # the cached build, unless the case says otherwise
    crds = tmp_path / "crds"
    crds.mkdir()
    if failure == "apiserver-exits":
        # etcd comes up, then "kube-apiserver" (/bin/false) exits at once.
        assets = tmp_path / "assets"
        assets.mkdir()
        (assets / "kube-apiserver").symlink_to("/bin/false")
        (assets / "etcd").symlink_to(DEBIAN_ETCD)
        monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
        expected, message = ClusterError, r"kube-apiserver exited with 1"
    elif failure == "no-crd-files":
        # etcd and the apiserver are up and ready; the CRDs directory holds nothing.
        expected, message = ClusterError, r"no CRD files in " + re.escape(str(crds))
    else:
        # etcd and the apiserver are up; the apiserver rejects the CRD (no spec).
        (crds / "bad.yaml").write_text(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: bogus.example.com\n"
        )
        from kubernetes.dynamic.exceptions import UnprocessibleEntityError

        expected, message = UnprocessibleEntityError, r"CustomResourceDefinition.*bogus\.example\.com.*is invalid"

    cluster = KubeCluster(tmp_path / "kube", crds_dir=str(crds))
    spawned = []
    real_spawn = cluster._spawn

    def spy(argv, log):
        real_spawn(argv, log)
        spawned.append(cluster._procs[-1])

    monkeypatch.setattr(cluster, "_spawn", spy)
    try:
        with pytest.raises(expected, match=message):
            cluster.start(timeout=60)
        assert [pathlib.Path(p.args[0]).name for p in spawned] == ["etcd", "kube-apiserver"]
        assert [p.poll() is None for p in spawned] == [False, False], "a child of the failed start still runs"
        assert [_alive(p.pid) for p in spawned] == [False, False]
        assert cluster._procs == []
        assert _port_closed(cluster.etcd_port) and _port_closed(cluster.port)
        cluster.stop()  # idempotent on a cluster that failed to start
    finally:
        for proc in spawned:  # never leak, even when the assertions above fail
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# -- 2. KUBEBUILDER_ASSETS -----------------------------------------------------------------


def test_kubebuilder_assets_are_used_and_nothing_is_built(tmp_path, monkeypatch):
    assert os.access(CACHED_APISERVER, os.X_OK) and os.access(DEBIAN_ETCD, os.X_OK)
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "kube-apiserver").symlink_to(CACHED_APISERVER)
    (assets / "etcd").symlink_to(DEBIAN_ETCD)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    # Were the build script run, it would fail: discovery must not need it.
    real_script = kube_mod.BUILD_SCRIPT
    monkeypatch.setattr(kube_mod, "BUILD_SCRIPT", tmp_path / "no-such-script.sh")

    assert kube_mod.apiserver_binaries() == (str(assets / "kube-apiserver"), str(assets / "etcd"))

    started = time.monotonic()
    result = subprocess.run(["bash", str(real_script)], env=dict(os.environ), capture_output=True, text=True,
                            timeout=30, check=False)
    elapsed = time.monotonic() - started
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{assets}\n", "")
    assert elapsed < 5

    # Only one of the two binaries: the assets are not used, the cached build is.
    (assets / "etcd").unlink()
    monkeypatch.setattr(kube_mod, "BUILD_SCRIPT", real_script)
    assert kube_mod.apiserver_binaries() == (str(CACHED_APISERVER), shutil.which("etcd"))
    result = subprocess.run(["bash", str(real_script)], env=dict(os.environ), capture_output=True, text=True,
                            timeout=30, check=False)
    assert (result.returncode, result.stdout) == (0, f"{CACHED_APISERVER.parent}\n")


# -- 3. make env-up / make env-down --------------------------------------------------------


def _make_env() -> dict[str, str]:
    """The environment the Makefile gives its recipes."""
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(BUILD), ANSIBLE_HOME=str(BUILD / "ansible-home"),
               PATH=f"{BIN}:{env.get('PATH', '')}")
    if "KSERVE_CRDS_DIR" not in env:
        shared = (REPO_ROOT / ".." / "shared" / "kserve-crds").resolve()
        env["KSERVE_CRDS_DIR"] = str(shared) if list(shared.glob("*.yaml")) else ""
    return env


def _recipe(target: str) -> str:
    dry = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    return dry.stdout.strip().splitlines()[-1]


def _snapshot(state_file: pathlib.Path) -> tuple[bytes, list[int]] | None:
    """A running environment's state file and live processes (None when it is not running)."""
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text())
    if not _alive(state["pid"]):
        return None
    return state_file.read_bytes(), sorted([state["pid"], *_children(state["pid"])])


@pytest.mark.slow
def test_env_up_and_down(tmp_path):
    from tests.harness import env as env_mod

    # The test runs exactly what the Makefile runs (after its prerequisites).
    up_cmd = [str(BIN / "python"), "-m", "tests.harness.env", "up"]
    down_cmd = [str(BIN / "python"), "-m", "tests.harness.env", "down"]
    assert _recipe("env-up") == " ".join(up_cmd)
    assert _recipe("env-down") == " ".join(down_cmd)

    # In a state directory of its own: an environment a person runs (.build/env) is neither reused nor stopped.
    state_dir = tmp_path / "env"
    state_file = state_dir / "state.json"
    persons = _snapshot(env_mod.DEFAULT_STATE_DIR / "state.json")
    env = dict(_make_env(), AML_KSERVE_ENV_DIR=str(state_dir))
    crds = env["KSERVE_CRDS_DIR"] or "minimal"
    pids: dict[int, str] = {}
    try:
        up = subprocess.run(up_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        out = up.stdout
        state = json.loads(state_file.read_text())
        pids = {state["pid"]: "serve", **_children(state["pid"])}
        assert sorted(pids.values()) == ["etcd", "kube-apiserver", "serve"]
        assert pathlib.Path(state["kubeconfig"]).parent.parent == state_dir

        assert f"Embedded environment is up (KServe CRDs: {crds})." in out
        kubeconfig = re.search(r"^  KUBECONFIG=(\S+)$", out, re.M).group(1)
        assert kubeconfig == state["kubeconfig"] and pathlib.Path(kubeconfig).is_file()
        for name in ("default", env_mod.DEMO_NAMESPACE):
            kubectl = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", kubeconfig, "get", "ns", name, "-o", "name"],
                                     capture_output=True, text=True, timeout=60, check=False)
            assert (kubectl.returncode, kubectl.stdout) == (0, f"namespace/{name}\n"), kubectl.stderr

        gitlab_url = re.search(r"^  GitLab URL:\s+(\S+)$", out, re.M).group(1)
        token = re.search(r"^  GitLab token:\s+(\S+)$", out, re.M).group(1)
        request = urllib.request.Request(gitlab_url + "/api/v4/version", headers={"PRIVATE-TOKEN": token})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert json.loads(response.read())["version"]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(gitlab_url + "/api/v4/version", timeout=10)  # noqa: S310
        assert err.value.code == 401

        assert f"export KUBECONFIG={kubeconfig} " in out
        assert ".venv/bin/ansible-playbook playbooks/deploy.yml" in out
        assert f"Stop it with: AML_KSERVE_ENV_DIR={state_dir} make env-down" in out

        # `make demo` on the running environment: a whole deployment, endpoints printed.
        demo_cmd = [str(BIN / "python"), "-m", "tests.harness.env", "demo"]
        assert _recipe("demo") == " ".join(demo_cmd)
        demo = subprocess.run(demo_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
        namespace = env_mod.DEMO_NAMESPACE
        assert (f'"msg": "{namespace}/qwen-chat: ready, {env_mod.DEMO_PROJECT}@v1.0 on {env_mod.DEMO_RUNTIME} (RawDeployment), '
                f'in cluster http://qwen-chat-predictor.{namespace}.svc.cluster.local, outside http') in demo.stdout
        assert "Deployed. Look at it with:" in demo.stdout
        assert f"stop it with: AML_KSERVE_ENV_DIR={state_dir} make env-down" in demo.stdout
        kubectl = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", kubeconfig, "get", "inferenceservice", "qwen-chat", "-n",
                                  namespace, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert (kubectl.returncode, kubectl.stdout) == (0, "True"), kubectl.stderr

        down = subprocess.run(down_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert (down.returncode, down.stdout) == (0, "The embedded environment is stopped.\n"), down.stderr
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert {pid: name for pid, name in pids.items() if _alive(pid)} == {}
        assert not state_file.exists()
        apiserver_port = int(state["apiserver"].rsplit(":", 1)[1])
        gitlab_port = int(gitlab_url.rsplit(":", 1)[1])
        assert _port_closed(apiserver_port) and _port_closed(gitlab_port)
        again = subprocess.run(down_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert again.stdout == "The embedded environment is not running.\n"
        # The person's environment, if one runs, is as it was: same state file, same processes.
        assert _snapshot(env_mod.DEFAULT_STATE_DIR / "state.json") == persons
    finally:
        if state_file.exists():
            subprocess.run(down_cmd, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120, check=False)
        for pid, name in pids.items():  # only the processes this test started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _isvcs(kubeconfig: str) -> list[list[str]]:
    """[name, Ready] of the demo namespace's InferenceServices."""
    kubectl = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", kubeconfig, "get", "inferenceservice", "-n", "demo", "-o",
                              "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert kubectl.returncode == 0, kubectl.stderr
    return [line.split(" ") for line in kubectl.stdout.splitlines()]


@pytest.mark.slow
def test_the_env_test_runs_beside_a_persons_demo(tmp_path):
    """The README's order: `make demo` leaves the environment running, then `make test` (here its env test) passes
    and leaves that environment up and untouched."""
    from tests.harness import env as env_mod

    default_state = env_mod.DEFAULT_STATE_DIR / "state.json"
    env = {k: v for k, v in _make_env().items() if k != "AML_KSERVE_ENV_DIR"}  # as a person types it
    demo_cmd = [str(BIN / "python"), "-m", "tests.harness.env", "demo"]
    down_cmd = [str(BIN / "python"), "-m", "tests.harness.env", "down"]
    started_here = _snapshot(default_state) is None
    try:
        if started_here:  # else a person's environment runs already: the test uses it as it is
            demo = subprocess.run(demo_cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
                                  check=False)
            assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
            assert "stop it with: make env-down" in demo.stdout
        persons = _snapshot(default_state)
        assert persons is not None
        state = json.loads(default_state.read_text())
        isvcs_before = _isvcs(state["kubeconfig"])
        if started_here:
            assert isvcs_before == [["qwen-chat", "True"]]

        # The env test, as `make test` runs it (pytest from the checkout), with the demo's environment up.
        inner = subprocess.run([str(BIN / "python"), "-m", "pytest", "-c", "tests/pytest.ini", "-q", "-p", "no:cacheprovider",
                                f"--basetemp={tmp_path / 'inner'}", "tests/integration/test_harness_env.py::test_env_up_and_down"],
                               cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert inner.returncode == 0, inner.stdout[-4000:] + inner.stderr[-2000:]
        assert re.search(r"^1 passed", inner.stdout, re.M), inner.stdout[-2000:]

        assert _snapshot(default_state) == persons
        assert _isvcs(state["kubeconfig"]) == isvcs_before
    finally:
        if started_here:  # a person's own environment stays up
            subprocess.run(down_cmd, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120, check=False)
