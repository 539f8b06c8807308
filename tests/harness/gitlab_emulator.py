"""An emulator of the GitLab REST API v4 backed by real bare git repositories.

Standard library only. Projects are seeded from Python (``create_project``/``commit``) with
deterministic commits (fixed identity and dates), so every SHA is identical on every run. The
HTTP side serves python-gitlab and curl: projects (list/search/pagination), branches, tags,
repository files (JSON, HEAD and raw) and commits, with GitLab's field names, status codes,
error bodies and pagination headers. Faults (``fail_next``, ``reset_next``, ``delay_next``) and ``latency`` can be injected.

Run standalone with ``python -m tests.harness.gitlab_emulator --root DIR [--port N] [--tls]``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import http
import http.server
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GitLabEmulator"]

GITLAB_VERSION = {"version": "16.11.0", "revision": "abc123"}

GIT_NAME = "GitLab Emulator"
GIT_EMAIL = "emulator@gitlab.example.com"
#: 2024-01-01T00:00:00Z. Commit ``n`` of a repository is dated EPOCH + 60 * n seconds.
EPOCH = 1704067200
#: Project ``n`` is created at EPOCH + 3600 * n seconds (so created_at order == id order).
PROJECT_STEP = 3600
COMMIT_STEP = 60

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100

_HEX_RE = re.compile(r"[0-9a-fA-F]{4,40}")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
_IDENT_RE = re.compile(r"^(.*) <(.*)> (\d+) ([+-])(\d\d)(\d\d)$")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")

_USER = {
    "id": 1,
    "username": "emulator",
    "name": "GitLab Emulator",
    "state": "active",
    "locked": False,
    "avatar_url": None,
    "bot": False,
    "is_admin": False,
}


class GitError(RuntimeError):
    """A git command failed."""


class _HTTPError(Exception):
    """Raised by route handlers to answer with an error status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Group:
    id: int
    name: str
    path: str
    full_path: str
    parent_id: int | None


@dataclass
class _Project:
    id: int
    name: str
    path: str
    full_path: str
    namespace: str
    description: str
    default_branch: str
    repo: pathlib.Path
    created_at: int
    last_activity_at: int
    seq: int = 0
    readme: str | None = None
    has_commits: bool = False


@dataclass
class _Blob:
    blob_id: str
    mode: str
    content: bytes
    last_commit_id: str


#: The status recorded in ``requests`` for a request answered by resetting the connection (``reset_next``).
RESET = 0


@dataclass(frozen=True)
class Visit:
    """One request as the emulator saw it: when it arrived, when it was answered (``time.monotonic()``)."""

    arrived: float
    answered: float
    method: str
    path: str
    status: int


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: int | None
    path_contains: str | None
    reset: bool = False
    delay: float = 0.0  # answer as usual, this many seconds late


@dataclass
class _CommitInfo:
    sha: str
    parents: list[str]
    author_name: str
    author_email: str
    authored_date: str
    committer_name: str
    committer_email: str
    committed_date: str
    message: str


# --------------------------------------------------------------------------- helpers


def _iso_utc(epoch: int) -> str:
    """GitLab's timestamp format for records (``2024-01-01T00:00:00.000Z``)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _iso_git(epoch: int, sign: str, hours: str, minutes: str) -> str:
    """GitLab's timestamp format for commit dates (``2024-01-01T00:00:00.000+00:00``)."""
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes))
    tz = dt.timezone(-offset if sign == "-" else offset)
    return dt.datetime.fromtimestamp(epoch, tz).isoformat(timespec="milliseconds")


def _to_bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _clean_file_path(path: str) -> str:
    """Validate a repository file path used for seeding."""
    clean = path.strip("/")
    parts = clean.split("/")
    if not clean or any(p in ("", ".", "..", ".git") for p in parts) or "\n" in clean or "\0" in clean:
        raise ValueError(f"invalid file path {path!r}")
    return clean


