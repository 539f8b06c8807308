"""Bad role variables through playbooks/deploy.yml: each a clear error naming the variable and the reason, zero writes
(audit log), and the GitLab token (and its base64 form, as the Secret holds it) nowhere in the complete -vvvv output of
the default callback. Injection attempts in the description land verbatim; in labels they are refused, and a lookup
in them never runs.

Runs are batched where the role reports every problem at once: argument-spec validation (all errors of
meta/argument_specs.yml), the preflight (every cross-field rule) and the render module (every option). A batch only
holds cases of one layer and of distinct variables, and each case checks its own line of the message. Every option of
the role's argument spec has at least one case (test_every_role_option_has_a_bad_input_case).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client
import pytest
import yaml

from tests.harness.ansible import REPO_ROOT
from tests.harness.gitlab_emulator import GitLabEmulator
from tests.harness.kube import writes
from tests.integration.roles_support import Stage, create_runtime, prepare_namespace

pytestmark = pytest.mark.slow

REPO = "badin-model"
BROKEN_REPO = "badin-broken-card"
BROKEN_README = "---\npipeline_tag: [text-generation\nlibrary_name: transformers\n---\n# A model card with a broken front matter\n"
SIMULATOR_AGENT = "aml-kserve-simulator"
MISSING = object()  # a variable left out of the run
ARGUMENT_SPECS = REPO_ROOT / "roles" / "isvc" / "meta" / "argument_specs.yml"
# Files that a lookup in a label would create if it ever ran (unique to this session).
LOOKUP_PROOF = "/tmp/aml-kserve-badin-lookup-" + secrets.token_hex(4)
# Passed in a vars file (-e @file), never in -e JSON: at -vvv the default callback prints ansible-playbook's options,
# the -e JSON text included ("extra_vars: ('{...}',)"), which no role can hide; a vars file shows only its path.
SECRET_VARS = frozenset({"isvc_gitlab_token"})


class Unsafe(str):
    """A value written into the vars file tagged !unsafe: data, never a template (what a user does with input)."""


class _VarsDumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
    """Writes Unsafe values (keys included) as !unsafe scalars."""


_VarsDumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value), style='"'))


def _holds_unsafe(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_unsafe(k) or _holds_unsafe(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_unsafe(v) for v in value)
    return isinstance(value, Unsafe)


def _lookup(name: str) -> Unsafe:
    """A Jinja lookup that, run, would leave LOOKUP_PROOF-<name> behind."""
    return Unsafe("{{ lookup('pipe','touch " + LOOKUP_PROOF + "-" + name + "') }}")


# Layers, in the order the role checks them: a batch holds cases of one layer.
ARGSPEC, PREFLIGHT, RENDER, RESOLVE, APPLY = "argspec", "preflight", "render", "resolve", "apply"
BEFORE_ANY_REQUEST = (ARGSPEC, PREFLIGHT, RENDER)  # rendering options are checked in preflight


@dataclass(frozen=True)
class Case:
    id: str
    variable: str                 # the role variable at fault
    vars: dict[str, Any]          # what the run sets (MISSING: left out)
    pattern: str                  # must match ONE line of the message: names the variable (or option) and the reason
    layer: str
    batch: str = ""               # "" = a run of its own
    names: tuple[str, ...] = ()   # names accepted for the variable; default: isvc_<x> or the bare option <x>
    marks: tuple[Any, ...] = field(default=())
    never_created: tuple[str, ...] = ()  # files a template in the input would have created, had it run

    def accepted_names(self) -> tuple[str, ...]:
        return self.names or (self.variable, self.variable[len("isvc_"):])


def _c(id_: str, variable: str, value: Any, pattern: str, layer: str, batch: str = "", **extra: Any) -> Case:
    more = extra.pop("more", {})
    return Case(id_, variable, dict({variable: value}, **more), pattern, layer, batch, **extra)


# GitLab given as role variables (resolved to the emulator's URL and token at run time): no ConfigMap/Secret read.
GITLAB_VARS = {"isvc_gitlab_url": "<gitlab>", "isvc_gitlab_token": "<token>"}

CASES = [
    # -- argument spec (meta/argument_specs.yml): one run, every error listed -----------------------------------
    _c("isvc_min_replicas=abc", "isvc_min_replicas", "abc",
       r"'isvc_min_replicas' is of type str and we were unable to convert to int: .*'abc'.* cannot be converted to an int",
       ARGSPEC, "argspec"),
    _c("isvc_max_replicas=many", "isvc_max_replicas", "many",
       r"'isvc_max_replicas' is of type str and we were unable to convert to int: .*'many'", ARGSPEC, "argspec"),
    _c("isvc_update_if_exists=maybe", "isvc_update_if_exists", "maybe",
       r"'isvc_update_if_exists' .*unable to convert to bool: The value 'maybe' is not a valid boolean", ARGSPEC, "argspec"),
    _c("isvc_wait_timeout=soon", "isvc_wait_timeout", "soon",
       r"'isvc_wait_timeout' .*unable to convert to int: .*'soon'.* cannot be converted to an int", ARGSPEC, "argspec"),
    _c("isvc_wait=perhaps", "isvc_wait", "perhaps",
       r"'isvc_wait' .*unable to convert to bool: The value 'perhaps' is not a valid boolean", ARGSPEC, "argspec"),
    _c("isvc_wait_settle_seconds=soon", "isvc_wait_settle_seconds", "soon",
       r"'isvc_wait_settle_seconds' .*unable to convert to float", ARGSPEC, "argspec"),
    _c("isvc_wait_trust_observed_generation=perhaps", "isvc_wait_trust_observed_generation", "perhaps",
       r"'isvc_wait_trust_observed_generation' .*unable to convert to bool", ARGSPEC, "argspec"),
    _c("isvc_host_ipc=sometimes", "isvc_host_ipc", "sometimes",
       r"'isvc_host_ipc' .*unable to convert to bool: The value 'sometimes'", ARGSPEC, "argspec"),
    _c("isvc_force_conflicts=x", "isvc_force_conflicts", "x",
       r"'isvc_force_conflicts' .*unable to convert to bool: The value 'x'", ARGSPEC, "argspec"),
    _c("isvc_state=gone", "isvc_state", "gone",
       r"value of isvc_state must be one of: present, absent, got: gone", ARGSPEC, "argspec"),
    _c("isvc_deployment_mode=Fast", "isvc_deployment_mode", "Fast",
       r"value of isvc_deployment_mode must be one of: auto, RawDeployment, Serverless, Standard, Knative, got: Fast",
       ARGSPEC, "argspec"),
    _c("isvc_protocol_version=v3", "isvc_protocol_version", "v3",
       r"value of isvc_protocol_version must be one of: v1, v2, grpc-v1, grpc-v2, got: v3", ARGSPEC, "argspec"),
    _c("isvc_labels=list", "isvc_labels", ["team=a"],
       r"'isvc_labels' is of type list and we were unable to convert to dict", ARGSPEC, "argspec"),
    _c("isvc_annotations=list", "isvc_annotations", ["a"],
       r"'isvc_annotations' is of type list and we were unable to convert to dict", ARGSPEC, "argspec"),
    _c("isvc_name=missing", "isvc_name", MISSING, r"missing required arguments: .*\bisvc_name\b", ARGSPEC, "argspec"),
    _c("isvc_gitlab_validate_certs=perhaps", "isvc_gitlab_validate_certs", "perhaps",
       r"'isvc_gitlab_validate_certs' .*unable to convert to bool: The value 'perhaps' is not a valid boolean", ARGSPEC,
       "argspec"),
    _c("isvc_manage_pod_security=ask", "isvc_manage_pod_security", "ask",
       r"'isvc_manage_pod_security' .*unable to convert to bool: The value 'ask'", ARGSPEC, "argspec"),
    _c("isvc_render_only=2", "isvc_render_only", 2,
       r"'isvc_render_only' .*unable to convert to bool: The value '2'", ARGSPEC, "argspec"),

    # -- preflight (tasks/preflight.yml): cross-field rules, all at once -----------------------------------------
    _c("isvc_min_replicas=-1", "isvc_min_replicas", -1, r"isvc_min_replicas \(-1\) must be 0 or more", PREFLIGHT, "preflight-1"),
    _c("isvc_max_replicas=0", "isvc_max_replicas", 0, r"isvc_max_replicas \(0\) must be 1 or more", PREFLIGHT, "preflight-1"),
    _c("isvc_wait_timeout=0", "isvc_wait_timeout", 0, r"isvc_wait_timeout \(0\) must be at least 1 second", PREFLIGHT,
       "preflight-1"),
    _c("isvc_nvidia_gpu=1+HAMi", "isvc_nvidia_gpu", "1",
       r"isvc_nvidia_gpu \(NVIDIA device plugin\) cannot be combined with the HAMi values .*\(1, 50, 4096\)", PREFLIGHT,
       "preflight-1"),
    _c("isvc_model_repo=empty", "isvc_model_repo", "", r"isvc_model_repo must not be empty", PREFLIGHT, "preflight-1"),
    _c("isvc_ready_when=malformed", "isvc_ready_when", "isvc.status.[conditions",
       r"isvc_ready_when is not a valid JMESPath expression \('isvc\.status\.\[conditions'\): ", PREFLIGHT, "preflight-1"),
    _c("isvc_runtime_class=empty", "isvc_runtime_class", "", r"isvc_runtime_name or isvc_runtime_class must be set",
       PREFLIGHT, "preflight-1", more={"isvc_runtime_name": ""}),
    _c("isvc_model_repo_branch+tag", "isvc_model_repo_branch", "main",
       r"isvc_model_repo_branch \(main\) and isvc_model_repo_tag \(v1\.0\) cannot both be set", PREFLIGHT, "preflight-1",
       more={"isvc_model_repo_tag": "v1.0"}),
    _c("isvc_min_replicas>isvc_max_replicas", "isvc_max_replicas", 2,
       r"isvc_max_replicas \(2\) must not be less than isvc_min_replicas \(3\)", PREFLIGHT, "preflight-2",
       more={"isvc_min_replicas": 3}),
    _c("isvc_wait_timeout=-5", "isvc_wait_timeout", -5, r"isvc_wait_timeout \(-5\) must be at least 1 second", PREFLIGHT,
       "preflight-2"),
    _c("isvc_fail_when=malformed", "isvc_fail_when", "deployments[?",
       r"isvc_fail_when is not a valid JMESPath expression \('deployments\[\?'\): ", PREFLIGHT, "preflight-2"),
    _c("isvc_wait_settle_seconds=-1", "isvc_wait_settle_seconds", -1,
       r"isvc_wait_settle_seconds \(-1\) must not be negative", PREFLIGHT, "preflight-2"),

    # -- render (aml.kserve.inference_service): every option at once, after the GitLab and runtime look-ups ------
    _c("isvc_cpu_request=4 GB", "isvc_cpu_request", "4 GB", r"cpu_request='4 GB' is not a Kubernetes quantity", RENDER,
       "render-1"),
    _c("isvc_memory_request=-1Gi", "isvc_memory_request", "-1Gi", r"memory_request='-1Gi' is not a Kubernetes quantity",
       RENDER, "render-1"),
    _c("isvc_nvidia_gpucores=0", "isvc_nvidia_gpucores", "0", r"nvidia_gpucores='0' must be between 1 and 100", RENDER,
       "render-1"),
    _c("isvc_nvidia_gpumem=-1", "isvc_nvidia_gpumem", "-1", r"nvidia_gpumem='-1' must be a whole number", RENDER, "render-1"),
    _c("isvc_nvidia_gpualloc=x", "isvc_nvidia_gpualloc", "x", r"nvidia_gpualloc='x' must be a whole number", RENDER,
       "render-1"),
    _c("isvc_pvc_name=Bad_PVC", "isvc_pvc_name", "Bad_PVC", r"pvc_name='Bad_PVC' must consist of lower case letters", RENDER,
       "render-1"),
    _c("isvc_progress_deadline=40 minutes", "isvc_progress_deadline", "40 minutes",
       r"progress_deadline='40 minutes' is not a duration", RENDER, "render-1"),
    _c("isvc_labels=bad-key", "isvc_labels", {"bad key!": "v"}, r"labels key='bad key!' name part 'bad key!' must be",
       RENDER, "render-1"),
    _c("isvc_annotations=override-description", "isvc_annotations", {"cpaas.io/description": "x"},
       r"annotations key='cpaas\.io/description' is rendered by this module and cannot be overridden", RENDER, "render-1"),
    _c("isvc_name=uppercase", "isvc_name", "Qwen-Chat",
       r"name='Qwen-Chat' must consist of lower case letters, digits and '-', start with a letter", RENDER, "render-1"),
    _c("isvc_description=NUL", "isvc_description", "before\x00after",
       r"description contains control characters \(such as NUL\)", RENDER, "render-1"),

    _c("isvc_nvidia_gpucores=101", "isvc_nvidia_gpucores", "101", r"nvidia_gpucores='101' must be between 1 and 100", RENDER,
       "render-2"),
    _c("isvc_cpu_request>isvc_cpu_limit", "isvc_cpu_request", "8",
       r"cpu_request='8' is more than cpu_limit='4'; a request must not exceed its limit", RENDER, "render-2"),
    _c("isvc_ephemeral_storage_size=lots", "isvc_ephemeral_storage_size", "lots",
       r"ephemeral_storage_size='lots' is not a Kubernetes quantity", RENDER, "render-2"),
    _c("isvc_labels=value-injection", "isvc_labels", {"team": "a\nspec:\n  predictor: {}"},
       r"labels\['team'\]='a\\nspec:.* may hold only letters, digits", RENDER, "render-2"),
    _c("isvc_annotations=non-string", "isvc_annotations", {"team": 1}, r"annotations\['team'\]=1 must be a string", RENDER,
       "render-2"),
    _c("isvc_name=dots", "isvc_name", "qwen.chat", r"name='qwen\.chat' must consist of lower case letters", RENDER, "render-2"),
    _c("isvc_description=4KB", "isvc_description", "x" * 4096,
       r"description='x{40}\.\.\.' is 4096 characters long; at most 2048 are allowed", RENDER, "render-2"),
    _c("isvc_memory_limit=16 GiB", "isvc_memory_limit", "16 GiB", r"memory_limit='16 GiB' is not a Kubernetes quantity",
       RENDER, "render-2"),

    _c("isvc_nvidia_gpucores=5.5", "isvc_nvidia_gpucores", "5.5", r"nvidia_gpucores='5\.5' must be a whole number", RENDER,
       "render-3"),
    _c("isvc_name=64-chars", "isvc_name", "a" * 64, r"name='a{64}' is too long \(64 characters\)", RENDER, "render-3"),
    _c("isvc_labels=bad-value", "isvc_labels", {"tier": "bad value!"},
       r"labels\['tier'\]='bad value!' may hold only letters", RENDER, "render-3"),
    _c("isvc_annotations=override-deploymentMode", "isvc_annotations", {"serving.kserve.io/deploymentMode": "Serverless"},
       r"annotations key='serving\.kserve\.io/deploymentMode' is rendered by this module", RENDER, "render-3"),
    _c("isvc_cpu_limit=four", "isvc_cpu_limit", "four", r"cpu_limit='four' is not a Kubernetes quantity", RENDER, "render-3"),
    _c("isvc_memory_request>isvc_memory_limit", "isvc_memory_request", "32Gi",
       r"memory_request='32Gi' is more than memory_limit='16Gi'", RENDER, "render-3"),

    _c("isvc_name=54-chars", "isvc_name", "b" * 54, r"name='b{54}' is too long \(54 characters\).* at most 53", RENDER,
       "render-4"),
    _c("isvc_nvidia_gpu=0", "isvc_nvidia_gpu", "0", r"nvidia_gpu='0' must be at least 1", RENDER, "render-4",
       more={"isvc_nvidia_gpualloc": "", "isvc_nvidia_gpucores": "", "isvc_nvidia_gpumem": ""}),
    _c("isvc_labels=override-rendered", "isvc_labels", {"aml-model-repo": "other"},
       r"labels key='aml-model-repo' is rendered by this module and cannot be overridden", RENDER, "render-4"),
    _c("isvc_annotations=key-injection", "isvc_annotations", {"a\nspec": "x"}, r"annotations key='a\\nspec' name part",
       RENDER, "render-4"),
    # With GitLab given as variables the pipeline ConfigMap is not read, and the renderer names the namespace.
    _c("isvc_namespace=Team_A(gitlab-vars)", "isvc_namespace", "Team_A",
       r"namespace='Team_A' must consist of lower case letters", RENDER, "render-4", more=GITLAB_VARS),

    # Injection attempts in labels, given as data (-e @file, !unsafe for the templates): label keys and values have a
    # strict grammar, so each is refused naming isvc_labels; a lookup in them never runs.
    _c("isvc_labels=value-lookup", "isvc_labels", {"team": _lookup("value")},
       r"labels\['team'\]=\"\{\{ lookup\('pipe','touch \S+-value'\) \}\}\" (may hold only|must be at most 63)", RENDER,
       "render-5", never_created=(LOOKUP_PROOF + "-value",)),
    # KServe's storageUri takes a scheme it knows (hf://, s3://, gs://, pvc://, oci://, https://, ...): a bare path is
    # not a URI the storage initializer can fetch.
    _c("isvc_storage_uri=no-scheme", "isvc_storage_uri", "models/qwen",
       r"storage_uri='models/qwen' (is not|must|has no)", RENDER, "render-5"),
    # a choice (all, command_env, none) or a boolean: the renderer checks it, naming the choices
    _c("isvc_inherit_runtime_container=often", "isvc_inherit_runtime_container", "often",
       r"inherit_runtime_container='often' is not one of all, command_env, none; .*true means all and false none",
       RENDER, "render-5"),
    _c("isvc_labels=key-lookup", "isvc_labels", {_lookup("key"): "v"},
       r"labels key=\"\{\{ lookup\('pipe','touch \S+-key'\) \}\}\" (prefix|name part)", RENDER, "render-6",
       never_created=(LOOKUP_PROOF + "-key",)),
    _c("isvc_labels=value-NUL", "isvc_labels", {"team": "a\x00b"}, r"labels\['team'\]='a\\x00b' may hold only letters",
       RENDER, "render-7"),
    _c("isvc_labels=key-NUL", "isvc_labels", {"a\x00b": "v"}, r"labels key='a\\x00b' name part 'a\\x00b' must be",
       RENDER, "render-8"),
    _c("isvc_labels=value-4KB", "isvc_labels", {"team": "x" * 4096},
       r"labels\['team'\]='x{4096}' must be at most 63 characters \(it has 4096\)", RENDER, "render-9"),
    _c("isvc_labels=key-4KB", "isvc_labels", {"k" * 4096: "v"}, r"labels key='k{4096}' name part 'k{4096}' must be 1-63",
       RENDER, "render-10"),
    _c("isvc_labels=key-injection", "isvc_labels", {"a\nspec": "x"}, r"labels key='a\\nspec' name part", RENDER,
       "render-11"),

    # -- single runs ----------------------------------------------------------------------------------------------
    _c("isvc_namespace=Team_A(pipeline-configmap)", "isvc_namespace", "Team_A",
       r"(isvc_namespace|namespace)\W.*Team_A.*must consist of lower case", RESOLVE),
    _c("isvc_namespace=64-chars", "isvc_namespace", "n" * 64, r"namespace='n{64}' must be at most 63 characters", RENDER,
       more=GITLAB_VARS),
    _c("isvc_gitlab_url=ftp", "isvc_gitlab_url", "ftp://gitlab.example.com",
       r"api_url='ftp://gitlab\.example\.com' must start with https://", RESOLVE,
       names=("isvc_gitlab_url", "gitlab_url", "api_url"), more={"isvc_gitlab_token": "<token>"}),
    _c("isvc_model_repo=malformed-README", "isvc_model_repo", BROKEN_REPO,
       r"The front matter of README\.md of \S+/badin-broken-card at main \([0-9a-f]{12}\) is not valid YAML: "
       r".*expected ',' or '\]', but got ':'", RESOLVE, names=("README.md",)),
    _c("isvc_field_manager=empty", "isvc_field_manager", "", r"(isvc_)?field_manager\W.*(must not be empty|required)", PREFLIGHT),
    # A token of two lines (a copy-paste accident): refused before any request to GitLab, the token never shown.
    _c("isvc_gitlab_token=two-lines", "isvc_gitlab_token", "<token>\nsecond-line",
       r"api_token contains whitespace or a line break", RESOLVE, names=("isvc_gitlab_token", "api_token"),
       more={"isvc_gitlab_url": "<gitlab>"}),
    _c("isvc_gitlab_ca_path=missing-file", "isvc_gitlab_ca_path", "/nonexistent/badin-ca.pem",
       r"ca_path='/nonexistent/badin-ca\.pem' is not a file", RESOLVE, names=("isvc_gitlab_ca_path", "ca_path")),
    _c("isvc_model_search_namespace=unknown", "isvc_model_search_namespace", "badin-no-such-group",
       r"No project named 'badin-model' in GitLab namespace 'badin-no-such-group'.*search_namespace", RESOLVE,
       names=("isvc_model_search_namespace", "search_namespace")),
    _c("isvc_model_project_path=unknown", "isvc_model_project_path", "badin-no-such-group/team/badin-model",
       r"404.*badin-no-such-group/team/badin-model", RESOLVE, names=("isvc_model_project_path", "project_path")),
    _c("isvc_model_repo_tag=unknown", "isvc_model_repo_tag", "v9.9.9", r"404.*reading tag 'v9\.9\.9' of \S+/badin-model",
       RESOLVE, names=("isvc_model_repo_tag", "tag 'v9.9.9'")),
    _c("isvc_runtime_name=unknown", "isvc_runtime_name", "zz-badin-no-such-runtime",
       r"ClusterServingRuntime 'zz-badin-no-such-runtime' not found; check name", RESOLVE,
       names=("isvc_runtime_name", "check name")),
    # Render-only with a directory that cannot exist (below a device): nothing in the cluster, nothing on disk.
    _c("isvc_kubernetes=list", "isvc_kubernetes", ["kubeconfig"],
       r"'isvc_kubernetes' is of type list and we were unable to convert to dict", ARGSPEC, "argspec"),
    _c("isvc_kubernetes=unknown-key", "isvc_kubernetes", {"kube_config": "/x"},
       r"isvc_kubernetes has unknown keys \(kube_config\); it takes kubernetes.core's connection options", PREFLIGHT),
    _c("isvc_render_dir=under-a-device", "isvc_render_dir", "/dev/null/manifests",
       r"(isvc_)?render_dir\W.*/dev/null/manifests", APPLY, more={"isvc_render_only": True}),
]


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage(kube: Any, gitlab: GitLabEmulator, simulator: Any) -> Stage:
    """A namespace of this file's own, a model and a broken model card under a GitLab group of its own, and a
    runtime of a class of its own (other files' searches and runtime choices never see them)."""
    suffix = secrets.token_hex(3)
    namespace = "t-bad-inputs-" + suffix
    kubernetes.client.CoreV1Api(kube.api_client()).create_namespace({"metadata": {"name": namespace}})
    group = "badin-" + suffix
    gitlab.create_project(f"{group}/team/{REPO}", files={"README.md": GitLabEmulator.model_readme()})
    gitlab.create_project(f"{group}/team/{BROKEN_REPO}", files={"README.md": BROKEN_README})
    runtime_class = "badin-vllm-" + suffix
    create_runtime(kube, "zz-badin-vllm-" + suffix, ["transformers"], runtime_class=runtime_class)
    staged = prepare_namespace(kube, gitlab, namespace, model_ns=f"{group}/team", repo=REPO)
    staged.group, staged.runtime_class = group, runtime_class  # type: ignore[attr-defined]
    return staged


def base_vars(stage: Stage, **extra: Any) -> dict[str, Any]:
    return stage.vars(isvc_model_search_namespace=stage.group, isvc_runtime_class=stage.runtime_class,  # type: ignore[attr-defined]
                      **extra)


@dataclass
class Outcome:
    rc: int
    message: str
    output: str
    requests: list[dict[str, Any]]      # aml-admin's requests to the apiserver during the run (simulator excluded)
    gitlab_requests: int


class Runner:
    """Runs a case, or its whole batch once, and keeps the outcome. Every run is at -vvvv with the default callback,
    as a user debugging a failure would run it; the token and the templates go in a vars file (SECRET_VARS)."""

    def __init__(self, stage: Stage, tmp_dir: Any) -> None:
        self.stage = stage
        self.tmp_dir = tmp_dir
        self.outcomes: dict[str, Outcome] = {}

    def outcome(self, case: Case) -> Outcome:
        key = case.batch or case.id
        if key not in self.outcomes:
            members = [c for c in CASES if c.batch == case.batch] if case.batch else [case]
            self.outcomes[key] = self._run(key, members)
        return self.outcomes[key]

    def _value(self, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Unsafe):
            return value.replace("<gitlab>", self.stage.gitlab.url).replace("<token>", self.stage.token)
        return value

    def _run(self, key: str, members: list[Case]) -> Outcome:
        stage = self.stage
        values = base_vars(stage)
        for member in members:
            overlap = set(member.vars) & {k for m in members if m is not member for k in m.vars}
            assert not overlap - {"isvc_gitlab_url", "isvc_gitlab_token"}, f"batch shares {overlap}: {member.id}"
            for name, value in member.vars.items():
                if value is MISSING:
                    values.pop(name, None)
                else:
                    values[name] = self._value(value)
        in_file = {k: v for k, v in values.items() if k in SECRET_VARS or _holds_unsafe(v)}
        extra_args = []
        if in_file:
            vars_file = self.tmp_dir / (re.sub(r"[^\w.-]", "_", key) + ".yml")
            vars_file.write_text(yaml.dump(in_file, Dumper=_VarsDumper, width=100000))
            extra_args = ["-e", "@" + str(vars_file)]
        mark = stage.kube.audit_mark()
        stage.gitlab.reset_counters()
        run = stage.deploy(extra_vars={k: v for k, v in values.items() if k not in in_file}, extra_args=extra_args,
                           callback="default", verbosity=4)
        requests = [e for e in stage.kube.audit_events_since(mark)
                    if e.get("user", {}).get("username") == "aml-admin" and not e.get("userAgent", "").startswith(SIMULATOR_AGENT)]
        return Outcome(run.rc, first_failure(run.output), run.output, requests, stage.gitlab.request_count())


def first_failure(output: str) -> str:
    """The ``msg`` of the failed task that ended the run, in the default callback's output
    (``fatal: [host]: FAILED! => {...}``): the last one, since a rescued failure is printed too."""
    marker = "FAILED! => "
    start = output.rfind(marker)
    if start < 0:
        return ""
    result, _end = json.JSONDecoder().raw_decode(output[start + len(marker):])
    return str(result.get("msg", ""))


@pytest.fixture(scope="module")
def runner(stage: Stage, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(stage, tmp_path_factory.mktemp("bad-inputs-vars"))


# -- the cases ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_is_refused_naming_the_variable(runner: Runner, stage: Stage, case: Case):
    outcome = runner.outcome(case)
    assert outcome.rc != 0, outcome.output[-4000:]
    # nothing written; before any request at all for the argument spec and the preflight
    assert writes(outcome.requests, "aml-admin") == [], [
        (e["verb"], e["objectRef"].get("resource"), e.get("responseStatus", {}).get("code")) for e in writes(outcome.requests)]
    if case.layer in BEFORE_ANY_REQUEST:
        assert outcome.requests == [] and outcome.gitlab_requests == 0
    # the token, as given or as the Secret holds it, nowhere in the complete -vvvv output
    assert stage.token not in outcome.output
    assert base64.b64encode(stage.token.encode()).decode() not in outcome.output
    for path in case.never_created:  # a template given as data was never evaluated
        assert not os.path.exists(path), f"{path} exists: a lookup in {case.variable} ran"
    message = outcome.message
    assert message, outcome.output[-4000:]
    # the variable (or the module's option) and the reason, on one line of the message
    assert any(name in message for name in case.accepted_names()), message
    assert re.search(case.pattern, message), f"{case.pattern!r} not in:\n{message}"


def test_every_role_option_has_a_bad_input_case():
    """Each option of the role's argument spec is at fault in at least one case: an option added without one fails
    here. No case names a variable the role does not have."""
    options = set(yaml.safe_load(ARGUMENT_SPECS.read_text(encoding="utf-8"))["argument_specs"]["main"]["options"])
    at_fault = {c.variable for c in CASES}
    assert sorted(options - at_fault) == [], "role options without a bad-input case"
    assert sorted(at_fault - options) == [], "cases for variables the role does not have"
    assert len({c.id for c in CASES}) == len(CASES) >= 40


def test_batches_report_every_case_at_once(runner: Runner):
    """A batch is only sound when its layer lists every problem: as many problems as cases (or more)."""
    for batch in sorted({c.batch for c in CASES if c.batch.startswith(("preflight", "render"))}):
        members = [c for c in CASES if c.batch == batch]
        message = runner.outcome(members[0]).message
        counted = re.search(r"\((\d+)( problems?)?\)", message)
        assert counted and int(counted.group(1)) >= len(members), (batch, message)


# -- injection attempts that must land verbatim -------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(stage: Stage) -> tuple[dict[str, Any], dict[str, Any]]:
    """A service deployed with a plain description: what the injection tests compare against."""
    values = base_vars(stage, isvc_description="plain baseline")
    run = stage.deploy(extra_vars=values)
    assert run.rc == 0, run.output[-4000:]
    return values, stage.isvc(values["isvc_name"])


def assert_only_the_description_changed(before: dict[str, Any], after: dict[str, Any], description: str) -> None:
    assert after["metadata"]["annotations"]["cpaas.io/description"] == description
    assert {k: v for k, v in after["metadata"]["annotations"].items() if k != "cpaas.io/description"} == \
        {k: v for k, v in before["metadata"]["annotations"].items() if k != "cpaas.io/description"}
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # the spec was not touched


def isvc_writes(stage: Stage, mark: int) -> list[tuple[str, str]]:
    return [(e["verb"], e["objectRef"].get("resource", "")) for e in writes(stage.kube.audit_events_since(mark), "aml-admin")
            if not e.get("userAgent", "").startswith(SIMULATOR_AGENT)]


def test_yaml_injection_in_description_lands_verbatim(stage: Stage, deployed):
    values, before = deployed
    text = ("first line\nspec:\n  predictor:\n    minReplicas: 99\n---\napiVersion: v1\nkind: Secret\n"
            "metadata: {name: pwned}\n\"double\" 'single' # not a comment\n\ttabbed: true\n...\n")
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars=dict(values, isvc_description=text))
    assert run.rc == 0, run.output[-4000:]
    assert_only_the_description_changed(before, stage.isvc(values["isvc_name"]), text)
    assert isvc_writes(stage, mark) == [("patch", "inferenceservices")]  # one apply, nothing else (no Secret)
    assert stage.token not in run.output


def test_unsafe_lookup_in_description_lands_verbatim_and_never_runs(stage: Stage, deployed, tmp_path):
    values, before = deployed
    text = "{{ lookup('pipe','id') }} {% for x in [1] %}{{ x }}{% endfor %} $(id) `id`"
    vars_file = tmp_path / "description.yml"
    vars_file.write_text("isvc_description: !unsafe " + json.dumps(text) + "\n")
    mark = stage.kube.audit_mark()
    run = stage.deploy(extra_vars={k: v for k, v in values.items() if k != "isvc_description"},
                       extra_args=["-e", "@" + str(vars_file)])
    assert run.rc == 0, run.output[-4000:]
    after = stage.isvc(values["isvc_name"])
    assert_only_the_description_changed(before, after, text)
    assert "uid=" not in run.output and "uid=" not in json.dumps(after)
    assert isvc_writes(stage, mark) == [("patch", "inferenceservices")]
    assert stage.token not in run.output
