"""The contract's constants, once, for every Python caller (the values of ``HCFL.vy``).

A test reads them back from the Vyper source (``tests/test_contract_constants.py``), so this
module and the contract cannot drift apart. Nothing else in Python spells these numbers.
"""

from __future__ import annotations

PHASE_REGISTER, PHASE_PROPOSE, PHASE_COMMIT, PHASE_REVEAL = 1, 2, 4, 8
PHASE_TRAIN, PHASE_VOTE, PHASE_FINALIZED = 16, 32, 64

PHASES: dict[int, str] = {
    PHASE_REGISTER: "Register",
    PHASE_PROPOSE: "Propose",
    PHASE_COMMIT: "Commit",
    PHASE_REVEAL: "Reveal",
    PHASE_TRAIN: "Train",
    PHASE_VOTE: "Vote",
    PHASE_FINALIZED: "Finalized",
}
"""Phase numbers of the contract (one bit each) and their names, in round order."""

ROLE_OWNER, ROLE_STATION = 1, 2
ROLES: dict[str, int] = {"owner": ROLE_OWNER, "station": ROLE_STATION}
"""Role names and the contract's numbers for them (0: not registered)."""
ROLE_NAMES: dict[int, str] = {v: k for k, v in ROLES.items()}

STATUS_REVEALED, STATUS_SETTLED, STATUS_WITHDRAWN, STATUS_VOTED = 1, 2, 4, 8
STATUS_BONUS = 16
"""A participant's status bits (``STATUS_BONUS``: a station's bonus was credited)."""

BOND_HELD, BOND_RELEASED, BOND_SLASHED, BOND_WITHDRAWN = 0, 1, 2, 3
"""States of a proposal's responsibility bond."""

MAX_M = 32
"""Most proposals in one round."""
REPORT_CHUNK = 64
"""Most contributions in one training-report transaction."""
MAX_AMOUNT = 2**96 - 1
"""Largest claim, budget or weight."""
MAX_DEPOSIT = 2**99 - 1
"""Largest deposit."""
MAX_BPS = 10_000
"""100 % in basis points."""

DEFAULT_PHASE_SECONDS = (3600, 3600, 3600, 3600, 86_400, 3600)
"""Register, Propose, Commit, Reveal, Train, Vote (seconds): the deployment default."""
DEFAULT_DEPOSIT_PER_WEIGHT = 10
"""The drivers' default least owner deposit per unit of weight (wei); real deployments
choose theirs (budgets are capped at ``W * d``)."""
DEFAULT_MAX_PROPOSALS = 4
"""The drivers' default allowance of proposals per owner and round."""
