#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: inference_service
short_description: Render a KServe InferenceService for a model from GitLab
version_added: 0.1.0
description:
  - Renders the InferenceService that the C(deploy-inference-service) pipeline renders, field for field, from typed and
    validated options, and returns it as a dict for M(kubernetes.core.k8s) to apply.
  - Makes no request to any cluster, so it also serves GitOps users who only want the manifest.
  - Every problem in the options is reported at once, naming the option and the fix, and nothing is rendered.
  - Differs from the pipeline where the pipeline was wrong. Any string (a multi-line description, quotes, C({{ }}),
    YAML document markers) lands verbatim in its annotation and touches nothing else. A nested GitLab subgroup
    (C(team-a/nlp)) is not a valid label value, so the C(aml-model-subgroup) label holds it with C(/) encoded as C(.)
    and the raw path goes into the C(aml-model-subgroup) annotation. Values that cannot be label values fail here,
    before anything is sent. Runtime C(env) entries are copied whole, C(valueFrom) included.
  - Option names are the pipeline's parameter names, lower-cased.
author:
  - aml.kserve developers (@aml-kserve)
extends_documentation_fragment:
  - aml.kserve._attributes
attributes:
  action:
    support: full
    details: Renders on the controller, in the task's own process; nothing is sent to the managed node.
  check_mode:
    support: full
    details: Renders only; the result is the same with or without check mode.
  diff_mode:
    support: none
