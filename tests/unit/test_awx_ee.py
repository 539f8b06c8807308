"""AWX / Automation Platform support files and the execution environment, checked without a cluster or an AWX:

- examples/awx/survey_deploy.json against the deploy role's argument spec, and against the rules AWX applies to a
  survey spec when it is saved and when its defaults are used at launch;
- examples/awx/credential_type_gitlab.json against the rules AWX applies to a custom credential type, its injector
  templates rendered the way AWX renders them;
- `ansible-builder create` of examples/ee, with the collection tarball (checked in test_build.py), whose build
  context is inspected; the galaxy install and the dependency introspection of the image build are replayed
  locally. `ansible-builder build` itself needs podman or docker and is not run.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any, Iterator

import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2 import meta as jinja_meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = pathlib.Path(__file__).resolve().parents[2]
SURVEY = REPO / "examples" / "awx" / "survey_deploy.json"
CREDENTIAL_TYPE = REPO / "examples" / "awx" / "credential_type_gitlab.json"
EE_DIR = REPO / "examples" / "ee"
ROLE = REPO / "roles" / "isvc"

# What AWX accepts (awx/api/views JobTemplateSurveySpec, awx/main/fields.py CredentialType*Field).
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": (float, int)}
SURVEY_QUESTION_KEYS = {"question_name", "question_description", "required", "type", "variable", "default", "choices",
                        "min", "max", "new_question", "formattype"}
CREDENTIAL_FIELD_KEYS = {"id", "label", "type", "format", "choices", "help_text", "multiline", "secret", "ask_at_runtime",
                         "default"}
NAME_PATTERN = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$")
FILE_INJECTOR_PATTERN = re.compile(r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$")

# The pipeline's parameters and the two extra questions, which the survey must ask.
EXPECTED_VARIABLES = [
    "isvc_name", "isvc_namespace", "isvc_description", "isvc_update_if_exists", "isvc_model_repo",
    "isvc_model_repo_branch", "isvc_model_repo_tag", "isvc_runtime_name", "isvc_runtime_class",
    "isvc_ephemeral_storage_size", "isvc_pvc_name", "isvc_min_replicas", "isvc_max_replicas", "isvc_cpu_request",
    "isvc_memory_request", "isvc_cpu_limit", "isvc_memory_limit", "isvc_nvidia_gpualloc", "isvc_nvidia_gpucores",
    "isvc_nvidia_gpumem", "isvc_nvidia_gpu", "isvc_wait_timeout", "isvc_deployment_mode",
]
SURVEY_REQUIRED = {"isvc_name", "isvc_namespace", "isvc_model_repo"}


def _options() -> dict[str, Any]:
    return yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def _survey() -> dict[str, Any]:
    return json.loads(SURVEY.read_text())


def _questions() -> list[dict[str, Any]]:
    return _survey()["spec"]


def _credential_type() -> dict[str, Any]:
    return json.loads(CREDENTIAL_TYPE.read_text())


def _galaxy() -> dict[str, Any]:
    return yaml.safe_load((REPO / "galaxy.yml").read_text())


def _tarball_name() -> str:
    galaxy = _galaxy()
    return "{namespace}-{name}-{version}.tar.gz".format(**galaxy)


def _survey_value(question: dict[str, Any], spec: dict[str, Any]) -> Any:
    """What the role receives for a survey answer, converted as the role's argument spec types it."""
    value = question["default"]
    if spec["type"] == "bool":
        assert question["type"] == "multiplechoice" and sorted(question["choices"]) == ["false", "true"], question["variable"]
        return {"true": True, "false": False}[value]
    return value


def _awx_element_errors(question: dict[str, Any], value: Any) -> list[str]:
    """AWX's per-question validation of an answer (SurveyJobTemplateMixin._survey_element_validation), which AWX
    also applies to a question's default before it passes the default to the job."""
    errors = []
    kind = question["type"]
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["not a string"]
        if question.get("min") not in ("", None) and len(value) < int(question["min"]):
            errors.append("too short")
        if question.get("max") not in ("", None) and len(value) > int(question["max"]):
            errors.append("too long")
    elif kind == "integer":
        if type(value) is not int:  # pylint: disable=unidiomatic-typecheck  # AWX's own test: True is no integer
            return ["not an integer"]
        if question.get("min") not in ("", None) and value < int(question["min"]):
            errors.append("too small")
        if question.get("max") not in ("", None) and value > int(question["max"]):
            errors.append("too large")
    elif kind == "multiplechoice":
        if value not in question["choices"]:
            errors.append("not a choice")
    return errors


