"""A real, local Kubernetes control plane for the tests: etcd + kube-apiserver v1.20.2.

The apiserver is built once from Debian's source package (``build_apiserver.sh``) and cached,
or taken from ``$KUBEBUILDER_ASSETS``. Every cluster gets its own data directory, free loopback
ports, TLS (clients verify the server's self-signed certificate), static bearer tokens, RBAC
authorization, service-account signing keys and a Metadata-level audit log.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import yaml

HARNESS_DIR = pathlib.Path(__file__).resolve().parent
MINIMAL_CRDS_DIR = HARNESS_DIR / "crds"
BUILD_SCRIPT = HARNESS_DIR / "build_apiserver.sh"

ADMIN_USER = "aml-admin"
# Static users for authorization tests: they belong to no group beyond system:authenticated.
EXTRA_USERS = ("alice", "bob")


class ClusterError(RuntimeError):
    """The local control plane could not be started or used."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def apiserver_binaries() -> tuple[str, str]:
    """Return (kube-apiserver, etcd) paths, building the apiserver on first use."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and all(os.access(os.path.join(assets, b), os.X_OK) for b in ("kube-apiserver", "etcd")):
        return os.path.join(assets, "kube-apiserver"), os.path.join(assets, "etcd")
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
    bin_dir = result.stdout.strip().splitlines()[-1]
    etcd = shutil.which("etcd")
    if etcd is None:
        raise ClusterError("etcd not found after build_apiserver.sh (Debian package etcd-server)")
    return os.path.join(bin_dir, "kube-apiserver"), etcd


def _wait_tcp(port: int, deadline: float, proc: subprocess.Popen, what: str, log: pathlib.Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ClusterError(f"{what} did not listen on port {port} in time:\n{log.read_text()[-4000:]}")


class KubeCluster:
    """etcd + kube-apiserver in ``workdir``; ``start()`` then ``stop()`` (or use as a context manager)."""

    def __init__(self, workdir: str | pathlib.Path, crds_dir: str | None = None) -> None:
        self.workdir = pathlib.Path(workdir)
        self.crds_dir = crds_dir if crds_dir is not None else os.environ.get("KSERVE_CRDS_DIR") or None
        self.admin_token = secrets.token_hex(16)
        self.user_tokens = {user: secrets.token_hex(16) for user in EXTRA_USERS}
        self.etcd_port = free_port()
        self.port = free_port()
        self.host = f"https://127.0.0.1:{self.port}"
        self.audit_log = self.workdir / "audit.log"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.ca_file = self.workdir / "certs" / "apiserver.crt"
        self._procs: list[subprocess.Popen] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> "KubeCluster":
        """Start etcd and the apiserver and load the CRDs. On any failure (or Ctrl-C) whatever was
        already started is stopped before the exception propagates: no stray etcd or apiserver."""
        apiserver, etcd = apiserver_binaries()
        try:
            self._start(apiserver, etcd, timeout)
        except BaseException as err:
            try:
                self.stop()
            except Exception as cleanup:  # pylint: disable=broad-exception-caught  # keep the first error
                err.add_note(f"stopping the partially started cluster also failed: {cleanup!r}")
            raise
        return self

    def _start(self, apiserver: str, etcd: str, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "certs").mkdir(exist_ok=True)
        self._write_auth_files()
        deadline = time.monotonic() + timeout

        etcd_log = self.workdir / "etcd.log"
        peer_port = free_port()
        self._spawn(
            [
                etcd,
                "--data-dir", str(self.workdir / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
            ],
            etcd_log,
        )
        _wait_tcp(self.etcd_port, deadline, self._procs[-1], "etcd", etcd_log)
        self._start_apiserver(apiserver, deadline)
        self.write_kubeconfig(self.kubeconfig, self.admin_token)
        self._load_crds()

    def _start_apiserver(self, apiserver: str, deadline: float) -> None:
        log = self.workdir / "apiserver.log"
        self._spawn(
            [
                apiserver,
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                "--insecure-port=0",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={self.workdir / 'sa.key'}",
                f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--api-audiences=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # No controller-manager runs: nothing would create the default ServiceAccount pods need.
                "--disable-admission-plugins=ServiceAccount",
                f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--watch-cache=true",
                "--v=1",
            ],
            log,
        )
        proc = self._procs[-1]
        _wait_tcp(self.port, deadline, proc, "kube-apiserver", log)
        context = self.ssl_context()
        request = urllib.request.Request(f"{self.host}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"})
        last = ""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ClusterError(f"kube-apiserver exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as err:
                last = f"{err.code} {err.read()[:500]!r}"
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.1)
        raise ClusterError(f"kube-apiserver not ready in time (last: {last}):\n{log.read_text()[-4000:]}")

    def restart_apiserver(self, down_seconds: float = 0.0) -> None:
        """Stop the apiserver (etcd keeps the data) and start it again on the same port."""
        apiserver = self._procs.pop()
        apiserver.send_signal(signal.SIGTERM)
        apiserver.wait(timeout=30)
        time.sleep(down_seconds)
        self._start_apiserver(apiserver_binaries()[0], time.monotonic() + 60)

    def stop(self) -> None:
        """Stop every process this cluster started, newest first (apiserver before etcd).

        Safe on a partially started or already stopped cluster, and idempotent: each process is
        terminated, then killed if it has not exited in 15 s, and always reaped."""
        procs = list(reversed(self._procs))
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            # Forgotten only once reaped: if this is interrupted, a second stop() finishes the job.
            self._procs.remove(proc)

    def __enter__(self) -> "KubeCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, argv: list[str], log: pathlib.Path) -> None:
        with open(log, "ab") as out:
            # start_new_session: a Ctrl-C in the terminal reaches pytest, which then stops us in order.
            self._procs.append(
                subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            )

    def _write_auth_files(self) -> None:
        rows = [f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"']
        rows += [f"{token},{user},{user}" for user, token in self.user_tokens.items()]
        (self.workdir / "tokens.csv").write_text("\n".join(rows) + "\n")
        os.chmod(self.workdir / "tokens.csv", 0o600)
        if not (self.workdir / "sa.key").exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(self.workdir / "sa.key"), "2048"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        # one event per request (ResponseComplete) but for watches, whose RequestReceived says a watch was opened
        # (test_faults.open_watches): a second event per request only doubles the apiserver's blocking audit writes
        policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                  "rules": [{"level": "Metadata", "verbs": ["watch"]},
                            {"level": "Metadata", "omitStages": ["RequestReceived"]}]}
        (self.workdir / "audit-policy.yaml").write_text(yaml.safe_dump(policy))

    # -- clients ---------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def kubeconfig_dict(self, token: str, user: str = ADMIN_USER) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "aml-local", "cluster": {"server": self.host, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": f"{user}@aml-local", "context": {"cluster": "aml-local", "user": user}}],
            "current-context": f"{user}@aml-local",
        }

    def write_kubeconfig(self, path: str | pathlib.Path, token: str, user: str = ADMIN_USER) -> pathlib.Path:
        path = pathlib.Path(path)
        path.write_text(yaml.safe_dump(self.kubeconfig_dict(token, user)))
        os.chmod(path, 0o600)
        return path

    def api_client(self, token: str | None = None) -> Any:
        """A kubernetes.client.ApiClient that verifies TLS against the apiserver's certificate."""
        import kubernetes.client

        configuration = kubernetes.client.Configuration()
        configuration.host = self.host
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.verify_ssl = True
        configuration.api_key = {"authorization": f"Bearer {token or self.admin_token}"}
        return kubernetes.client.ApiClient(configuration)

    def dynamic_client(self, token: str | None = None) -> Any:
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client(token))

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A real bound token for a ServiceAccount (TokenRequest API), creating the account if needed."""
        import kubernetes.client
        from kubernetes.client.rest import ApiException

        core = kubernetes.client.CoreV1Api(self.api_client())
        try:
            core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        except ApiException as err:
            if err.status != 409:
                raise
        request = {"spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": seconds}}
        return core.create_namespaced_service_account_token(name, namespace, request).status.token

    # -- CRDs ------------------------------------------------------------------------------

    def _load_crds(self) -> None:
        directory = pathlib.Path(self.crds_dir) if self.crds_dir else MINIMAL_CRDS_DIR
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise ClusterError(f"no CRD files in {directory}")
        crd_api = self.dynamic_client().resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        names = []
        for path in files:
            for doc in _yaml_documents(path):
                if doc.get("kind") != "CustomResourceDefinition":
                    continue
                # `kubectl create`, not client-side apply: the full InferenceService CRD is too large
                # for the last-applied annotation.
                crd_api.create(body=doc)
                names.append(doc["metadata"]["name"])
        deadline = time.monotonic() + 60
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                conditions = crd_api.get(name=name).to_dict().get("status", {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    pending.discard(name)
            time.sleep(0.1)
        if pending:
            raise ClusterError(f"CRDs not established: {sorted(pending)}")

    # -- audit log -------------------------------------------------------------------------

    def audit_events(self) -> list[dict[str, Any]]:
        """Every ResponseComplete audit event so far (one per request)."""
        events = []
        if self.audit_log.exists():
            with open(self.audit_log, encoding="utf-8") as handle:
                for line in handle:
                    event = json.loads(line)
                    if event.get("stage") == "ResponseComplete":
                        events.append(event)
        return events

    def audit_mark(self) -> int:
        """A position in the audit log; pass it to ``audit_events_since``."""
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def audit_events_since(self, mark: int) -> list[dict[str, Any]]:
        events = []
        with open(self.audit_log, encoding="utf-8") as handle:
            handle.seek(mark)
            for line in handle:
                event = json.loads(line)
                if event.get("stage") == "ResponseComplete":
                    events.append(event)
        return events


def _yaml_documents(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        for doc in yaml.load_all(handle, Loader=loader):
            if doc:
                yield doc


WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def writes(events: list[dict[str, Any]], user: str | None = None) -> list[dict[str, Any]]:
    """The write requests among audit events (optionally by one user)."""
    return [
        e for e in events
        if e.get("verb") in WRITE_VERBS and (user is None or e.get("user", {}).get("username") == user)
    ]
