# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The GitLab backend (python-gitlab): connect, find the model project, resolve the ref, read the README.

Every python-gitlab and requests error is turned into a GitLabError here, with a message that
names the fix and never the token.
"""

from __future__ import annotations

import os
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


class GitLabClient:
    """One python-gitlab session per module run; every call goes through ``_call``."""

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
        verify = options.ca_path if options.ca_path else options.validate_certs
        self.gl = gitlab.Gitlab(
            self.url, private_token=options.api_token, ssl_verify=verify, timeout=options.timeout,
            retry_transient_errors=options.retries > 0, user_agent="aml.kserve",
        )

    def call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one python-gitlab call with bounded retries; turn its failures into GitLabError."""
        kwargs["max_retries"] = self.options.retries
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
        if code in (429, 500, 502, 503, 504):
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
            project = self.client.call("reading project {0}".format(ref.project_path),
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
