"""Step-by-step driver of the HCFL contract: one method per contract step (SPEC section 5).

This module gathers the driver's names where its callers know them:

- ``Deployment`` (also ``Round``): the simulation's driver (``contracts.simulation``) on top of
  the participant's API (``DeploymentClient``, ``contracts.client``); it deploys the contract
  on a chain from ``contracts.chain.connect`` and sends one transaction per method,
  remembering what a participant needs later (claims and salt for ``reveal`` and
  ``settle``) and the gas of every call. It never recomputes an outcome: everything it
  reports is read from chain state or from the contract's events.
- ``commitment``, ``contributions_hash``, ``report_chunks``: the contract's encodings in
  Python (``contracts.commitments``).

    from contracts.driver import Deployment
    d = Deployment.deploy(rpc=None)                 # titanoboa; or rpc="http://127.0.0.1:8545"
    o = d.new_account(10**18); s = d.new_account(10**18)
    d.register(o, "owner", weight=1, deposit=500)
    d.register(s, "station", weight=1, deposit=100)
    d.next_phase()                                  # time travel past the deadline + advance
    m = d.propose(o, budget=100, bond=1)
    d.next_phase()
    d.commit(o, [300]); d.commit(s, [50])
    d.next_phase()
    d.reveal(o); d.reveal(s)
    d.close()                                       # travels to the reveal deadline first
    d.settle(o); d.settle(s)
    d.report_training(model_hash=b"\\x01" * 32, accuracy_bps=9000, contributions=[7])
    d.next_phase()                                  # past the vote deadline: finalize
                                                    # (owners vote before: d.vote(owner, True))
    d.withdraw(o); d.withdraw(s); d.withdraw_bond(o, m)
    d.credit_bonus(s); d.withdraw(s)               # the bonus, with Deployment.deploy(bonus_bps=...) > 0
    d.start_round()                                 # the next round, same deployment
    d.events()                                      # [Event(name, args), ...] of the deployment
    d.round()                                       # the round folded from them (contracts.round_view)
    d.gas                                           # {"reveal": [gas, ...], ...}

``Deployment.attach(address, rpc)`` drives an existing deployment; ``chain_events()`` reads
every event of the contract back from a node's logs. Views (``contracts.views``): ``phase()``,
``deadline()``, ``pool()``, ``contract_balance()``, ``withdrawable(addr)``, ``held(addr)``,
``winner()``, ``welfare()``, ``participant(addr)``, ``proposal(index)``.
"""

from __future__ import annotations

from contracts.client import DeploymentClient
from contracts.commitments import commitment, contributions_hash, report_chunks
from contracts.constants import DEFAULT_PHASE_SECONDS, PHASES, REPORT_CHUNK, ROLES
from contracts.simulation import Deployment, Round
from contracts.views import ZERO_ADDRESS

__all__ = [
    "DEFAULT_PHASE_SECONDS", "PHASES", "REPORT_CHUNK", "ROLES", "ZERO_ADDRESS", "Deployment", "DeploymentClient", "Round",
    "commitment", "contributions_hash", "report_chunks",
]