# --- survey -------------------------------------------------------------------------------------------------------


def test_survey_is_a_survey_spec_awx_accepts() -> None:
    survey = _survey()
    assert isinstance(survey["name"], str) and survey["name"]
    assert isinstance(survey["description"], str)
    assert isinstance(survey["spec"], list) and survey["spec"]
    variables = [question["variable"] for question in survey["spec"]]
    assert len(variables) == len(set(variables)), "a variable is asked twice"
    for question in survey["spec"]:
        name = question.get("variable")
        assert set(question) <= SURVEY_QUESTION_KEYS, (name, set(question) - SURVEY_QUESTION_KEYS)
        for key in ("question_name", "variable", "type"):
            assert isinstance(question[key], str) and question[key], (name, key)
        assert isinstance(question["required"], bool), name
        assert question["type"] in SURVEY_TYPES, name
        assert NAME_PATTERN.match(name), name
        assert "default" in question, name
        if question["default"] != "":
            assert isinstance(question["default"], SURVEY_TYPES[question["type"]]), name
        for key in ("min", "max"):
            if key in question:
                assert type(question[key]) is int, (name, key)  # pylint: disable=unidiomatic-typecheck
        if question["type"] in ("multiplechoice", "multiselect"):
            assert isinstance(question["choices"], list) and question["choices"], name
            assert all(isinstance(choice, str) for choice in question["choices"]), name
            assert len(set(question["choices"])) == len(question["choices"]), name
            assert question["default"] in question["choices"], name
        else:
            assert "choices" not in question, name


def test_survey_asks_the_pipeline_parameters() -> None:
    variables = [question["variable"] for question in _questions()]
    assert sorted(variables) == sorted(EXPECTED_VARIABLES)


def test_every_survey_variable_is_a_role_option() -> None:
    options = _options()
    unknown = [question["variable"] for question in _questions() if question["variable"] not in options]
    assert not unknown, unknown


def test_survey_defaults_equal_the_role_defaults() -> None:
    options = _options()
    for question in _questions():
        spec = options[question["variable"]]
        value = _survey_value(question, spec)
        if "default" in spec:
            assert value == spec["default"], question["variable"]
            assert type(value) is type(spec["default"]), question["variable"]  # pylint: disable=unidiomatic-typecheck
        else:
            assert spec.get("required") and value == "", question["variable"]


def test_survey_question_types_fit_the_option_types() -> None:
    survey_types = {"str": {"text", "textarea", "password", "multiplechoice"}, "int": {"integer"},
                    "bool": {"multiplechoice"}}
    options = _options()
    for question in _questions():
        spec = options[question["variable"]]
        assert question["type"] in survey_types[spec["type"]], question["variable"]
        if spec["type"] == "bool":
            assert sorted(question["choices"]) == ["false", "true"], question["variable"]


def test_survey_choices_are_the_role_choices() -> None:
    options = _options()
    checked = 0
    for question in _questions():
        spec = options[question["variable"]]
        if question["type"] == "multiplechoice" and "choices" in spec:
            assert set(question["choices"]) <= set(spec["choices"]), question["variable"]
            checked += 1
    assert checked >= 1, "isvc_deployment_mode is a multiple choice of the role's choices"
    mode = next(question for question in _questions() if question["variable"] == "isvc_deployment_mode")
    assert mode["choices"] == options["isvc_deployment_mode"]["choices"]


def test_survey_required_questions() -> None:
    options = _options()
    required = {question["variable"] for question in _questions() if question["required"]}
    role_required = {name for name, spec in options.items() if spec.get("required")}
    assert role_required <= required
    assert required == SURVEY_REQUIRED


def test_survey_limits() -> None:
    questions = {question["variable"]: question for question in _questions()}
    assert questions["isvc_min_replicas"]["type"] == "integer" and questions["isvc_min_replicas"]["min"] == 0
    assert questions["isvc_max_replicas"]["type"] == "integer" and questions["isvc_max_replicas"]["min"] == 1
    assert questions["isvc_wait_timeout"]["type"] == "integer" and questions["isvc_wait_timeout"]["min"] >= 1
    assert questions["isvc_description"]["type"] == "textarea"
    # A required text question must not accept an empty answer.
    for name in SURVEY_REQUIRED:
        assert questions[name]["min"] >= 1, name


def test_awx_passes_every_optional_default_to_the_job() -> None:
    """AWX drops a default that fails the question's own validation; the role would then use its default, which
    the survey would not show. Required questions have no usable default (the role has none or needs a value)."""
    for question in _questions():
        errors = _awx_element_errors(question, question["default"])
        if question["required"]:
            assert errors, "{0}: a required question's empty default must be refused".format(question["variable"])
        else:
            assert not errors, (question["variable"], errors)


