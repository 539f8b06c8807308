# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The GitLab backend (python-gitlab): connect, find the model project, resolve the ref, read the README.

Every python-gitlab and requests error is turned into a GitLabError here, with a message that
names the fix and never the token.

Retries are ours, not python-gitlab's: python-gitlab sleeps for whatever ``Retry-After`` says (an hour, if GitLab
says so), ignoring ``timeout``. Every request goes through ``_RetryingSession.request``, which retries 429, 5xx,
connection resets and timeouts at most ``retries`` times and never waits longer than ``retry_wait_cap`` at once.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, TypeVar

from ansible.module_utils.basic import env_fallback

from ansible_collections.aml.kserve.plugins.module_utils._errors import GitLabError, ModelCardError, first_line
from ansible_collections.aml.kserve.plugins.module_utils._model_card import parse_model_card
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec

try:
    import gitlab
    import gitlab.exceptions
    import requests
    import requests.exceptions

    HAS_GITLAB = True
    GITLAB_IMPORT_ERROR = None
except ImportError as import_error:  # reported by the module with missing_required_lib
    HAS_GITLAB = False
    GITLAB_IMPORT_ERROR = import_error

T = TypeVar("T")

#: The longest wait before one retry, whatever Retry-After / RateLimit-Reset ask for (also capped by ``timeout``).
MAX_RETRY_WAIT = 30.0
#: Statuses retried (python-gitlab's transient set, and 429).
RETRY_STATUSES = frozenset([429, 500, 502, 503, 504] + list(range(520, 531)))

CONNECTION_SPEC = ArgumentSpec(
    {
        "api_url": {"type": "str", "required": True, "fallback": (env_fallback, ["GITLAB_URL"])},
        "api_token": {"type": "str", "required": True, "no_log": True, "fallback": (env_fallback, ["GITLAB_TOKEN"])},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "timeout": {"type": "float", "default": 30.0},
        "retries": {"type": "int", "default": 3},
    }
)


@dataclass
class ConnectionOptions:
    api_url: str
    api_token: str
    validate_certs: bool = True
    ca_path: Optional[str] = None
    timeout: float = 30.0
    retries: int = 3

    @classmethod
    def from_params(cls, params: Dict[str, Any]) -> "ConnectionOptions":
        return cls(**{key: params[key] for key in CONNECTION_SPEC.argument_spec})


