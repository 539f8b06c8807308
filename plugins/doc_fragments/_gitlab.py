# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this doc fragment is internal to aml.kserve; it may change without notice.

from __future__ import annotations


class ModuleDocFragment:
    # The GitLab connection options, declared once in module_utils/_gitlab.py (CONNECTION_SPEC).
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of GitLab, such as V(https://gitlab.example.com) (a trailing C(/api/v4) is accepted).
      - If not set, the E(GITLAB_URL) environment variable is used.
    type: str
    required: true
  api_token:
    description:
      - A GitLab token with the C(read_api) and C(read_repository) scopes, sent as the C(PRIVATE-TOKEN) header.
      - If not set, the E(GITLAB_TOKEN) environment variable is used.
      - Never logged, returned or written into a message.
    type: str
    required: true
  validate_certs:
    description:
      - Verify GitLab's TLS certificate. Leave it on; use O(ca_path) for a private CA instead.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of the CA that signed GitLab's certificate, for a private CA.
    type: path
  timeout:
    description: Seconds to wait for each answer from GitLab.
    type: float
    default: 30
  retries:
    description:
      - How many times a request is retried after a transient failure (HTTP 429, honouring C(Retry-After); 5xx;
        connection reset or refused; timeout), with exponential backoff. V(0) disables retries.
      - The wait before one retry is what C(Retry-After) (or C(RateLimit-Reset)) asks for, but never more than
        O(timeout) nor 30 seconds; when GitLab asks for a longer wait the request is retried after that cap, and the
        task fails once the retries are used up. So a task waits at most O(retries) times that cap between tries.
    type: int
    default: 3
"""