def _fi_quote(path: str) -> str:
    """C-style quote a path for git fast-import."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fi_data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    return env


_GIT_ENV = _git_env()


def _git(repo: pathlib.Path | None, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
    """Run ``git [--git-dir=repo] args`` and return stdout; raise GitError on failure when check."""
    cmd = ["git", "-c", "gc.auto=0", "-c", "core.quotePath=false"]
    if repo is not None:
        cmd.append(f"--git-dir={repo}")
    cmd.extend(args)
    proc = subprocess.run(cmd, input=stdin, capture_output=True, env=_GIT_ENV, check=False)
    if check and proc.returncode != 0:
        raise GitError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _parse_commit(sha: str, raw: bytes) -> _CommitInfo:
    """Parse the raw text of a commit object."""
    head, _sep, message = raw.partition(b"\n\n")
    parents: list[str] = []
    author = committer = ("", "", "")
    for line in head.decode("utf-8", errors="replace").split("\n"):
        if line.startswith(" "):
            continue
        key, _sep, value = line.partition(" ")
        if key == "parent":
            parents.append(value)
        elif key in ("author", "committer"):
            m = _IDENT_RE.match(value)
            ident = (
                (m.group(1), m.group(2), _iso_git(int(m.group(3)), m.group(4), m.group(5), m.group(6)))
                if m
                else (value, "", "")
            )
            if key == "author":
                author = ident
            else:
                committer = ident
    return _CommitInfo(
        sha=sha,
        parents=parents,
        author_name=author[0],
        author_email=author[1],
        authored_date=author[2],
        committer_name=committer[0],
        committer_email=committer[1],
        committed_date=committer[2],
        message=message.decode("utf-8", errors="replace"),
    )


# --------------------------------------------------------------------------- HTTP server


class _Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that optionally wraps accepted sockets in TLS in the worker thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: GitLabEmulator, ssl_context: ssl.SSLContext | None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.emulator = emulator
        self.ssl_context = ssl_context
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handle one connection (TLS handshake here, in the worker thread, not in accept())."""
        conn: socket.socket = request
        if self.ssl_context is not None:
            conn.settimeout(10)
            try:
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
        with self._conn_lock:
            self._connections.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        finally:
            with self._conn_lock:
                self._connections.discard(conn)
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection (unblocks idle worker threads)."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about client disconnects; print anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError)):
            return
        traceback.print_exc()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Dispatches requests to the emulator."""

    protocol_version = "HTTP/1.1"
    timeout = 120
    server: _Server

    def setup(self) -> None:
        """Disable Nagle: headers and body are separate writes (avoids 40 ms delayed-ACK stalls)."""
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self) -> str:
        """The Server header (GitLab answers from behind nginx)."""
        return "nginx"

    def log_message(self, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _drain_body(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def _dispatch(self, method: str) -> None:
        emu = self.server.emulator
        with emu.idle:
            emu.in_flight += 1
        try:
            self._answer(emu, method, time.monotonic())
        finally:
            with emu.idle:
                emu.in_flight -= 1
                emu.idle.notify_all()

    def _answer(self, emu: GitLabEmulator, method: str, arrived: float) -> None:
        self._drain_body()
        if emu.latency > 0:
            time.sleep(emu.latency)
        fault = emu.take_fault(self.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
            fault = None
        if fault is not None and fault.reset:
            emu.record_request(method, self.path, RESET, arrived=arrived)
            self._reset()
            return
        if fault is not None:
            try:
                reason = http.HTTPStatus(fault.status).phrase
            except ValueError:
                reason = "Error"
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            resp = _Response(fault.status, _json({"message": f"{fault.status} {reason}"}), headers=headers)
        else:
            try:
                resp = emu.handle_request(method, self.path, self.headers)
            except _HTTPError as err:
                resp = _Response(err.status, _json(err.body), headers=err.headers)
            except (GitError, OSError, ValueError, KeyError, UnicodeError, subprocess.SubprocessError) as err:
                resp = _Response(500, _json({"message": f"500 Internal Server Error: {err}"}))
        emu.record_request(method, self.path, resp.status, arrived=arrived)
        self._send(resp, head_only=(method == "HEAD"))

    def _reset(self) -> None:
        """Close the connection without answering, with a TCP RST (SO_LINGER 0) rather than a FIN."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _send(self, resp: _Response, head_only: bool) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        self.send_header("Cache-Control", "max-age=0, private, must-revalidate")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "SAMEORIGIN")
        self.send_header("Vary", "Origin")
        for key, value in resp.headers.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only and resp.body:
            self.wfile.write(resp.body)
        self.wfile.flush()


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


# --------------------------------------------------------------------------- emulator


