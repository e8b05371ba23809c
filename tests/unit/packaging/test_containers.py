"""The Dockerfile and docker-compose.yml can work, as far as a machine without a Docker engine can
tell: both parse, compose validates against the compose specification (its JSON schema is
vendored in tests/support/compose_spec), the image is multi-stage, built from the locked wheel
and run by an unprivileged user, and every `ledger` command and LEDGER_* variable they name
exists in the command line and the settings, with a value the settings accept."""
from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from streams.settings import Settings
from tests.support.deploy_files import (
    REPO,
    dockerfile_stages,
    dockerignore_keeps,
    dockerignore_patterns,
    exec_form,
    parse_ledger_args,
    shell_ledger_commands,
)

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
SCHEMA = json.loads((REPO / "tests" / "support" / "compose_spec" / "compose-spec.json").read_text(encoding="utf-8"))
GLOBAL_ARGS, STAGES = dockerfile_stages(DOCKERFILE)
FINAL = STAGES[-1]
ENTRYPOINT = exec_form(FINAL.last("ENTRYPOINT"))
LEDGER_SERVICES = {name: service for name, service in COMPOSE["services"].items()
                   if service.get("build", {}).get("dockerfile") == "Dockerfile"}


def ledger_commands_of(service: dict) -> list[list[str]]:
    """The ledger argument lists a service of the image runs."""
    entrypoint = service.get("entrypoint", ENTRYPOINT)
    command = service.get("command", exec_form(FINAL.last("CMD")))
    if entrypoint == ["ledger"]:
        return [command]
    if entrypoint[:1] == ["sh"] and len(command) == 1:
        return shell_ledger_commands(command[0])
    raise AssertionError(f"entrypoint {entrypoint} with command {command}: runs no ledger command")


def ledger_variables(mapping: dict) -> dict[str, str]:
    return {key: str(value) for key, value in mapping.items() if key.startswith("LEDGER_")}


def dockerfile_env() -> dict[str, str]:
    env = {}
    for args in FINAL.all("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", args):
            env[key] = value
    return env


# --- the Dockerfile -----------------------------------------------------------------------------

def test_the_image_is_built_in_stages_and_the_last_copies_only_the_installed_environment():
    assert len(STAGES) >= 2, "the Dockerfile has one stage: build tools would ship in the image"
    names = [stage.name for stage in STAGES]
    for stage in STAGES:
        for copy in stage.all("COPY"):
            origin = re.match(r"--from=(\S+)", copy)
            assert origin is None or origin[1] in names[:names.index(stage.name)], \
                f"COPY {copy} in stage {stage.name}: no earlier stage {origin[1]!r}"
    assert all(copy.startswith("--from=") for copy in FINAL.all("COPY")), \
        f"the last stage copies from the build context: {FINAL.all('COPY')}"


def test_the_image_installs_the_locked_wheel():
    build = " ".join(" ".join(stage.all("RUN")) for stage in STAGES[:-1])
    assert "pip wheel --no-deps" in build, "the image is not built from the project's wheel"
    assert "--require-hashes -r requirements/runtime.lock" in build, "the image ignores the lock"
    assert re.search(r"pip install --no-deps \S+\.whl", build), "the wheel brings unlocked dependencies"
    assert "pip install -e" not in build and "/app" not in build


def test_the_image_runs_as_an_unprivileged_user():
    user = FINAL.last("USER")
    assert user, "the last stage sets no USER: the ledger would run as root"
    assert user.split(":")[0] not in ("root", "0"), f"USER {user} is root"
    assert re.search(rf"useradd .*\b{re.escape(user.split(':')[0])}\b", " ".join(FINAL.all("RUN"))), \
        f"USER {user} is never created"


def test_the_base_images_are_pinned_to_a_python_release_the_project_supports():
    bases = {GLOBAL_ARGS.get(stage.base.strip("${}"), stage.base) for stage in STAGES}
    assert all(re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base) for base in bases), bases


def test_the_image_runs_the_ledger_command_and_its_default_arguments_parse():
    assert ENTRYPOINT == ["ledger"]
    parse_ledger_args(exec_form(FINAL.last("CMD")))


def test_every_ledger_variable_the_image_sets_is_a_setting_it_accepts():
    for name, value in ledger_variables(dockerfile_env()).items():
        field = name.removeprefix("LEDGER_").lower()
        assert field in Settings.model_fields, f"Dockerfile sets {name}, which no setting reads"
        Settings(**{field: value})


