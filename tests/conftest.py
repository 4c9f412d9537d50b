"""Test-suite wide settings: the long hypothesis profile, tests that need anvil, and the order
in which pytest-xdist's workers get the test files.

``--hypothesis-profile=long`` and ``HCFL_HYPOTHESIS_PROFILE=long`` mean the same thing: the
property and stateful tests that CI keeps short (the contract's differential and stateful
tests) then search hard, e.g. 375 stateful sequences of 500 steps.

A test that needs the anvil binary carries the ``anvil`` marker (per test, or
``pytestmark`` for a module), and nothing else: where anvil is missing it is skipped, and
with ``HCFL_REQUIRE_ANVIL=1`` (CI, ``.ci/run``) it fails instead, so that a green CI run
cannot have skipped every participant, restart and localnet test. (Under that variable a test
that skips itself on a missing anvil, the way tests did before the marker, fails as well.)
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# pytester: tests/test_anvil_requirement.py runs the marker's rule in a pytest of its own
pytest_plugins = ["pytester"]

settings.register_profile("ci", deadline=None)
settings.register_profile("long", deadline=None)

REQUIRE_ANVIL = "HCFL_REQUIRE_ANVIL"

# The test files that take longest, longest first (seconds per file, summed from --junitxml of a
# parallel run on the shared 2-core machine at load ~7). pytest-xdist (scripts/test.sh: --dist
# loadfile --no-loadscope-reorder) hands whole files to its workers in collection order, so these
# go first: a long file started last would leave the other worker idle while it runs.
SLOWEST_FILES_FIRST = (
    "test_flower.py",  # 186: the deployment engine's processes
    "test_participant_restart.py",  # 184: commands killed and restarted
    "test_localnet.py",  # 158: one round among six agent processes on Flower
    "test_contract_differential.py",  # 117
    "test_mechanism_properties.py",  # 113
    "test_hfl_train.py",  # 108
    "test_mechanism_bonus.py",  # 78
    "test_throughput.py",  # 55: the benchmark's smoke
    "test_verification_mutants.py",  # 47
    "test_contract_round.py",
    "test_chain.py",
    "test_contract_gas.py",
    "test_contract_stateful.py",
    "test_contract_bonus.py",
    "test_flower_secure.py",
    "test_verification.py",
    "test_round.py",
    "test_cli_experiments.py",  # 24; the other files take less
)


def pytest_configure(config: pytest.Config) -> None:
    # Test modules read the environment variable when they are imported, which is after this.
    if config.getoption("hypothesis_profile", default=None) == "long":
        os.environ["HCFL_HYPOTHESIS_PROFILE"] = "long"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # only in an xdist worker: a serial run keeps its order
        return
    rank = {name: k for k, name in enumerate(SLOWEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep theirs


def anvil_required() -> bool:
    """Whether a missing anvil fails the tests that need it (``HCFL_REQUIRE_ANVIL`` set, not 0)."""
    return os.environ.get(REQUIRE_ANVIL, "") not in ("", "0")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # tryfirst: before any fixture of the test (a module's node, say) is set up
    if item.get_closest_marker("anvil") is None:
        return
    from contracts import nodes  # not at import: a run of the pure tests need not load it

    try:
        nodes.anvil_path()
    except nodes.NodeUnavailable as exc:
        if anvil_required():
            pytest.fail(f"{exc} ({REQUIRE_ANVIL}=1: a test that needs anvil fails instead of "
                        "being skipped)", pytrace=False)
        pytest.skip(str(exc))


# What contracts.nodes says when it finds no anvil binary (NodeUnavailable's message)
ANVIL_MISSING = "anvil not found"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # A net under the marker: a test that skips itself on a missing anvil (a pytest.skip of
    # its own, copied from an older test) fails too where anvil is required.
    report = yield
    if report.skipped and anvil_required() and ANVIL_MISSING in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = (f"skipped for a missing anvil where {REQUIRE_ANVIL}=1: "
                           f"{report.longrepr}; mark the test `anvil` instead (tests/conftest.py)")
    return report
