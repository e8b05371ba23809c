"""The lock files pin the whole dependency set, agree with each other and with pyproject.toml,
and the environment the tests run in is the locked one (so the library-internals checks of
faust_compat and kafka_compat run against the pinned releases)."""
from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement

from tests.support.deploy_files import REPO, canonical, lock_pins

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = [Requirement(text) for text in PROJECT["dependencies"]]
DEV = [Requirement(text) for text in PROJECT["optional-dependencies"]["dev"]]
DEV_LOCK = lock_pins((REPO / "requirements" / "dev.lock").read_text(encoding="utf-8"))
RUNTIME_LOCK = lock_pins((REPO / "requirements" / "runtime.lock").read_text(encoding="utf-8"))
FENCED = ["faust-streaming", "mode-streaming", "aiokafka", "kafka-python"]
"""Libraries whose internals streams/fold/faust_compat.py and streams/kafka/kafka_compat.py use."""
REGENERATE = "run `bash .ci/lock` and commit requirements/"


def pinned(pins, name: str) -> list[str]:
    return [pin.version for pin in pins if pin.name == canonical(name)]


@pytest.mark.parametrize("lock, requirements", [(RUNTIME_LOCK, RUNTIME), (DEV_LOCK, RUNTIME + DEV)],
                         ids=["runtime.lock", "dev.lock"])
def test_each_dependency_is_pinned_to_a_version_pyproject_allows(lock, requirements):
    for requirement in requirements:
        versions = pinned(lock, requirement.name)
        assert versions, f"{requirement.name} is not in the lock: {REGENERATE}"
        wrong = [v for v in versions if not requirement.specifier.contains(v, prereleases=True)]
        assert not wrong, f"the lock pins {requirement.name}=={wrong} outside {requirement.specifier}: {REGENERATE}"


def test_the_runtime_pins_are_the_dev_locks():
    dev = {(pin.name, pin.marker): pin.version for pin in DEV_LOCK}
    differ = [f"{pin.name} {pin.version} vs {dev.get((pin.name, pin.marker))}" for pin in RUNTIME_LOCK
              if dev.get((pin.name, pin.marker)) != pin.version]
    assert not differ, f"runtime.lock and dev.lock disagree on {differ}: {REGENERATE}"


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=["runtime.lock", "dev.lock"])
def test_every_pin_carries_hashes(lock):
    assert lock and all(pin.hashes for pin in lock), [pin.name for pin in lock if not pin.hashes]


@pytest.mark.parametrize("name", FENCED)
def test_the_libraries_whose_internals_we_fence_are_installed_at_the_locked_version(name):
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is not installed: run `bash .ci/setup`")
    locked = pinned(DEV_LOCK, name)
    assert locked == [installed], (
        f"{name} {installed} is installed but the lock pins {locked}: the internals checks "
        f"(tests/unit/streams/fold/test_faust_compat.py, tests/unit/streams/kafka/test_kafka_compat.py) "
        f"must run against the locked release; run `bash .ci/setup`")
