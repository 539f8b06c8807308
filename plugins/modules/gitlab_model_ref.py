#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gitlab_model_ref
short_description: Resolve a model repository in GitLab to a commit and its model card metadata
version_added: 0.1.0
description:
  - Finds the model project by name under a GitLab namespace, resolves a branch, a tag or the default branch to a
    commit, and reads C(pipeline_tag) and C(library_name) from the README's YAML front matter.
  - What the C(deploy-inference-service) pipeline's C(get_gitlab_project), C(get_gitlab_branch_commit_id),
    C(get_gitlab_tag) and C(fetch_readme) do, with these fixes. The search reads every page (the pipeline read only
    the first 20 projects). Only projects in O(search_namespace) or its subgroups count, and several projects of the
    same name are an error instead of a silent pick. The front matter is parsed as YAML; the pipeline's rule (the
    first line starting with C(pipeline_tag:)) is the fallback. TLS is verified.
  - Read-only; the result is meant to be passed whole as O(aml.kserve.inference_service#module:model).
author:
  - aml.kserve developers (@aml-kserve)
extends_documentation_fragment:
  - aml.kserve._attributes
  - aml.kserve._gitlab
attributes:
  action:
    support: full
    details:
      - Runs on the controller, in the task's own process, with no module process to start; GitLab must be reachable
        from the controller. The task's C(environment) keyword does not apply to E(GITLAB_URL) and E(GITLAB_TOKEN).
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
options:
  repo:
    description: Name of the model project (the pipeline's C(MODEL_REPO)), matched exactly against the project's name.
    type: str
    required: true
  search_namespace:
    description: GitLab namespace searched for O(repo), subgroups included.
    type: str
    default: amlmodels
  project_path:
    description:
      - Full path of the project, such as V(amlmodels/team-a/qwen2-7b). Skips the search; use it when several
        projects share the name.
    type: str
  branch:
    description: Branch to deploy. Mutually exclusive with O(tag). With neither, the project's default branch.
    type: str
  tag:
    description: Tag to deploy. Mutually exclusive with O(branch).
    type: str
  readme_path:
    description: Path of the model card in the repository.
    type: str
    default: README.md
notes:
  - Makes three requests to GitLab for a project found by name (search, ref, README) when the search fits in one page of
    100 projects.
requirements:
  - python-gitlab >= 4.0.0
seealso:
  - module: aml.kserve.inference_service
"""

EXAMPLES = r"""
- name: Resolve the default branch of a model
  aml.kserve.gitlab_model_ref:
    api_url: https://gitlab.example.com
    api_token: "{{ gitlab_token }}"
    repo: qwen2-7b-instruct
  register: model

- name: A tag, with a private CA, token from GITLAB_TOKEN
  aml.kserve.gitlab_model_ref:
    api_url: https://gitlab.internal
    ca_path: /etc/pki/internal-ca.pem
    repo: qwen2-7b-instruct
    tag: v1.2.0

- name: One of two projects with the same name
  aml.kserve.gitlab_model_ref:
    repo: bert-base
    project_path: amlmodels/team-a/bert-base
    branch: feature/new-weights
"""

RETURN = r"""
repo:
  description: The project's name.
  returned: success
  type: str
  sample: qwen2-7b-instruct
project_id:
  description: The project's numeric id.
  returned: success
  type: int
  sample: 42
project_path:
  description: The project's full path.
  returned: success
  type: str
  sample: amlmodels/team-a/qwen2-7b-instruct
web_url:
  description: The project's page.
  returned: success
  type: str
  sample: https://gitlab.example.com/amlmodels/team-a/qwen2-7b-instruct
group:
  description: First segment of the project's namespace path.
  returned: success
  type: str
  sample: amlmodels
subgroup:
  description: The rest of the namespace path, joined by C(/); empty when the project sits in the group itself.
  returned: success
  type: str
  sample: team-a
default_branch:
  description: The project's default branch.
  returned: success
  type: str
  sample: main
branch:
  description: The branch used (the default branch when neither branch nor tag was given); empty for a tag.
  returned: success
  type: str
  sample: main
tag:
  description: The tag used; empty for a branch.
  returned: success
  type: str
  sample: ""
commit_id:
  description: Full SHA of the resolved commit.
  returned: success
  type: str
  sample: 3f5a1d9c2b7e4f6a8d0c1b2e3f4a5b6c7d8e9f01
revision:
  description:
    - What the pipeline puts in C(storageUri) and the C(aml-model-repo-tag-commit) annotation; the tag name for a tag,
      the commit SHA for a branch.
  returned: success
  type: str
  sample: 3f5a1d9c2b7e4f6a8d0c1b2e3f4a5b6c7d8e9f01
pipeline_tag:
  description: The model card's C(pipeline_tag).
  returned: success
  type: str
  sample: text-generation
library_name:
  description: The model card's C(library_name), the model format a serving runtime must support.
  returned: success
  type: str
  sample: transformers
metadata:
  description: The whole front matter of the README, empty when it has none.
  returned: success
  type: dict
  sample: {pipeline_tag: text-generation, library_name: transformers, license: apache-2.0}
"""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.aml.kserve.plugins.module_utils import _gitlab
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec, run_module

SPEC = _gitlab.CONNECTION_SPEC.merge(
    ArgumentSpec(
        {
            "repo": {"type": "str", "required": True},
            "search_namespace": {"type": "str", "default": "amlmodels"},
            "project_path": {"type": "str"},
            "branch": {"type": "str"},
            "tag": {"type": "str"},
            "readme_path": {"type": "str", "default": "README.md"},
        },
        mutually_exclusive=[("branch", "tag")],
    )
)


def resolve_result(params: dict) -> dict:
    client = _gitlab.GitLabClient(_gitlab.ConnectionOptions.from_params(params))
    ref = _gitlab.ModelRef(**{key: params[key] for key in ("repo", "search_namespace", "project_path", "branch", "tag", "readme_path")})
    return dict(_gitlab.ModelResolver(client).resolve(ref), changed=False)


def resolve(module) -> dict:
    if not _gitlab.HAS_GITLAB:
        module.fail_json(msg=missing_required_lib("python-gitlab"), exception=str(_gitlab.GITLAB_IMPORT_ERROR))
    return resolve_result(module.params)


def main() -> None:
    run_module(SPEC.create_module(), resolve)


if __name__ == "__main__":
    main()