def _conditional_strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("when", "failed_when", "changed_when", "until", "that"):
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        yield item
            else:
                yield from _conditional_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _conditional_strings(item)


def test_string_booleans_from_the_survey_are_cast_by_the_role() -> None:
    """AWX answers "true"/"false" as strings, and role argument validation accepts them for a bool option without
    replacing the variable's value, so every condition on such a variable must cast it with `| bool`."""
    options = _options()
    string_bools = [question["variable"] for question in _questions() if options[question["variable"]]["type"] == "bool"]
    assert string_bools
    uncast = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for condition in _conditional_strings(yaml.safe_load(path.read_text())):
            for name in string_bools:
                for match in re.finditer(r"\b{0}\b".format(name), condition):
                    if not re.match(r"\s*\|\s*bool\b", condition[match.end():]):
                        uncast.append("{0}: {1}".format(path.name, condition))
    assert not uncast, uncast


# --- credential type ----------------------------------------------------------------------------------------------


def test_credential_type_inputs() -> None:
    credential_type = _credential_type()
    assert set(credential_type) <= {"name", "description", "kind", "inputs", "injectors"}
    assert credential_type["kind"] in ("cloud", "net"), "AWX creates custom credential types of kind cloud or net only"
    assert isinstance(credential_type["name"], str) and credential_type["name"]
    assert set(credential_type["inputs"]) <= {"fields", "required"}
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    assert len(fields) == len(credential_type["inputs"]["fields"]), "field ids must be unique"
    for field_id, field in fields.items():
        assert set(field) <= CREDENTIAL_FIELD_KEYS, (field_id, set(field) - CREDENTIAL_FIELD_KEYS)
        assert NAME_PATTERN.match(field_id) and field_id != "tower", field_id
        assert isinstance(field["label"], str) and field["label"], field_id
        assert field.get("type", "string") == "string", field_id
    assert set(fields) == {"gitlab_url", "gitlab_token", "gitlab_ca"}
    assert fields["gitlab_token"].get("secret") is True
    assert "default" not in fields["gitlab_token"], "a secret belongs in the credential, not in its type"
    assert not fields["gitlab_url"].get("secret")
    assert fields["gitlab_ca"].get("multiline") is True
    assert sorted(credential_type["inputs"]["required"]) == ["gitlab_token", "gitlab_url"]


def _injector_templates(injectors: dict[str, dict[str, str]]) -> Iterator[tuple[str, str, str]]:
    for kind, templates in injectors.items():
        for key, template in templates.items():
            yield kind, key, template


def test_credential_type_injectors_use_only_defined_inputs() -> None:
    credential_type = _credential_type()
    injectors = credential_type["injectors"]
    assert set(injectors) <= {"env", "file", "extra_vars"}
    field_ids = {field["id"] for field in credential_type["inputs"]["fields"]}
    environment = ImmutableSandboxedEnvironment()
    for kind, key, template in _injector_templates(injectors):
        assert isinstance(template, str), (kind, key)
        undeclared = jinja_meta.find_undeclared_variables(environment.parse(template))
        assert undeclared and undeclared <= field_ids | {"tower"}, (kind, key, undeclared)
    for key in injectors.get("file", {}):
        assert FILE_INJECTOR_PATTERN.match(key), key
    for key in injectors.get("env", {}):
        assert NAME_PATTERN.match(key) and not key.startswith("ANSIBLE_"), key
    for key in injectors.get("extra_vars", {}):
        assert NAME_PATTERN.match(key), key

    # AWX's own check when the type is saved: every template renders with StrictUndefined, every input set.
    class Filenames:  # pylint: disable=too-few-public-methods
        pass

    class Tower:  # pylint: disable=too-few-public-methods
        filename = Filenames()

    for key in injectors.get("file", {}):
        setattr(Tower.filename, key.split(".")[1], "EXAMPLE_FILENAME")
    namespace = {field_id: "EXAMPLE" for field_id in field_ids}
    namespace["tower"] = Tower()
    strict = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for _kind, _key, template in _injector_templates(injectors):
        strict.from_string(template).render(namespace)


