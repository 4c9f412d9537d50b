"""contracts.constants: every number it spells is the one the Vyper source declares."""

from __future__ import annotations

import re

import pytest

from contracts import constants
from contracts.build import source

NAMES = [
    "PHASE_REGISTER", "PHASE_PROPOSE", "PHASE_COMMIT", "PHASE_REVEAL", "PHASE_TRAIN", "PHASE_VOTE",
    "PHASE_FINALIZED", "ROLE_OWNER", "ROLE_STATION", "STATUS_REVEALED", "STATUS_SETTLED",
    "STATUS_WITHDRAWN", "STATUS_VOTED", "STATUS_BONUS", "BOND_HELD", "BOND_RELEASED", "BOND_SLASHED", "BOND_WITHDRAWN",
    "MAX_M", "REPORT_CHUNK", "MAX_AMOUNT", "MAX_DEPOSIT", "MAX_BPS",
]


def vyper_constants() -> dict[str, int]:
    """``NAME: constant(uint256) = expr`` lines of the contract, evaluated."""
    found = {}
    for name, expr in re.findall(r"^([A-Z_0-9]+): constant\(uint256\) = (.+)$", source(), re.M):
        found[name] = int(eval(expr.replace("_", "") if expr.replace("_", "").isdigit() else expr, {}))
    return found


@pytest.mark.parametrize("name", NAMES)
def test_python_constant_equals_the_contracts(name: str) -> None:
    assert getattr(constants, name) == vyper_constants()[name]


def test_phase_names_cover_every_phase_in_round_order() -> None:
    assert list(constants.PHASES) == sorted(constants.PHASES)
    assert list(constants.PHASES.values())[0] == "Register"
    assert list(constants.PHASES.values())[-1] == "Finalized"
