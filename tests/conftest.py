"""Test-suite wide settings: the long hypothesis profile, and tests that need anvil.

``--hypothesis-profile=long`` and ``HCFL_HYPOTHESIS_PROFILE=long`` mean the same thing: the
property and stateful tests that CI keeps short (the contract's differential and stateful
tests) then search hard, e.g. 375 stateful sequences of 500 steps.

A test that needs the anvil binary carries the ``anvil`` marker (per test, or
``pytestmark`` for a module), and nothing else: where anvil is missing it is skipped, and
with ``HCFL_REQUIRE_ANVIL=1`` (CI, ``.ci/run``) it fails instead, so that a green CI run
cannot have skipped every participant, restart and localnet test.
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


def pytest_configure(config: pytest.Config) -> None:
    # Test modules read the environment variable when they are imported, which is after this.
    if config.getoption("hypothesis_profile", default=None) == "long":
        os.environ["HCFL_HYPOTHESIS_PROFILE"] = "long"


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