def test_credential_type_injects_what_the_role_and_the_modules_read() -> None:
    credential_type = _credential_type()
    injectors = credential_type["injectors"]
    options = _options()
    assert injectors["env"] == {"GITLAB_URL": "{{ gitlab_url }}", "GITLAB_TOKEN": "{{ gitlab_token }}"}
    assert injectors["extra_vars"]["isvc_gitlab_url"] == "{{ gitlab_url }}"
    assert injectors["extra_vars"]["isvc_gitlab_token"] == "{{ gitlab_token }}"
    for name in injectors["extra_vars"]:
        assert name in options, name
    assert options["isvc_gitlab_token"].get("no_log") is True
    # The modules' environment fallbacks are these two names.
    connection = (REPO / "plugins" / "module_utils" / "_gitlab.py").read_text()
    for variable in injectors["env"]:
        assert '"{0}"'.format(variable) in connection, variable
    # Nothing secret is written into the type itself: every injected value comes from an input.
    for kind, key, template in _injector_templates(injectors):
        assert "{{" in template, (kind, key)


def test_credential_type_ca_file_only_when_a_ca_is_given() -> None:
    """Rendered as AWX renders injectors for a job: inputs left empty are not in the namespace."""
    injectors = _credential_type()["injectors"]
    environment = ImmutableSandboxedEnvironment()

    class Filenames:  # pylint: disable=too-few-public-methods
        ca = "/runner/env/tmpca"

    class Tower:  # pylint: disable=too-few-public-methods
        filename = Filenames()

    base = {"tower": Tower(), "gitlab_url": "https://gitlab.example.com", "gitlab_token": "glpat-example"}
    ca_path = injectors["extra_vars"]["isvc_gitlab_ca_path"]
    assert environment.from_string(ca_path).render(base) == ""
    assert environment.from_string(ca_path).render(dict(base, gitlab_ca="-----BEGIN CERTIFICATE-----\n")) == "/runner/env/tmpca"
    assert environment.from_string(injectors["file"]["template.ca"]).render(dict(base, gitlab_ca="PEM")) == "PEM"
    rendered = {key: environment.from_string(value).render(base) for key, value in injectors["env"].items()}
    assert rendered == {"GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "glpat-example"}


# --- execution environment ----------------------------------------------------------------------------------------


def test_collection_ee_metadata() -> None:
    metadata = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert metadata == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
    assert (REPO / "requirements.txt").is_file() and (REPO / "bindep.txt").is_file()


def _bindep_entries() -> list[str]:
    lines = (REPO / "bindep.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_bindep_stays_honest() -> None:
    """bindep.txt lists no system package because no plugin runs an external program; one that starts to must
    list what it runs."""
    if _bindep_entries():
        pytest.skip("bindep.txt lists packages")
    runs_programs = [str(path.relative_to(REPO)) for path in sorted((REPO / "plugins").rglob("*.py"))
                     if re.search(r"\b(subprocess|run_command|get_bin_path|os\.system|os\.popen)\b", path.read_text())]
    assert not runs_programs, runs_programs


def test_ee_definition_points_at_the_collection() -> None:
    definition = yaml.safe_load((EE_DIR / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    dependencies = definition["dependencies"]
    assert re.fullmatch(r"ansible-core>=2\.19,<2\.20", dependencies["ansible_core"]["package_pip"])
    assert "ansible-runner" in dependencies["ansible_runner"]["package_pip"]
    assert (EE_DIR / dependencies["python"]).resolve() == REPO / "requirements.txt"
    assert (EE_DIR / dependencies["system"]).resolve() == REPO / "bindep.txt"
    assert (EE_DIR / dependencies["galaxy"]).resolve() == EE_DIR / "requirements.yml"
    tarballs = [entry for entry in definition["additional_build_files"] if entry["src"].endswith(".tar.gz")]
    assert len(tarballs) == 1
    assert (EE_DIR / tarballs[0]["src"]).resolve() == REPO / ".build" / _tarball_name(), "where `make build` writes it"

    requirements = yaml.safe_load((EE_DIR / "requirements.yml").read_text())["collections"]
    by_name = {entry["name"]: entry for entry in requirements}
    ours = by_name["{0}/{1}".format(tarballs[0]["dest"], _tarball_name())]
    assert ours["type"] == "file"
    assert by_name["kubernetes.core"]["version"] == _galaxy()["dependencies"]["kubernetes.core"] == ">=6.0.0,<7.0.0"


def _tool(name: str) -> str:
    beside = pathlib.Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, "{0} is not installed (requirements-dev.txt)".format(name)
    return found


def _run(args: list[str], cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=str(cwd), env=env, check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_HOME"] = str(tmp_path_factory.mktemp("ansible-home"))
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]) -> pathlib.Path:
    out = tmp_path_factory.mktemp("collection")
    result = _run([_tool("ansible-galaxy"), "collection", "build", "--output-path", str(out)], REPO, tool_env)
    assert result.returncode == 0, result.stdout + result.stderr
    path = out / _tarball_name()
    assert path.is_file(), list(out.iterdir())
    return path


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory, tarball: pathlib.Path, tool_env: dict[str, str]) -> pathlib.Path:
    """examples/ee/execution-environment.yml with its relative paths made absolute and the tarball taken from where
    the fixture built it, then `ansible-builder create`."""
    work = tmp_path_factory.mktemp("ee")
    definition = yaml.safe_load((EE_DIR / "execution-environment.yml").read_text())
    for key in ("galaxy", "python", "system"):
        definition["dependencies"][key] = str((EE_DIR / definition["dependencies"][key]).resolve())
    for entry in definition["additional_build_files"]:
        entry["src"] = str(tarball) if entry["src"].endswith(".tar.gz") else str((EE_DIR / entry["src"]).resolve())
    (work / "execution-environment.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    result = _run([_tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
                   "--output-filename", "Containerfile", "-v", "3"], work, tool_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "context"


def test_builder_context(context: pathlib.Path) -> None:
    build = context / "_build"
    containerfile = (context / "Containerfile").read_text()
    assert (build / "collections" / _tarball_name()).is_file()
    assert (build / "requirements.yml").read_text() == (EE_DIR / "requirements.yml").read_text()
    python = {re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower()
              for line in (build / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert {"kubernetes", "python-gitlab", "jmespath"} <= python, python
    assert (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    assert set((build / "exclude-bindep.txt").read_text().split()) == {"kubernetes-client", "openshift-clients"}
    assert "ansible-core>=2.19,<2.20" in containerfile and "ansible-runner" in containerfile
    assert "-r requirements.yml" in containerfile
    introspect = next(line for line in containerfile.splitlines() if "introspect.py introspect" in line)
    for option in ("--user-pip=requirements.txt", "--user-bindep=bindep.txt", "--exclude-bindep-reqs=exclude-bindep.txt"):
        assert option in introspect, option
    assert "COPY _build/bindep.txt bindep.txt" in containerfile


def _kubernetes_core() -> pathlib.Path | None:
    for entry in sys.path:
        candidate = pathlib.Path(entry) / "ansible_collections" / "kubernetes" / "core"
        if (candidate / "MANIFEST.json").is_file():
            return candidate
    return None


def test_image_build_steps_replayed(context: pathlib.Path, tmp_path: pathlib.Path, tool_env: dict[str, str]) -> None:
    """The galaxy stage installs the collection from the context's requirements.yml (in /build, the context's
    _build); the builder stage's introspection then combines the collections' requirements with the user's."""
    build = context / "_build"
    requirements = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    local = [entry for entry in requirements if entry.get("type") == "file"]
    (tmp_path / "requirements.yml").write_text(yaml.safe_dump({"collections": local}))
    collections = tmp_path / "collections"
    result = _run([_tool("ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-r",
                   str(tmp_path / "requirements.yml"), "-p", str(collections)], build, tool_env)
    assert result.returncode == 0, result.stdout + result.stderr
    installed = collections / "ansible_collections" / "aml" / "kserve"
    assert json.loads((installed / "MANIFEST.json").read_text())["collection_info"]["version"] == _galaxy()["version"]

    kubernetes_core = _kubernetes_core()
    if kubernetes_core is not None:
        (collections / "ansible_collections" / "kubernetes").mkdir()
        (collections / "ansible_collections" / "kubernetes" / "core").symlink_to(kubernetes_core)
    result = _run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect",
                   "--user-pip=requirements.txt", "--user-bindep=bindep.txt", "--exclude-bindep-reqs=exclude-bindep.txt",
                   "--write-pip", str(tmp_path / "pip.txt"), "--write-bindep", str(tmp_path / "bindep.txt"),
                   str(collections)], build, tool_env)
    assert result.returncode == 0, result.stdout + result.stderr
    combined = yaml.safe_load(result.stdout)
    ours = [line for line in combined["python"] if line.endswith("# from collection aml.kserve")]
    assert any(line.startswith("python-gitlab") for line in ours), combined["python"]
    assert any(line.startswith("kubernetes") for line in ours), combined["python"]
    if kubernetes_core is not None:
        assert any(line.endswith("# from collection kubernetes.core") for line in combined["python"])
    system = combined["system"] or []
    assert not [line for line in system if re.match(r"(kubernetes-client|openshift-clients)\b", line)], system