options:
  name:
    description:
      - Name of the InferenceService (the pipeline's C(INFERENCE_SERVICE_NAME)).
      - C(<name>-predictor) must be a valid DNS-1035 label, so at most 53 characters.
    type: str
    required: true
  namespace:
    description: Namespace of the InferenceService (the namespace the pipeline ran in).
    type: str
    required: true
  description:
    description:
      - Free text stored verbatim in the C(cpaas.io/description) annotation (C(INFERENCE_SERVICE_DESCRIPTION)).
      - At most 2048 characters; line breaks and tabs are kept, other control characters are refused.
    type: str
    default: ""
  model:
    description:
      - The registered result of M(aml.kserve.gitlab_model_ref).
      - Keys used are C(repo), C(project_id), C(group), C(subgroup), C(branch), C(revision), C(pipeline_tag) and
        C(library_name); other keys are ignored.
    type: dict
    required: true
  runtime:
    description:
      - The C(runtime) returned by M(aml.kserve.serving_runtime_info).
      - Keys used are C(name), C(runtime_class) and C(container) (C(command), C(args), C(env)).
    type: dict
    required: true
  min_replicas:
    description: Minimum replicas, 0 or more (C(MIN_REPLICAS)).
    type: int
    default: 1
  max_replicas:
    description: Maximum replicas, at least 1 and at least O(min_replicas) (C(MAX_REPLICAS)).
    type: int
    default: 1
  deployment_mode:
    description:
      - KServe deployment mode, written to the C(serving.kserve.io/deploymentMode) annotation.
      - V(auto) is the pipeline's rule, V(RawDeployment) when O(min_replicas) equals O(max_replicas), else V(Serverless).
      - V(Standard) and V(Knative) are the names KServe 0.16 and later use for the same two modes.
    type: str
    default: auto
    choices: [auto, RawDeployment, Serverless, Standard, Knative]
  cpu_request:
    description: CPU request, a Kubernetes quantity; empty means not set (C(CPU_REQUEST)).
    type: str
    default: "1"
  memory_request:
    description: Memory request; empty means not set (C(MEMORY_REQUEST)).
    type: str
    default: 4Gi
  cpu_limit:
    description: CPU limit; empty means not set. A request must not exceed its limit (C(CPU_LIMIT)).
    type: str
    default: "4"
  memory_limit:
    description: Memory limit; empty means not set (C(MEMORY_LIMIT)).
    type: str
    default: 16Gi
  nvidia_gpualloc:
    description: HAMi C(nvidia.com/gpualloc), the number of GPU cards; empty means not set (C(NVIDIA_GPUALLOC)).
    type: str
    default: "1"
  nvidia_gpucores:
    description: HAMi C(nvidia.com/gpucores), percent of each card's compute, 1 to 100; empty means not set.
    type: str
    default: "50"
  nvidia_gpumem:
    description: HAMi C(nvidia.com/gpumem), MiB of memory on each card; empty means not set.
    type: str
    default: "4096"
  nvidia_gpu:
    description:
      - C(nvidia.com/gpu) for the NVIDIA device plugin; empty means not set.
      - Cannot be combined with any of the HAMi options; set those to an empty string.
    type: str
    default: ""
  ephemeral_storage_size:
    description:
      - C(ephemeral-storage) limit when O(pvc_name) is empty; an empty value falls back to C(10Gi) as in the pipeline.
    type: str
    default: 10Gi
    aliases: [ephimeral_storage_size]
  pvc_name:
    description:
      - An existing PersistentVolumeClaim for the model files, set as the C(storage-initializer-pvc-name) annotation.
      - When set, no C(ephemeral-storage) limit is rendered.
    type: str
    default: ""
  host_ipc:
    description: Set C(hostIPC) on the predictor, as the pipeline does (vLLM and NCCL use shared memory).
    type: bool
    default: true
  protocol_version:
    description: The predictor's C(protocolVersion).
    type: str
    default: v2
    choices: [v1, v2, grpc-v1, grpc-v2]
  progress_deadline:
    description: C(serving.knative.dev/progress-deadline) annotation, a duration such as C(2400s).
    type: str
    default: 2400s
  inherit_runtime_container:
    description:
      - What to copy from the runtime's container into the predictor's model spec.
      - V(all) copies C(command), C(args) and C(env), as the pipeline does. V(command_env) copies C(command) and
        C(env) but not C(args). V(none) copies nothing.
      - V(true) and V(false) (also as text) still work and mean V(all) and V(none).
      - KServe builds the predictor container from the runtime's container, merged with the predictor's. The
        predictor's C(command) replaces the runtime's, its C(env) entries override the runtime's by name, and its
        C(args) are appended after the runtime's (C(MergeRuntimeContainers), in every KServe release). So with V(all),
        every runtime argument is passed twice. That is harmless for a flag whose last value wins, and wrong for a
        positional argument or a repeatable flag. RV(repeated_args) and a warning name those arguments.
      - V(command_env) passes the runtime's args once. The default stays V(all), the pipeline's choice, so that
        taking over a service the pipeline made does not change its spec and restart its pods.
    type: raw
    default: all
  storage_uri:
    description:
      - Override the C(storageUri); by default C(hf://<namespace>/<repo>:<revision>) as in the pipeline.
      - A URI with a scheme (C(hf://), C(s3://), C(gs://), C(pvc://), C(https://)...) and no whitespace.
    type: str
  labels:
    description: Extra labels, merged over the rendered ones. Keys and values must be valid label syntax.
    type: dict
    default: {}
  annotations:
    description: Extra annotations, merged over the rendered ones. Values must be strings.
    type: dict
    default: {}
seealso:
  - module: aml.kserve.gitlab_model_ref
  - module: aml.kserve.serving_runtime_info
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Resolve the model
  aml.kserve.gitlab_model_ref:
    repo: qwen2-7b-instruct
    tag: v1.0
  register: model

- name: Pick the runtime
  aml.kserve.serving_runtime_info:
    runtime_class: vllm
    model_format: "{{ model.library_name }}"
  register: runtime

- name: Render the InferenceService
  aml.kserve.inference_service:
    name: qwen2-chat
    namespace: team-a
    description: Qwen2 7B chat, served by vLLM
    model: "{{ model }}"
    runtime: "{{ runtime.runtime }}"
    nvidia_gpualloc: "1"
    nvidia_gpucores: "100"
    nvidia_gpumem: "24576"
  register: rendered

- name: Apply it
  kubernetes.core.k8s:
    definition: "{{ rendered.resource }}"
    apply: true
    server_side_apply:
      field_manager: aml.kserve

- name: Only the manifest, for a GitOps repository
  ansible.builtin.copy:
    content: "{{ rendered.resource | ansible.builtin.to_nice_yaml(sort_keys=false) }}"
    dest: "manifests/{{ rendered.resource.metadata.name }}.yaml"
    mode: "0644"
"""

RETURN = r"""
resource:
  description: The rendered InferenceService.
  returned: success
  type: dict
  sample:
    apiVersion: serving.kserve.io/v1beta1
    kind: InferenceService
    metadata:
      name: qwen2-chat
      namespace: team-a
      labels: {aml-model-group: amlmodels, aml-model-repo: qwen2-7b, aml-model-subgroup: "", aml-pipeline-tag: text-generation,
               aml.cpaas.io/runtime-type: vllm, service.subdomain: qwen2-chat-amlmodels}
      annotations: {serving.kserve.io/deploymentMode: RawDeployment}
    spec:
      predictor:
        minReplicas: 1
        maxReplicas: 1
        hostIPC: true
        model:
          modelFormat: {name: transformers}
          protocolVersion: v2
          storageUri: hf://team-a/qwen2-7b:v1.0
          runtime: aml-vllm
          name: kserve-container
deployment_mode:
  description: The deployment mode rendered (V(auto) resolved).
  returned: success
  type: str
  sample: RawDeployment
in_cluster_endpoint:
  description: The predictor's address inside the cluster, as the pipeline's C(IN_CLUSTER_ENDPOINT).
  returned: success
  type: str
  sample: http://qwen2-chat-predictor.team-a.svc.cluster.local
inherit_runtime_container:
  description: The O(inherit_runtime_container) choice applied (V(true) and V(false) resolved).
  returned: success
  type: str
  sample: all
repeated_args:
  description:
    - The runtime's arguments that the predictor container will get twice, because KServe appends the rendered
      C(args) to the runtime's. Flags are named without their values (V(--port) for C(--port=8080)).
    - Empty with O(inherit_runtime_container=command_env) or V(none). When not empty, a warning says so.
  returned: success
  type: list
  elements: str
  sample: ["--port", "--served-model-name"]
"""

from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec, run_module
from ansible_collections.aml.kserve.plugins.module_utils import _render

SPEC = ArgumentSpec(
    {
        "name": {"type": "str", "required": True},
        "namespace": {"type": "str", "required": True},
        "description": {"type": "str", "default": ""},
        "model": {"type": "dict", "required": True},
        "runtime": {"type": "dict", "required": True},
        "min_replicas": {"type": "int", "default": 1},
        "max_replicas": {"type": "int", "default": 1},
        "deployment_mode": {"type": "str", "default": "auto", "choices": list(_render.DEPLOYMENT_MODES)},
        "cpu_request": {"type": "str", "default": "1"},
        "memory_request": {"type": "str", "default": "4Gi"},
        "cpu_limit": {"type": "str", "default": "4"},
        "memory_limit": {"type": "str", "default": "16Gi"},
        "nvidia_gpualloc": {"type": "str", "default": "1"},
        "nvidia_gpucores": {"type": "str", "default": "50"},
        "nvidia_gpumem": {"type": "str", "default": "4096"},
        "nvidia_gpu": {"type": "str", "default": ""},
        "ephemeral_storage_size": {"type": "str", "default": "10Gi", "aliases": ["ephimeral_storage_size"]},
        "pvc_name": {"type": "str", "default": ""},
        "host_ipc": {"type": "bool", "default": True},
        "protocol_version": {"type": "str", "default": "v2", "choices": list(_render.PROTOCOL_VERSIONS)},
        "progress_deadline": {"type": "str", "default": "2400s"},
        "inherit_runtime_container": {"type": "raw", "default": _render.INHERIT_ALL},
        "storage_uri": {"type": "str"},
        "labels": {"type": "dict", "default": {}},
        "annotations": {"type": "dict", "default": {}},
    }
)


def render(module) -> dict:
    return _render.render_result(module.params)


def main() -> None:
    run_module(SPEC.create_module(), render)


if __name__ == "__main__":
    main()
