#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: serving_runtime_info
short_description: Choose the KServe serving runtime for a model
version_added: 0.1.0
description:
  - Finds a KServe C(ClusterServingRuntime) (or namespaced C(ServingRuntime)) by name or by runtime class label, checks
    that it supports the model's format, and returns what rendering an InferenceService needs of it.
  - What the C(deploy-inference-service) pipeline's C(get_runtime) does, with two fixes. By class, the choice is the
    first runtime by name that is enabled and supports O(model_format); the pipeline took whichever came first and
    could fail although another runtime of the class fitted. The container's C(env) entries are returned whole;
    the pipeline kept only C(value) and lost C(valueFrom).
  - Read-only. Needs get and list on the runtime kind (the C(clusterservingruntimes.serving.kserve.io-v1alpha1-view)
    ClusterRole is enough).
author:
  - aml.kserve developers (@aml-kserve)
extends_documentation_fragment:
  - aml.kserve._attributes
  - kubernetes.core.k8s_auth_options
attributes:
  action:
    support: full
    details:
      - Runs on the controller, in the task's own process, with no module process to start. The task's C(environment)
        keyword does not apply; set the C(K8S_AUTH_*) variables in the controller's environment or pass the options.
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
options:
  name:
    description:
      - Name of the runtime (the pipeline's C(RUNTIME_NAME)).
      - If O(runtime_class) is also given, the runtime's class label must equal it.
      - One of O(name) and O(runtime_class) is required.
    type: str
  runtime_class:
    description:
      - Runtime class (the pipeline's C(RUNTIME_CLASS)), the value of the O(class_label) label.
      - Without O(name), the runtimes of this class are listed and the first by name that is enabled and supports
        O(model_format) is chosen.
    type: str
  class_label:
    description: Label that holds a runtime's class.
    type: str
    default: cpaas.io/runtime-class
  model_format:
    description: The model format the runtime must support (the README's C(library_name)). Not checked when omitted.
    type: str
  kind:
    description:
      - V(ClusterServingRuntime), cluster-wide as in the pipeline, or V(ServingRuntime) in O(namespace).
    type: str
    default: ClusterServingRuntime
    choices: [ClusterServingRuntime, ServingRuntime]
  namespace:
    description: Namespace of a V(ServingRuntime). Required with O(kind=ServingRuntime).
    type: str
requirements:
  - kubernetes >= 24.2.0
seealso:
  - module: aml.kserve.inference_service
"""

EXAMPLES = r"""
- name: The runtime of class vllm that serves transformers models
  aml.kserve.serving_runtime_info:
    runtime_class: vllm
    model_format: transformers
  register: runtime

- name: A runtime by name, checking its class
  aml.kserve.serving_runtime_info:
    name: aml-vllm-0.8
    runtime_class: vllm
    model_format: "{{ model.library_name }}"

- name: A namespaced ServingRuntime
  aml.kserve.serving_runtime_info:
    kind: ServingRuntime
    namespace: team-a
    name: custom-triton
"""

RETURN = r"""
runtime:
  description: The chosen runtime.
  returned: success
  type: dict
  contains:
    name:
      description: Its name.
      type: str
      sample: aml-vllm-0.8
    kind:
      description: V(ClusterServingRuntime) or V(ServingRuntime).
      type: str
      sample: ClusterServingRuntime
    namespace:
      description: Its namespace; empty for a ClusterServingRuntime.
      type: str
      sample: ""
    runtime_class:
      description: Value of its class label; empty when it has none.
      type: str
      sample: vllm
    supported_model_formats:
      description: C(spec.supportedModelFormats) as in the runtime.
      type: list
      elements: dict
      sample: [{name: transformers, version: "1", autoSelect: true}]
    protocol_versions:
      description: C(spec.protocolVersions).
      type: list
      elements: str
      sample: [v2]
    disabled:
      description: C(spec.disabled).
      type: bool
      sample: false
    container:
      description: The first container's C(name), C(image), C(command), C(args) and C(env), copied whole.
      type: dict
      sample: {name: kserve-container, image: vllm/vllm-openai:v0.8.5, command: [python3, -m, vllm.entrypoints.openai.api_server],
               args: ["--port=8080", "--served-model-name={{.Name}}"], env: [{name: HF_HOME, value: /tmp/hf}]}
choice:
  description: Why this runtime was chosen, and which runtimes of the class were skipped.
  returned: success
  type: str
  sample: chose ClusterServingRuntime 'aml-vllm-0.8', the first by name of class 'vllm' that is enabled and supports 'transformers'
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

from ansible_collections.aml.kserve.plugins.module_utils import _k8s, _runtime
from ansible_collections.aml.kserve.plugins.module_utils._errors import RuntimeLookupError
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec, run_module

SPEC = _k8s.CONNECTION_SPEC.merge(
    ArgumentSpec(
        {
            "name": {"type": "str"},
            "runtime_class": {"type": "str"},
            "class_label": {"type": "str", "default": _runtime.DEFAULT_CLASS_LABEL},
            "model_format": {"type": "str"},
            "kind": {"type": "str", "default": "ClusterServingRuntime", "choices": ["ClusterServingRuntime", "ServingRuntime"]},
            "namespace": {"type": "str"},
        },
        required_one_of=[("name", "runtime_class")],
        required_if=[("kind", "ServingRuntime", ("namespace",))],
    )
)


def runtime_result(client, params: dict) -> dict:
    kind = params["kind"]
    kind_version = _k8s.CLUSTER_SERVING_RUNTIME if kind == "ClusterServingRuntime" else _k8s.SERVING_RUNTIME
    namespace = params["namespace"] if kind == "ServingRuntime" else None
    if params["name"]:
        runtime = client.get(kind_version, params["name"], namespace)
        if runtime is None:
            where = " in namespace {0}".format(namespace) if namespace else ""
            raise RuntimeLookupError("{0} {1!r} not found{2}; check name (kubectl get {3})".format(
                kind, params["name"], where, kind.lower() + "s.serving.kserve.io"))
        _runtime.check_by_name(runtime, kind, params["runtime_class"], params["class_label"], params["model_format"])
        choice = "{0} {1!r} by name".format(kind, params["name"])
    else:
        selector = "{0}={1}".format(params["class_label"], params["runtime_class"])
        runtimes = _k8s.items(client.list(kind_version, namespace, label_selector=selector))
        runtime, choice = _runtime.choose_by_class(runtimes, kind, params["runtime_class"], params["class_label"], params["model_format"])
    return {"changed": False, "runtime": _runtime.summarize(runtime, kind, params["class_label"]), "choice": choice}


def find_runtime(module) -> dict:
    return runtime_result(_k8s.KubeClient(module), module.params)


def main() -> None:
    run_module(SPEC.create_module(AnsibleK8SModule), find_runtime)


if __name__ == "__main__":
    main()