def retry_wait(headers: Any, attempt: int, cap: float, now: Optional[float] = None) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): Retry-After (seconds or an HTTP date), else
    RateLimit-Reset (epoch seconds), else exponential backoff from 0.1 s; never more than ``cap``."""
    now = time.time() if now is None else now
    wait = None
    retry_after = (headers.get("Retry-After") or "").strip() if headers is not None else ""
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            try:
                wait = email.utils.parsedate_to_datetime(retry_after).timestamp() - now
            except (TypeError, ValueError, IndexError, OverflowError):
                wait = None
    if wait is None and headers is not None and headers.get("RateLimit-Reset"):
        try:
            wait = float(headers["RateLimit-Reset"]) - now
        except ValueError:
            wait = None
    if wait is None or math.isnan(wait):  # absent or unreadable
        wait = 0.1 * 2 ** attempt
    return min(max(wait, 0.0), cap)


def _retryable_exception(err: Exception) -> bool:
    """Connection resets, refusals and timeouts are worth a retry; a certificate GitLab does not pass is not."""
    if isinstance(err, requests.exceptions.SSLError):
        text = str(err).lower()
        return "certificate" not in text and "wrong version number" not in text
    return isinstance(err, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.Timeout))


if HAS_GITLAB:

    class _RetryingSession(requests.Session):
        """The one place the backend sends requests: bounded retries with a bounded wait each."""

        def __init__(self, retries: int, wait_cap: float) -> None:
            super().__init__()
            self.retries = retries
            self.wait_cap = wait_cap
            self.sleep: Callable[[float], Any] = time.sleep

        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            attempt = 0
            while True:
                try:
                    response = super().request(method, url, *args, **kwargs)
                except requests.exceptions.RequestException as err:
                    if attempt >= self.retries or not _retryable_exception(err):
                        raise
                    wait = retry_wait(None, attempt, self.wait_cap)
                else:
                    if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                        return response
                    wait = retry_wait(response.headers, attempt, self.wait_cap)
                    response.close()
                attempt += 1
                self.sleep(wait)


class GitLabClient:
    """One python-gitlab session per module run; every call goes through ``call``."""

    def __init__(self, options: ConnectionOptions) -> None:
        if options.retries < 0:
            raise GitLabError("retries={0} must be 0 or more".format(options.retries))
        if options.timeout <= 0:
            raise GitLabError("timeout={0} must be more than 0 seconds".format(options.timeout))
        self.url = options.api_url.rstrip("/")
        if self.url.endswith("/api/v4"):
            self.url = self.url[: -len("/api/v4")]
        if not self.url.startswith(("http://", "https://")):
            raise GitLabError("api_url={0!r} must start with https:// (or http://)".format(options.api_url))
        if options.ca_path and not os.path.isfile(options.ca_path):
            raise GitLabError("ca_path={0!r} is not a file; give the PEM bundle of the CA that signed GitLab's "
                              "certificate".format(options.ca_path))
        if any(ord(c) < 33 or ord(c) == 127 for c in options.api_token):
            # Never echo it: a header library would print the whole value in its error.
            raise GitLabError("api_token contains whitespace or a line break; check the token (or the "
                              "MODEL_REPO_GIT_TOKEN key of Secret aml-image-builder-secret): it must be one line")
        self.options = options
        #: the longest wait before one retry: Retry-After is obeyed up to this, never for an hour
        self.retry_wait_cap = min(MAX_RETRY_WAIT, options.timeout)
        self.session = _RetryingSession(options.retries, self.retry_wait_cap)
        verify = options.ca_path if options.ca_path else options.validate_certs
        self.gl = gitlab.Gitlab(
            self.url, private_token=options.api_token, ssl_verify=verify, timeout=options.timeout,
            retry_transient_errors=False, user_agent="aml.kserve", session=self.session,
        )

    def call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one python-gitlab call (retried by the session, not by python-gitlab); turn its failures into
        GitLabError."""
        kwargs.update(max_retries=0, obey_rate_limit=False, retry_transient_errors=False)
        try:
            return func(*args, **kwargs)
        except gitlab.exceptions.GitlabAuthenticationError as err:
            raise GitLabError(
                "GitLab at {0} rejected the token while {1} ({2} {3}): check api_token (or GITLAB_TOKEN); "
                "it needs the read_api and read_repository scopes".format(self.url, what, err.response_code, first_line(str(err.error_message))),
                status=err.response_code)
        except gitlab.exceptions.GitlabHttpError as err:
            raise self._http_error(what, err)
        except gitlab.exceptions.GitlabError as err:
            raise self._http_error(what, err)
        except requests.exceptions.SSLError as err:
            raise GitLabError(
                "TLS verification failed for GitLab at {0} while {1}: {2}. If GitLab's certificate is signed by a "
                "private CA, pass that CA's PEM bundle as ca_path".format(self.url, what, _reason(err)))
        except requests.exceptions.Timeout:
            raise GitLabError("GitLab at {0} did not answer within {1:g} s while {2} (after {3} retries); raise timeout "
                              "or check the server".format(self.url, self.options.timeout, what, self.options.retries))
        except requests.exceptions.ConnectionError as err:
            raise GitLabError("Cannot connect to GitLab at {0} while {1} (after {2} retries): {3}; check api_url".format(
                self.url, what, self.options.retries, _reason(err)))

    def _http_error(self, what: str, err: Any) -> GitLabError:
        code = getattr(err, "response_code", None)
        message = first_line(str(getattr(err, "error_message", "") or err))
        if code == 429:
            hint = ("GitLab still limited the request rate after {0} retries (each wait capped at {1:g} s, whatever "
                    "Retry-After asked); try again later or raise retries".format(self.options.retries, self.retry_wait_cap))
        elif code in RETRY_STATUSES:
            hint = "GitLab kept failing after {0} retries; try again later or raise retries".format(self.options.retries)
        elif code == 404:
            hint = "check the name, and that the token's user can see the project"
        elif code == 403:
            hint = "the token's user lacks access; give it at least Reporter access to the project"
        else:
            hint = ""
        text = "GitLab answered {0} ({1}) while {2}".format(code, message, what)
        return GitLabError(text + ("; " + hint if hint else ""), status=code)


def _reason(err: Exception) -> str:
    """The innermost reason of a requests error, without the URL's query (never holds the token anyway)."""
    text = str(err.args[0]) if err.args else str(err)
    if "(Caused by " in text:
        text = text.split("(Caused by ", 1)[1].rstrip(")")
    return first_line(text)


