"""contracts.constants: every number it spells is the one the Vyper sources declare (HCFL's,
and HCFLTraining's where it repeats one of them)."""

from __future__ import annotations

import re

import pytest

from contracts import constants
from contracts.build import TRAINING_SOURCE_PATH, source

NAMES = [
    "PHASE_REGISTER", "PHASE_PROPOSE", "PHASE_COMMIT", "PHASE_REVEAL", "PHASE_TRAIN", "PHASE_VOTE",
    "PHASE_FINALIZED", "ROLE_OWNER", "ROLE_STATION", "STATUS_REVEALED", "STATUS_SETTLED",
    "STATUS_WITHDRAWN", "STATUS_VOTED", "STATUS_BONUS", "BOND_HELD", "BOND_RELEASED", "BOND_SLASHED", "BOND_WITHDRAWN",
    "MAX_M", "REPORT_CHUNK", "MAX_AMOUNT", "MAX_DEPOSIT", "MAX_BPS",
]


def vyper_constants(text: str | None = None) -> dict[str, int]:
    """``NAME: constant(uint256) = expr`` lines of a contract (default HCFL), evaluated."""
    found = {}
    for name, expr in re.findall(r"^([A-Z_0-9]+): constant\(uint256\) = (.+)$", source() if text is None else text, re.M):
        found[name] = int(eval(expr.replace("_", "") if expr.replace("_", "").isdigit() else expr, {}))
    return found


@pytest.mark.parametrize("name", NAMES)
def test_python_constant_equals_the_contracts(name: str) -> None:
    both = {**vyper_constants(TRAINING_SOURCE_PATH.read_text()), **vyper_constants()}
    assert getattr(constants, name) == both[name]


def test_every_constant_hcfltraining_repeats_is_hcfls() -> None:
    hcfl, training = vyper_constants(), vyper_constants(TRAINING_SOURCE_PATH.read_text())
    shared = set(hcfl) & set(training)
    assert {"PHASE_TRAIN", "PHASE_VOTE", "ROLE_OWNER", "INFO_INDEX_SHIFT", "SCHEDULE_DEADLINE_SHIFT"} <= shared
    assert {k: training[k] for k in shared} == {k: hcfl[k] for k in shared}


def test_phase_names_cover_every_phase_in_round_order() -> None:
    assert list(constants.PHASES) == sorted(constants.PHASES)
    assert list(constants.PHASES.values())[0] == "Register"
    assert list(constants.PHASES.values())[-1] == "Finalized"
