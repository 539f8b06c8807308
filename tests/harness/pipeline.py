"""The deploy-inference-service pipeline, run as its Tekton task runs it, for tests and benchmarks that need the
state the pipeline leaves (client-side ``kubectl apply``, the last-applied annotation).

Its bash script is read from the seed at run time, never copied into this repository.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from tests.harness.ansible import REPO_ROOT

SEED_DIR = pathlib.Path(os.environ.get("AML_KSERVE_SEED_DIR") or REPO_ROOT.parent / "shared" / "seed")
TOOLS = ("kubectl", "curl", "jq")


@dataclass
class Pipeline:
    script: str
    args: list[str]
    defaults: dict[str, str]


def extract_pipeline(seed_dir: pathlib.Path = SEED_DIR) -> Pipeline | None:
    """The pipeline's script and argument list, from the seed's ```yaml block holding the Pipeline."""
    for path in sorted(seed_dir.glob("*.txt")) if seed_dir.is_dir() else []:
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
            doc = yaml.safe_load(block)
            if isinstance(doc, dict) and doc.get("kind") == "Pipeline":
                params = {p["name"]: p["value"] for p in doc["spec"]["tasks"][0]["params"]}
                return Pipeline(script=params["script"], args=list(params["args"]),
                                defaults={p["name"]: str(p.get("default", "")) for p in doc["spec"]["params"]})
    return None


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def run_pipeline(pipeline: Pipeline, kubeconfig: pathlib.Path, namespace: str, workdir: pathlib.Path,
                 timeout: float | None = None, **params: Any) -> subprocess.CompletedProcess[str]:
    """Run the script with the pipeline's defaults overridden by ``params`` (its parameter names, e.g.
    ``INFERENCE_SERVICE_NAME``); raises subprocess.TimeoutExpired after ``timeout`` seconds."""
    values = dict(pipeline.defaults, **{k: str(v) for k, v in params.items()})
    result_file = workdir / "result-{0}".format(values.get("INFERENCE_SERVICE_NAME", "isvc"))
    script = pipeline.script.replace("$(results.string-result.path)", str(result_file))
    args = []
    for arg in pipeline.args:
        arg = arg.replace("$(context.pipelineRun.namespace)", namespace)
        args.append(re.sub(r"\$\(params\.([A-Z_]+)\)", lambda m: values[m.group(1)], arg))
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    return subprocess.run(["bash", "-c", script, "pipeline", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=workdir)