def split_namespace(full_path: str) -> Dict[str, str]:
    """The pipeline's awk split: group = first segment, subgroup = the rest joined by '/'."""
    parts = full_path.split("/")
    return {"group": parts[0], "subgroup": "/".join(parts[1:])}


def _in_namespace(project: Dict[str, Any], namespace: str) -> bool:
    full_path = (project.get("namespace") or {}).get("full_path", "")
    return full_path == namespace or full_path.startswith(namespace.rstrip("/") + "/")


@dataclass
class ModelRef:
    repo: str
    search_namespace: str = "amlmodels"
    project_path: Optional[str] = None
    branch: Optional[str] = None
    tag: Optional[str] = None
    readme_path: str = "README.md"


class ModelResolver:
    """What the pipeline's prepare/get_gitlab_project/get_*_commit/fetch_readme do, as one service."""

    def __init__(self, client: GitLabClient) -> None:
        self.client = client

    def find_project(self, ref: ModelRef) -> Dict[str, Any]:
        if ref.project_path:
            project = self.client.call("reading project {0} (project_path)".format(ref.project_path),
                                       self.client.gl.projects.get, ref.project_path)
            return project.attributes
        # As the pipeline, but over every page, and kept to the namespace itself or below it.
        listing = self.client.call(
            "searching projects in {0}".format(ref.search_namespace), self.client.gl.projects.list,
            search=ref.search_namespace, search_namespaces=True, per_page=100, get_all=True, order_by="id", sort="asc",
        )
        matches = [p.attributes for p in listing if p.attributes.get("name") == ref.repo and _in_namespace(p.attributes, ref.search_namespace)]
        if not matches:
            raise GitLabError(
                "No project named {0!r} in GitLab namespace {1!r} or its subgroups ({2} projects searched at {3}); "
                "check repo, or pass search_namespace or project_path".format(ref.repo, ref.search_namespace, len(listing), self.client.url))
        if len(matches) > 1:
            paths = sorted(p["path_with_namespace"] for p in matches)
            raise GitLabError(
                "{0} projects are named {1!r} under {2!r}: {3}; pass project_path to choose one".format(
                    len(matches), ref.repo, ref.search_namespace, ", ".join(paths)), candidates=paths)
        return matches[0]

    def resolve(self, ref: ModelRef) -> Dict[str, Any]:
        if ref.branch and ref.tag:
            raise GitLabError("branch={0!r} and tag={1!r} are mutually exclusive; give one of them, or neither for the "
                              "default branch".format(ref.branch, ref.tag))
        project = self.find_project(ref)
        path = project["path_with_namespace"]
        handle = self.client.gl.projects.get(project["id"], lazy=True)
        if ref.tag:
            tag = self.client.call("reading tag {0!r} of {1}".format(ref.tag, path), handle.tags.get, ref.tag)
            commit_id, branch, revision = tag.attributes["commit"]["id"], "", ref.tag
        else:
            branch = ref.branch or project.get("default_branch") or ""
            if not branch:
                raise GitLabError("Project {0} has no default branch (is it empty?); pass branch or tag".format(path))
            found = self.client.call("reading branch {0!r} of {1}".format(branch, path), handle.branches.get, branch)
            commit_id = found.attributes["commit"]["id"]
            revision = commit_id
        where = "{0} of {1} at {2} ({3})".format(ref.readme_path, path, ref.tag or branch, commit_id[:12])
        try:
            raw = self.client.call("reading " + where, handle.files.raw, file_path=ref.readme_path, ref=commit_id)
        except GitLabError as err:
            if err.details.get("status") != 404:
                raise
            raise ModelCardError("{0} does not exist; the model repository needs a README.md whose front matter "
                                 "sets pipeline_tag and library_name (or pass readme_path)".format(where))
        card = parse_model_card(raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw), where)

        result: Dict[str, Any] = {
            "repo": project["name"],
            "project_id": project["id"],
            "project_path": path,
            "web_url": project.get("web_url", ""),
            "default_branch": project.get("default_branch") or "",
            "branch": branch,
            "tag": ref.tag or "",
            "commit_id": commit_id,
            "revision": revision,
        }
        result.update(split_namespace(project["namespace"]["full_path"]))
        result.update(card)
        return result