def test_the_build_context_holds_what_the_wheel_needs_and_no_more():
    patterns = dockerignore_patterns((REPO / ".dockerignore").read_text(encoding="utf-8"))
    for needed in ("pyproject.toml", "README.md", "requirements/runtime.lock", "ledger/cli.py",
                   "ledger/pom.xml", "analytics/queries/replay/history_end.sql", "schemas/avro/session_event/v1.avsc",
                   "bench/suite.py", "streams/fold/app.py", "projections/fold.py"):
        assert (REPO / needed).exists() and dockerignore_keeps(patterns, needed), f"the build context lacks {needed}"
    for left_out in (".venv/bin/python", "tests/conftest.py", "docs/worker.md", ".git/HEAD", "build/lib/x.py",
                     "ledger/__pycache__/cli.cpython-311.pyc", "session_ledger.egg-info/PKG-INFO"):
        assert not dockerignore_keeps(patterns, left_out), f"the build context would send {left_out}"


# --- docker-compose.yml -------------------------------------------------------------------------

def test_the_compose_file_is_valid_against_the_compose_specification():
    validator = jsonschema.Draft7Validator(SCHEMA)
    problems = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in validator.iter_errors(COMPOSE)]
    assert not problems, problems


def test_the_validator_catches_what_compose_would_refuse():
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["worker"]["depends_on"] = 42
    broken["services"]["sink"]["restart_policy"] = "always"
    assert len(list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))) >= 2


def test_the_app_services_run_the_image_built_here_without_installing_at_start():
    assert set(LEDGER_SERVICES) >= {"setup", "worker", "sink"}
    for name, service in LEDGER_SERVICES.items():
        assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert not any(":/app" in str(volume) for volume in service.get("volumes", [])), \
            f"{name} mounts the source tree"
        assert "pip" not in json.dumps([service.get("command"), service.get("entrypoint")]), \
            f"{name} installs packages when it starts"


@pytest.mark.parametrize("service", sorted(LEDGER_SERVICES))
def test_every_ledger_command_a_service_runs_exists(service):
    commands = ledger_commands_of(LEDGER_SERVICES[service])
    assert commands
    for argv in commands:
        assert parse_ledger_args(argv), f"{service}: `ledger {' '.join(argv)}` runs no command"


@pytest.mark.parametrize("service", sorted(LEDGER_SERVICES))
def test_every_ledger_variable_a_service_sets_is_a_setting_it_accepts(service):
    variables = ledger_variables(LEDGER_SERVICES[service].get("environment", {}))
    assert "LEDGER_BOOTSTRAP_SERVERS" in variables
    for name in variables:
        assert name.removeprefix("LEDGER_").lower() in Settings.model_fields, \
            f"{service} sets {name}, which no setting reads"
    Settings(**{name.removeprefix("LEDGER_").lower(): value for name, value in variables.items()})


def test_the_worker_listens_where_its_published_port_reaches_it():
    worker = COMPOSE["services"]["worker"]
    argv = ledger_commands_of(worker)[0]
    web_port = argv[argv.index("--web-port") + 1] if "--web-port" in argv else "6066"
    published = [str(port).rsplit(":", 1)[-1] for port in worker["ports"]]
    assert web_port in published, f"the worker serves on {web_port}, compose publishes {published}"
    api_host = Settings(**{"api_host": worker["environment"]["LEDGER_API_HOST"]}).api_host
    assert api_host in ("0.0.0.0", "::"), f"LEDGER_API_HOST {api_host}: the published port reaches nothing"


def test_kafka_keeps_its_log_for_a_bounded_time():
    env = COMPOSE["services"]["kafka"]["environment"]
    retention = {key: int(value) for key, value in env.items() if key.startswith("KAFKA_LOG_RETENTION")}
    assert retention and all(value > 0 for value in retention.values()), f"Kafka retention {retention}"


def test_compose_tags_the_image_with_the_packages_version_and_keeps_state_where_the_image_does():
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    state_dir = dockerfile_env()["LEDGER_STATE_DIR"]
    for name, service in LEDGER_SERVICES.items():
        assert service["image"] == f"session-ledger:{version}", f"{name} tags the image {service['image']}"
        assert ledger_variables(service["environment"]).get("LEDGER_STATE_DIR", state_dir) == state_dir
        mounts = [str(volume).split(":")[1] for volume in service.get("volumes", [])]
        assert state_dir in mounts, f"{name} keeps its state in the container ({state_dir} is no volume)"


def test_the_brokers_default_retention_is_the_settings_hot_window():
    env = COMPOSE["services"]["kafka"]["environment"]
    hours = int(env["KAFKA_LOG_RETENTION_HOURS"])
    assert hours * 3600 * 1000 == Settings().session_retention_ms, f"compose keeps {hours} h"
