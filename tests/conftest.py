"""Test-suite wide settings: the long hypothesis profile.

``--hypothesis-profile=long`` and ``HCFL_HYPOTHESIS_PROFILE=long`` mean the same thing: the
property and stateful tests that CI keeps short (the contract's differential and stateful
tests) then search hard, e.g. 375 stateful sequences of 500 steps.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None)
settings.register_profile("long", deadline=None)


def pytest_configure(config: pytest.Config) -> None:
    # Test modules read the environment variable when they are imported, which is after this.
    if config.getoption("hypothesis_profile", default=None) == "long":
        os.environ["HCFL_HYPOTHESIS_PROFILE"] = "long"