class GitLabEmulator:
    """GitLab REST API v4 emulator over real bare git repositories (see module docstring)."""

    def __init__(
        self,
        root_dir: str | pathlib.Path,
        token: str = "glpat-emulator-token",
        *,
        tls: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root_dir = pathlib.Path(root_dir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.repos_dir = self.root_dir / "repos"
        self.tokens: set[str] = {token}
        self.tls = tls
        self.host = host
        self.port = port
        self.ca_file: str | None = None
        self.latency: float = 0.0
        self.requests: list[tuple[str, str, int]] = []
        #: every request with its arrival and answer times; cleared with ``requests`` by ``reset_counters``
        self.timeline: list[Visit] = []
        self._lock = threading.RLock()
        #: requests being answered; ``wait_idle`` waits for none (a test's late answer is not the next test's)
        self.in_flight = 0
        self.idle = threading.Condition()
        self._faults: list[_Fault] = []
        self._groups: dict[str, _Group] = {}
        self._projects: dict[int, _Project] = {}
        self._projects_by_path: dict[str, _Project] = {}
        self._next_group_id = 1
        self._next_project_id = 1
        self._commit_cache: dict[str, _CommitInfo] = {}
        self._blob_cache: dict[tuple[str, str], _Blob | None] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL (without ``/api/v4``)."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> GitLabEmulator:
        """Bind (port 0 picks a free port) and serve in a daemon thread."""
        if self._server is not None:
            return self
        context: ssl.SSLContext | None = None
        if self.tls:
            cert, key = self._make_tls()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        server = _Server((self.host, self.port), self, context)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gitlab-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections, join the thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> GitLabEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _make_tls(self) -> tuple[str, str]:
        """Create a self-signed CA and a server certificate signed by it; return (cert, key)."""
        tls_dir = self.root_dir / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        sans = ["IP:127.0.0.1", "DNS:localhost"]
        if self.host not in ("127.0.0.1", "localhost", "0.0.0.0", "::", ""):
            sans.append(("IP:" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", self.host) else "DNS:") + self.host)
        if self.host == "::1" or self.host == "::":
            sans.append("IP:::1")
        cnf = tls_dir / "openssl.cnf"
        cnf.write_text(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = GitLab Emulator\n"
            "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n"
            "[v3_srv]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage = serverAuth\nsubjectAltName = {','.join(sans)}\n"
            "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n"
        )
        ca_key, ca_pem = tls_dir / "ca.key", tls_dir / "ca.pem"
        srv_key, srv_csr, srv_pem = tls_dir / "server.key", tls_dir / "server.csr", tls_dir / "server.pem"
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        commands = [
            [
                "openssl",
                "req",
                "-x509",
                "-config",
                str(cnf),
                "-extensions",
                "v3_ca",
                *newkey,
                "-sha256",
                "-keyout",
                str(ca_key),
                "-out",
                str(ca_pem),
                "-days",
                "3650",
                "-subj",
                "/CN=GitLab Emulator Test CA",
            ],
            [
                "openssl",
                "req",
                "-new",
                "-config",
                str(cnf),
                *newkey,
                "-keyout",
                str(srv_key),
                "-out",
                str(srv_csr),
                "-subj",
                "/CN=localhost",
            ],
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(srv_csr),
                "-CA",
                str(ca_pem),
                "-CAkey",
                str(ca_key),
                "-set_serial",
                str(secrets.randbits(63)),
                "-days",
                "825",
                "-sha256",
                "-extfile",
                str(cnf),
                "-extensions",
                "v3_srv",
                "-out",
                str(srv_pem),
            ],
        ]
        for cmd in commands:
            proc = subprocess.run(cmd, capture_output=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
        self.ca_file = str(ca_pem)
        return str(srv_pem), str(srv_key)

    # ------------------------------------------------------------------ faults and counters

    def fail_next(
        self, count: int, status: int = 503, *, retry_after: int | None = None, path_contains: str | None = None
    ) -> None:
        """Answer the next ``count`` requests (whose path contains ``path_contains``) with ``status``."""
        if count <= 0:
            return
        with self._lock:
            self._faults.append(_Fault(count, status, retry_after, path_contains))

    def reset_next(self, count: int, *, path_contains: str | None = None) -> None:
        """Reset the connection, without answering, for the next ``count`` requests (whose path contains
        ``path_contains``); each is recorded in ``requests`` with status ``RESET`` (0)."""
        if count <= 0:
            return
        with self._lock:
            self._faults.append(_Fault(count, RESET, None, path_contains, reset=True))

    def delay_next(self, count: int, seconds: float, *, path_contains: str | None = None) -> None:
        """Answer the next ``count`` requests (whose path contains ``path_contains``) as usual, ``seconds`` late."""
        if count <= 0:
            return
        with self._lock:
            self._faults.append(_Fault(count, 0, None, path_contains, delay=seconds))

    def take_fault(self, path: str) -> _Fault | None:
        """Consume and return the first pending fault matching ``path`` (used by the HTTP handler)."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path_contains is None or _path_matches(path, fault.path_contains)):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def record_request(self, method: str, path: str, status: int, *, arrived: float | None = None) -> None:
        """Append to ``requests`` and ``timeline`` (used by the HTTP handler, as the answer is sent)."""
        answered = time.monotonic()
        with self._lock:
            self.requests.append((method, path, status))
            self.timeline.append(Visit(answered if arrived is None else arrived, answered, method, path, status))

    def request_count(self, path_contains: str = "") -> int:
        """Number of requests whose path (raw or percent-decoded) contains ``path_contains``."""
        with self._lock:
            return sum(1 for _method, path, _status in self.requests if _path_matches(path, path_contains))

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no request is being answered: one a client gave up on (``latency``, ``delay_next``) still
        sleeps in its handler, then takes a fault or is recorded, and would land in the next test's counters."""
        with self.idle:
            if not self.idle.wait_for(lambda: self.in_flight == 0, timeout):
                raise TimeoutError(f"{self.in_flight} GitLab emulator request(s) still in flight after {timeout} s")

    def reset_counters(self) -> None:
        """Forget recorded requests (pending faults stay; see ``clear_faults``)."""
        with self._lock:
            self.requests.clear()
            self.timeline.clear()

    def clear_faults(self) -> None:
        """Drop pending ``fail_next`` and ``reset_next`` faults."""
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ seeding

    @staticmethod
    def model_readme(
        pipeline_tag: str = "text-generation", library_name: str = "transformers", extra: dict | None = None
    ) -> str:
        """A model-card README: YAML front matter then a markdown body."""
        meta: dict[str, Any] = {"pipeline_tag": pipeline_tag, "library_name": library_name}
        meta.update(extra or {})
        try:
            import yaml  # pylint: disable=import-outside-toplevel

            front = yaml.safe_dump(meta, sort_keys=False, default_flow_style=False, allow_unicode=True)
        except ImportError:
            front = "".join(f"{key}: {json.dumps(value)}\n" for key, value in meta.items())
        return (
            f"---\n{front}---\n\n# Model card\n\n"
            f"A {pipeline_tag} model for the `{library_name}` library, served by the GitLab emulator.\n"
        )

    def _ensure_groups(self, namespace: str) -> _Group:
        parts = namespace.split("/")
        parent: _Group | None = None
        for i in range(len(parts)):
            full = "/".join(parts[: i + 1])
            group = self._groups.get(full.lower())
            if group is None:
                if full.lower() in self._projects_by_path:
                    raise ValueError(f"{full!r} is a project, not a group")
                group = _Group(self._next_group_id, parts[i], parts[i], full, parent.id if parent else None)
                self._next_group_id += 1
                self._groups[full.lower()] = group
            parent = group
        assert parent is not None
        return parent

    def create_project(
        self,
        path: str,
        *,
        files: dict[str, str | bytes] | None = None,
        default_branch: str = "main",
        branches: dict[str, dict[str, str | bytes]] | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> dict:
        """Create a project (and its groups) with an initial commit, branches and tags; return its JSON."""
        full_path = path.strip("/")
        parts = full_path.split("/")
        if len(parts) < 2 or not all(_SEGMENT_RE.fullmatch(p) for p in parts) or any(p.endswith(".git") for p in parts):
            raise ValueError(f"invalid project path {path!r} (need 'group[/subgroup...]/project')")
        if (branches or tags) and not files:
            raise ValueError("branches and tags need an initial commit: pass files")
        with self._lock:
            if full_path.lower() in self._projects_by_path or full_path.lower() in self._groups:
                raise ValueError(f"{full_path!r} already exists")
            namespace = "/".join(parts[:-1])
            self._ensure_groups(namespace)
            repo = self.repos_dir / f"{full_path}.git"
            if repo.exists():
                shutil.rmtree(repo)
            repo.parent.mkdir(parents=True, exist_ok=True)
            _git(None, "-c", f"init.defaultBranch={default_branch}", "init", "--bare", "-q", "--template=", str(repo))
            pid = self._next_project_id
            created = EPOCH + PROJECT_STEP * pid
            project = _Project(
                id=pid,
                name=parts[-1],
                path=parts[-1],
                full_path=full_path,
                namespace=namespace,
                description=description,
                default_branch=default_branch,
                repo=repo,
                created_at=created,
                last_activity_at=created,
            )
            if files:
                self._seed_history(project, files, branches or {}, tags or {})
            self._next_project_id += 1
            self._projects[pid] = project
            self._projects_by_path[full_path.lower()] = project
            return self._project_json(project)

    def _commit_stream(
        self, project: _Project, ref: str, mark: int, parent: str | None, files: dict[str, str | bytes], message: str
    ) -> bytes:
        """fast-import commands for one deterministic commit; advances the project's commit counter."""
        ts = EPOCH + COMMIT_STEP * project.seq
        project.seq += 1
        ident = f"{GIT_NAME} <{GIT_EMAIL}> {ts} +0000\n"
        if not message.endswith("\n"):
            message += "\n"
        out = [
            f"commit {ref}\nmark :{mark}\nauthor {ident}committer {ident}".encode(),
            _fi_data(message.encode("utf-8")),
        ]
        if parent:
            out.append(f"from {parent}\n".encode())
        for file_path in sorted(files):
            out.append(f"M 100644 inline {_fi_quote(_clean_file_path(file_path))}\n".encode("utf-8"))
            out.append(_fi_data(_to_bytes(files[file_path])))
        out.append(b"\n")
        return b"".join(out)

    def _fast_import(self, project: _Project, stream: bytes) -> dict[int, str]:
        """Run git fast-import into the project's repository; return {mark: sha}."""
        marks_file = project.repo / "emulator-marks"
        _git(project.repo, "fast-import", "--quiet", f"--export-marks={marks_file}", stdin=stream)
        marks: dict[int, str] = {}
        for line in marks_file.read_text().splitlines():
            mark, _sep, sha = line.partition(" ")
            marks[int(mark.lstrip(":"))] = sha
        marks_file.unlink()
        return marks

    def _seed_history(
        self,
        project: _Project,
        files: dict[str, str | bytes],
        branches: dict[str, dict[str, str | bytes]],
        tags: dict[str, str],
    ) -> None:
        default = project.default_branch
        stream = [self._commit_stream(project, f"refs/heads/{default}", 1, None, files, "Initial commit")]
        branch_marks = {default: 1}
        for i, (name, bfiles) in enumerate(branches.items(), start=2):
            stream.append(self._commit_stream(project, f"refs/heads/{name}", i, ":1", bfiles, f"Update {name}"))
            branch_marks[name] = i
        sha_tags: dict[str, str] = {}
        for tag, target in tags.items():
            if target in branch_marks:
                stream.append(f"reset refs/tags/{tag}\nfrom :{branch_marks[target]}\n\n".encode())
            else:
                sha_tags[tag] = target
        self._fast_import(project, b"".join(stream))
        project.has_commits = True
        for tag, target in sha_tags.items():
            sha = self._resolve(project, target)
            if sha is None:
                raise ValueError(f"tag {tag!r}: unknown target {target!r}")
            _git(project.repo, "update-ref", f"refs/tags/{tag}", sha)
        self._note_files(project, default, files)
        if default in branches:
            self._note_files(project, default, branches[default])

    def _note_files(self, project: _Project, branch: str, files: dict[str, str | bytes]) -> None:
        if branch != project.default_branch or project.readme:
            return
        readmes = sorted(f.strip("/") for f in files if "/" not in f.strip("/") and f.lower().startswith("readme"))
        if readmes:
            project.readme = readmes[0]

    def _project_for_seed(self, project_path: str) -> _Project:
        project = self._projects_by_path.get(project_path.strip("/").lower())
        if project is None:
            raise KeyError(f"no project {project_path!r}")
        return project

    def commit(self, project_path: str, branch: str, files: dict[str, str | bytes], message: str = "update") -> str:
        """Commit ``files`` on ``branch`` (created from the default branch if missing); return the SHA."""
        with self._lock:
            project = self._project_for_seed(project_path)
            parent = self._branch_sha(project, branch)
            if parent is None and project.has_commits:
                parent = self._branch_sha(project, project.default_branch)
            stream = self._commit_stream(project, f"refs/heads/{branch}", 1, parent, files, message)
            sha = self._fast_import(project, stream)[1]
            project.has_commits = True
            project.last_activity_at = max(project.last_activity_at, EPOCH + COMMIT_STEP * (project.seq - 1))
            self._note_files(project, branch, files)
            return sha

    # ------------------------------------------------------------------ git reads

    def _resolve(self, project: _Project, ref: str) -> str | None:
        """Resolve a branch, tag, or full/short SHA to a commit SHA (branch wins, as in GitLab)."""
        if not ref or ref.startswith("-") or any(c in ref for c in "\n\r\0") or not project.has_commits:
            return None
        candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        if _HEX_RE.fullmatch(ref):
            candidates.append(ref)
        if ref == "HEAD":
            candidates.append("HEAD")
        out = _git(
            project.repo,
            "cat-file",
            "--batch-check",
            stdin="".join(f"{c}^{{commit}}\n" for c in candidates).encode("utf-8"),
        )
        for line in out.decode("utf-8", errors="replace").splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[1] == "commit" and _SHA_RE.fullmatch(parts[0]):
                return parts[0]
        return None

    def _branch_sha(self, project: _Project, name: str) -> str | None:
        if not name or any(c in name for c in "\n\r\0") or not project.has_commits:
            return None
        out = _git(project.repo, "rev-parse", "-q", "--verify", f"refs/heads/{name}^{{commit}}", check=False).strip()
        return out.decode() if _SHA_RE.fullmatch(out.decode(errors="replace")) else None

    def _commit_infos(self, project: _Project, shas: list[str]) -> dict[str, _CommitInfo]:
        """Commit metadata for many SHAs with one ``git cat-file --batch`` (cached by SHA)."""
        missing = [s for s in dict.fromkeys(shas) if s not in self._commit_cache]
        if missing:
            out = _git(project.repo, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in missing).encode())
            pos = 0
            while pos < len(out):
                nl = out.index(b"\n", pos)
                header = out[pos:nl].decode().split(" ")
                pos = nl + 1
                if len(header) != 3:
                    continue
                size = int(header[2])
                body = out[pos : pos + size]
                pos += size + 1
                if header[1] == "commit":
                    self._commit_cache[header[0]] = _parse_commit(header[0], body)
        return {s: self._commit_cache[s] for s in shas if s in self._commit_cache}

    def _commit_info(self, project: _Project, sha: str) -> _CommitInfo:
        return self._commit_infos(project, [sha])[sha]

    def _read_blob(self, project: _Project, commit_sha: str, path: str) -> _Blob | None:
        """The file at ``path`` in ``commit_sha`` or None (cached: both keys are immutable)."""
        key = (commit_sha, path)
        if key in self._blob_cache:
            return self._blob_cache[key]
        blob: _Blob | None = None
        if path and not any(c in path for c in "\n\r\0"):
            out = _git(project.repo, "--literal-pathspecs", "ls-tree", "-z", "--full-tree", commit_sha, "--", path)
            for entry in out.split(b"\0"):
                meta, _sep, name = entry.partition(b"\t")
                fields = meta.split(b" ")
                if name.decode("utf-8", errors="replace") == path and len(fields) == 3 and fields[1] == b"blob":
                    blob_id = fields[2].decode()
                    content = _git(project.repo, "cat-file", "blob", blob_id)
                    last = _git(project.repo, "--literal-pathspecs", "log", "-1", "--format=%H", commit_sha, "--", path)
                    blob = _Blob(blob_id, fields[0].decode(), content, last.decode().strip() or commit_sha)
                    break
        self._blob_cache[key] = blob
        return blob

    # ------------------------------------------------------------------ JSON views

    def _web_url(self, project: _Project) -> str:
        return f"{self.url}/{project.full_path}"

    def _namespace_json(self, namespace: str) -> dict[str, Any]:
        group = self._groups[namespace.lower()]
        return {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "kind": "group",
            "full_path": group.full_path,
            "parent_id": group.parent_id,
            "avatar_url": None,
            "web_url": f"{self.url}/groups/{group.full_path}",
        }

    def _project_json(self, project: _Project, *, single: bool = False) -> dict[str, Any]:
        web = self._web_url(project)
        api = f"{self.url}/api/v4/projects/{project.id}"
        ns_names = [
            self._groups["/".join(project.namespace.split("/")[: i + 1]).lower()].name
            for i in range(project.namespace.count("/") + 1)
        ]
        host = urllib.parse.urlsplit(self.url).hostname or self.host
        data: dict[str, Any] = {
            "id": project.id,
            "description": project.description,
            "name": project.name,
            "name_with_namespace": " / ".join([*ns_names, project.name]),
            "path": project.path,
            "path_with_namespace": project.full_path,
            "created_at": _iso_utc(project.created_at),
            "default_branch": project.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@{host}:{project.full_path}.git",
            "http_url_to_repo": f"{web}.git",
            "web_url": web,
            "readme_url": f"{web}/-/blob/{project.default_branch}/{project.readme}" if project.readme else None,
            "forks_count": 0,
            "avatar_url": None,
            "star_count": 0,
            "last_activity_at": _iso_utc(project.last_activity_at),
            "namespace": self._namespace_json(project.namespace),
            "visibility": "private",
            "archived": False,
            "empty_repo": not project.has_commits,
            "creator_id": _USER["id"],
            "_links": {
                "self": api,
                "issues": f"{api}/issues",
                "merge_requests": f"{api}/merge_requests",
                "repo_branches": f"{api}/repository/branches",
                "labels": f"{api}/labels",
                "events": f"{api}/events",
                "members": f"{api}/members",
                "cluster_agents": f"{api}/cluster_agents",
            },
        }
        if single:
            data["permissions"] = {
                "project_access": {"access_level": 50, "notification_level": 3},
                "group_access": None,
            }
        return data

    def _commit_json(self, project: _Project, info: _CommitInfo) -> dict[str, Any]:
        return {
            "id": info.sha,
            "short_id": info.sha[:8],
            "created_at": info.committed_date,
            "parent_ids": list(info.parents),
            "title": info.message.split("\n", 1)[0],
            "message": info.message,
            "author_name": info.author_name,
            "author_email": info.author_email,
            "authored_date": info.authored_date,
            "committer_name": info.committer_name,
            "committer_email": info.committer_email,
            "committed_date": info.committed_date,
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{self._web_url(project)}/-/commit/{info.sha}",
        }

    def _branch_json(self, project: _Project, name: str, info: _CommitInfo, merged: bool) -> dict[str, Any]:
        is_default = name == project.default_branch
        return {
            "name": name,
            "commit": self._commit_json(project, info),
            "merged": merged,
            "protected": is_default,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "default": is_default,
            "web_url": f"{self._web_url(project)}/-/tree/{name}",
        }

    def _merged_branches(self, project: _Project) -> set[str]:
        default_sha = self._branch_sha(project, project.default_branch)
        if default_sha is None:
            return set()
        out = _git(project.repo, "for-each-ref", f"--merged={default_sha}", "--format=%(refname:strip=2)", "refs/heads")
        return {n for n in out.decode("utf-8", errors="replace").splitlines() if n != project.default_branch}

    def _tag_records(self, project: _Project) -> list[tuple[str, str, str, str]]:
        """(name, target, commit_sha, message) for every tag."""
        if not project.has_commits:
            return []
        fmt = "%(refname:strip=2)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(contents)%01"
        out = _git(project.repo, "for-each-ref", f"--format={fmt}", "refs/tags")
        records = []
        for rec in out.decode("utf-8", errors="replace").split("\x01"):
            rec = rec.lstrip("\n")
            if not rec:
                continue
            name, target, otype, peeled, message = (rec.split("\0") + [""] * 5)[:5]
            if otype == "tag":
                records.append((name, target, peeled, message))
            elif otype == "commit":
                records.append((name, target, target, ""))
        return records

    def _tag_json(self, project: _Project, name: str, target: str, info: _CommitInfo, message: str) -> dict[str, Any]:
        return {
            "name": name,
            "message": message,
            "target": target,
            "commit": self._commit_json(project, info),
            "release": None,
            "protected": False,
            "created_at": None,
        }

    # ------------------------------------------------------------------ HTTP handling

    def handle_request(self, method: str, raw_target: str, headers: Any) -> _Response:
        """Route one request (faults and latency already applied)."""
        raw_path, _sep, raw_query = raw_target.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        prefix = "/api/v4/"
        if not raw_path.startswith(prefix):
            raise _HTTPError(404, {"error": "404 Not Found"})
        segments = raw_path[len(prefix) :].rstrip("/").split("/")
        route = self._route(segments)
        if route is None:
            raise _HTTPError(404, {"error": "404 Not Found"})
        if method not in ("GET", "HEAD"):
            raise _HTTPError(405, {"error": "405 Method Not Allowed"}, {"Allow": "GET, HEAD"})
        self._authenticate(headers, query)
        name, args = route
        ctx = _Ctx(raw_path=raw_path, query=query, host=headers.get("Host") or "")
        result: _Response = getattr(self, f"_r_{name}")(ctx, *args)
        return result

    @staticmethod
    def _route(seg: list[str]) -> tuple[str, tuple[str, ...]] | None:
        unq = urllib.parse.unquote
        if seg == ["version"]:
            return "version", ()
        if seg == ["user"]:
            return "user", ()
        if not seg or seg[0] != "projects":
            return None
        if len(seg) == 1:
            return "projects", ()
        pid = unq(seg[1])
        if len(seg) == 2:
            return "project", (pid,)
        if len(seg) < 4 or seg[2] != "repository":
            return None
        kind, rest = seg[3], [unq(s) for s in seg[4:]]
        if kind in ("branches", "tags", "commits", "tree") and not rest:
            return kind, (pid,)
        if not rest or any(not s for s in rest):
            return None
        name = "/".join(rest)
        if kind == "branches":
            return "branch", (pid, name)
        if kind == "tags":
            return "tag", (pid, name)
        if kind == "commits":
            return "commit", (pid, name)
        if kind == "files":
            if len(rest) > 1 and seg[-1] == "raw":
                return "raw", (pid, "/".join(rest[:-1]))
            return "file", (pid, name)
        return None

    def _authenticate(self, headers: Any, query: dict[str, str]) -> None:
        token = headers.get("PRIVATE-TOKEN")
        if not token:
            auth = headers.get("Authorization") or ""
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
        if not token:
            token = query.get("private_token") or query.get("access_token")
        with self._lock:
            valid = bool(token) and token in self.tokens
        if not valid:
            raise _HTTPError(401, {"message": "401 Unauthorized"})

    def _project_by_ref(self, pid: str) -> _Project:
        with self._lock:
            project = self._projects.get(int(pid)) if pid.isdigit() else self._projects_by_path.get(pid.lower())
        if project is None:
            raise _HTTPError(404, {"message": "404 Project Not Found"})
        return project

    def _paginate(self, ctx: _Ctx, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """Slice ``items`` per page/per_page and build GitLab's pagination headers."""
        try:
            page = int(ctx.query.get("page") or 1)
        except ValueError:
            raise _HTTPError(400, {"error": "page is invalid"}) from None
        try:
            per_page = int(ctx.query.get("per_page") or DEFAULT_PER_PAGE)
        except ValueError:
            raise _HTTPError(400, {"error": "per_page is invalid"}) from None
        page = max(page, 1)
        per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
        total = len(items)
        total_pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        next_page = page + 1 if page < total_pages else None
        prev_page = page - 1 if 1 < page <= total_pages else None
        scheme = "https" if self.tls else "http"
        base = f"{scheme}://{ctx.host}{ctx.raw_path}" if ctx.host else f"{self.url}{ctx.raw_path}"

        def href(p: int) -> str:
            params = dict(ctx.query)
            params["page"] = str(p)
            params["per_page"] = str(per_page)
            return f"{base}?{urllib.parse.urlencode(sorted(params.items()))}"

        links = []
        if prev_page:
            links.append(f'<{href(prev_page)}>; rel="prev"')
        if next_page:
            links.append(f'<{href(next_page)}>; rel="next"')
        links.append(f'<{href(1)}>; rel="first"')
        links.append(f'<{href(total_pages)}>; rel="last"')
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(next_page or ""),
            "X-Prev-Page": str(prev_page or ""),
            "X-Total": str(total),
            "X-Total-Pages": str(total_pages),
            "Link": ", ".join(links),
        }
        return chunk, headers

    # -- routes

    def _r_version(self, ctx: _Ctx) -> _Response:
        return _Response(200, _json(GITLAB_VERSION))

    def _r_user(self, ctx: _Ctx) -> _Response:
        return _Response(200, _json({**_USER, "web_url": f"{self.url}/{_USER['username']}"}))

    def _r_projects(self, ctx: _Ctx) -> _Response:
        order_by = ctx.query.get("order_by") or "created_at"
        sort = (ctx.query.get("sort") or "desc").lower()
        keys = {
            "id": lambda p: (p.id,),
            "name": lambda p: (p.name.lower(), p.id),
            "path": lambda p: (p.path.lower(), p.id),
            "created_at": lambda p: (p.created_at, p.id),
            "updated_at": lambda p: (p.last_activity_at, p.id),
            "last_activity_at": lambda p: (p.last_activity_at, p.id),
        }
        if order_by not in keys:
            raise _HTTPError(400, {"error": "order_by does not have a valid value"})
        if sort not in ("asc", "desc"):
            raise _HTTPError(400, {"error": "sort does not have a valid value"})
        search = (ctx.query.get("search") or "").lower()
        in_namespaces = (ctx.query.get("search_namespaces") or "").lower() in ("true", "1", "yes")
        with self._lock:
            projects = list(self._projects.values())
        if search:
            projects = [
                p
                for p in projects
                if search in p.name.lower()
                or search in p.path.lower()
                or (in_namespaces and search in p.full_path.lower())
            ]
        projects.sort(key=keys[order_by], reverse=(sort == "desc"))
        chunk, headers = self._paginate(ctx, projects)
        return _Response(200, _json([self._project_json(p) for p in chunk]), headers=headers)

    def _r_project(self, ctx: _Ctx, pid: str) -> _Response:
        return _Response(200, _json(self._project_json(self._project_by_ref(pid), single=True)))

    def _r_branches(self, ctx: _Ctx, pid: str) -> _Response:
        project = self._project_by_ref(pid)
        heads: list[tuple[str, str]] = []
        if project.has_commits:
            out = _git(project.repo, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)", "refs/heads")
            for line in out.decode("utf-8", errors="replace").splitlines():
                name, _sep, sha = line.partition("\0")
                heads.append((name, sha))
        search = (ctx.query.get("search") or "").lower()
        if search:
            heads = [h for h in heads if search in h[0].lower()]
        heads.sort(key=lambda h: h[0])
        chunk, headers = self._paginate(ctx, heads)
        infos = self._commit_infos(project, [sha for _name, sha in chunk])
        merged = self._merged_branches(project) if chunk else set()
        body = [self._branch_json(project, name, infos[sha], name in merged) for name, sha in chunk]
        return _Response(200, _json(body), headers=headers)

    def _r_branch(self, ctx: _Ctx, pid: str, name: str) -> _Response:
        project = self._project_by_ref(pid)
        sha = self._branch_sha(project, name)
        if sha is None:
            raise _HTTPError(404, {"message": "404 Branch Not Found"})
        merged = name != project.default_branch and name in self._merged_branches(project)
        return _Response(200, _json(self._branch_json(project, name, self._commit_info(project, sha), merged)))

    def _r_tags(self, ctx: _Ctx, pid: str) -> _Response:
        project = self._project_by_ref(pid)
        records = self._tag_records(project)
        infos = self._commit_infos(project, [r[2] for r in records])
        search = (ctx.query.get("search") or "").lower()
        if search:
            records = [r for r in records if search in r[0].lower()]
        order_by = ctx.query.get("order_by") or "updated"
        sort = (ctx.query.get("sort") or "desc").lower()
        if order_by == "name":
            records.sort(key=lambda r: r[0], reverse=(sort == "desc"))
        else:
            records.sort(key=lambda r: r[0])
            records.sort(key=lambda r: infos[r[2]].committed_date, reverse=(sort == "desc"))
        chunk, headers = self._paginate(ctx, records)
        body = [self._tag_json(project, n, t, infos[c], m) for n, t, c, m in chunk]
        return _Response(200, _json(body), headers=headers)

    def _r_tag(self, ctx: _Ctx, pid: str, name: str) -> _Response:
        project = self._project_by_ref(pid)
        for tag_name, target, commit_sha, message in self._tag_records(project):
            if tag_name == name:
                info = self._commit_info(project, commit_sha)
                return _Response(200, _json(self._tag_json(project, tag_name, target, info, message)))
        raise _HTTPError(404, {"message": "404 Tag Not Found"})

    def _r_commits(self, ctx: _Ctx, pid: str) -> _Response:
        """List commits reachable from ``ref_name`` (default branch), optionally touching ``path``."""
        project = self._project_by_ref(pid)
        ref = ctx.query.get("ref_name") or project.default_branch
        sha = self._resolve(project, ref)
        if sha is None:
            if not project.has_commits:
                return _Response(200, _json([]), headers=self._paginate(ctx, [])[1])
            raise _HTTPError(404, {"message": "404 Reference Not Found"})
        args = ["--literal-pathspecs", "log", "--format=%H", sha]
        if ctx.query.get("path"):
            args += ["--", ctx.query["path"]]
        shas = _git(project.repo, *args).decode().split()
        chunk, headers = self._paginate(ctx, shas)
        infos = self._commit_infos(project, chunk)
        return _Response(200, _json([self._commit_json(project, infos[c]) for c in chunk]), headers=headers)

    def _r_tree(self, ctx: _Ctx, pid: str) -> _Response:
        """List a directory (``path``) at ``ref``; ``recursive=true`` lists the whole subtree."""
        project = self._project_by_ref(pid)
        ref = ctx.query.get("ref") or project.default_branch
        sha = self._resolve(project, ref)
        if sha is None:
            if not project.has_commits:
                return _Response(200, _json([]), headers=self._paginate(ctx, [])[1])
            raise _HTTPError(404, {"message": "404 Tree Not Found"})
        base = (ctx.query.get("path") or "").strip("/")
        if any(c in base for c in "\n\r\0"):
            raise _HTTPError(404, {"message": "404 Tree Not Found"})
        recursive = (ctx.query.get("recursive") or "").lower() in ("true", "1")
        args = (
            ["ls-tree", "-z"] + (["-r", "-t"] if recursive else []) + [f"{sha}:{base}" if base else f"{sha}^{{tree}}"]
        )
        try:
            out = _git(project.repo, *args)
        except GitError:
            raise _HTTPError(404, {"message": "404 Tree Not Found"}) from None
        entries = []
        for entry in out.split(b"\0"):
            meta, _sep, name = entry.partition(b"\t")
            fields = meta.decode().split(" ")
            if len(fields) != 3 or fields[1] not in ("blob", "tree"):
                continue
            rel = name.decode("utf-8", errors="replace")
            entries.append(
                {
                    "id": fields[2],
                    "name": rel.rsplit("/", 1)[-1],
                    "type": fields[1],
                    "path": f"{base}/{rel}" if base else rel,
                    "mode": fields[0],
                }
            )
        if not recursive:
            entries.sort(key=lambda e: e["type"] != "tree")
        chunk, headers = self._paginate(ctx, entries)
        return _Response(200, _json(chunk), headers=headers)

    def _r_commit(self, ctx: _Ctx, pid: str, ref: str) -> _Response:
        project = self._project_by_ref(pid)
        sha = self._resolve(project, ref)
        if sha is None:
            raise _HTTPError(404, {"message": "404 Commit Not Found"})
        data = self._commit_json(project, self._commit_info(project, sha))
        additions = deletions = 0
        if (ctx.query.get("stats") or "true").lower() != "false":
            out = _git(project.repo, "diff-tree", "--numstat", "-r", "--root", "--no-commit-id", sha)
            for line in out.decode("utf-8", errors="replace").splitlines():
                cols = line.split("\t")
                if len(cols) >= 3:
                    additions += int(cols[0]) if cols[0].isdigit() else 0
                    deletions += int(cols[1]) if cols[1].isdigit() else 0
            data["stats"] = {"additions": additions, "deletions": deletions, "total": additions + deletions}
        data.update({"status": None, "project_id": project.id, "last_pipeline": None})
        return _Response(200, _json(data))

    def _file_lookup(
        self, ctx: _Ctx, pid: str, file_path: str, *, ref_required: bool
    ) -> tuple[_Project, str, str, _Blob]:
        project = self._project_by_ref(pid)
        ref = ctx.query.get("ref")
        if ref is None:
            if ref_required:
                raise _HTTPError(400, {"error": "ref is missing"})
            ref = project.default_branch
        elif ref == "":
            raise _HTTPError(400, {"error": "ref is empty"})
        sha = self._resolve(project, ref)
        if sha is None:
            raise _HTTPError(404, {"message": "404 Commit Not Found"})
        blob = self._read_blob(project, sha, file_path)
        if blob is None:
            raise _HTTPError(404, {"message": "404 File Not Found"})
        return project, ref, sha, blob

    @staticmethod
    def _file_headers(file_path: str, ref: str, sha: str, blob: _Blob) -> dict[str, str]:
        return {
            "X-Gitlab-Blob-Id": blob.blob_id,
            "X-Gitlab-Commit-Id": sha,
            "X-Gitlab-Content-Sha256": hashlib.sha256(blob.content).hexdigest(),
            "X-Gitlab-Encoding": "base64",
            "X-Gitlab-Execute-Filemode": "true" if blob.mode == "100755" else "false",
            "X-Gitlab-File-Name": file_path.rsplit("/", 1)[-1],
            "X-Gitlab-File-Path": file_path,
            "X-Gitlab-Last-Commit-Id": blob.last_commit_id,
            "X-Gitlab-Ref": ref,
            "X-Gitlab-Size": str(len(blob.content)),
        }

    def _r_file(self, ctx: _Ctx, pid: str, file_path: str) -> _Response:
        _project, ref, sha, blob = self._file_lookup(ctx, pid, file_path, ref_required=True)
        body = {
            "file_name": file_path.rsplit("/", 1)[-1],
            "file_path": file_path,
            "size": len(blob.content),
            "encoding": "base64",
            "content_sha256": hashlib.sha256(blob.content).hexdigest(),
            "ref": ref,
            "blob_id": blob.blob_id,
            "commit_id": sha,
            "last_commit_id": blob.last_commit_id,
            "execute_filemode": blob.mode == "100755",
            "content": base64.b64encode(blob.content).decode("ascii"),
        }
        return _Response(200, _json(body), headers=self._file_headers(file_path, ref, sha, blob))

    def _r_raw(self, ctx: _Ctx, pid: str, file_path: str) -> _Response:
        _project, ref, sha, blob = self._file_lookup(ctx, pid, file_path, ref_required=False)
        return _Response(
            200,
            blob.content,
            content_type="text/plain; charset=utf-8",
            headers=self._file_headers(file_path, ref, sha, blob),
        )


@dataclass
class _Ctx:
    raw_path: str
    query: dict[str, str]
    host: str


def _path_matches(path: str, needle: str | None) -> bool:
    if not needle:
        return True
    return needle in path or needle in urllib.parse.unquote(path)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM/SIGINT; print {"url", "token", ...} as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", required=True, help="directory for repositories (and TLS files)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--token", default="glpat-emulator-token")
    parser.add_argument("--seed", help="JSON file {project_path: {files, branches, tags, default_branch, description}}")
    args = parser.parse_args(argv)

    emulator = GitLabEmulator(args.root, args.token, tls=args.tls, host=args.host, port=args.port)
    if args.seed:
        seed = json.loads(pathlib.Path(args.seed).read_text())
        for project_path, spec in seed.items():
            emulator.create_project(project_path, **(spec or {}))
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    emulator.start()
    print(
        json.dumps(
            {
                "url": emulator.url,
                "api_url": f"{emulator.url}/api/v4",
                "token": args.token,
                "ca_file": emulator.ca_file,
                "pid": os.getpid(),
            }
        ),
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
