"""HCFL's crowdfunding contract (Vyper 0.4) and its Python drivers (SPEC sections 5 and 6).

- ``contracts/HCFL.vy``: the contract; several rounds per deployment, phases Register ->
  Propose -> Commit -> Reveal -> Train -> Vote -> Finalized on block-timestamp deadlines.
  Its constructor creates ``contracts/HCFLTraining.vy`` (the training report and the vote:
  what holds no money); the chain layer sends that contract's functions to it.
- ``settle_on_chain(**settle_kwargs, rule="clarke", budget_policy="budget", rpc=None)``:
  one whole round on titanoboa (``rpc=None``) or a JSON-RPC node, returning
  ``mechanism.Outcome``'s SPEC fields read back from the chain plus ``gas``
  (function name -> gas per call).
- ``Deployment`` (alias ``Round``): step-by-step driver, one method per contract step,
  ``events()`` with the decoded logs; see ``contracts.driver``.
- ``commitment(contract, round_id, sender, claims, salt) -> bytes``: the sealed commitment.
- ``compiled()``: ABI, creation and runtime bytecode for web3-only clients.
- ``RoundPlan``, ``run_auction``, ``finish_round``: the one walk through a whole round
  (``contracts.auction``), used by every caller that plays one.
- ``Reverted``: what both backends raise when the contract refuses, with its reason.
- ``contracts.constants`` (phases, roles, status bits, bond states, chunk size),
  ``contracts.records`` (typed events and views), ``contracts.nodes`` (start a node).
"""

from contracts.auction import Auction, Bidder, Finish, Offer, Report, RoundPlan, finish_round, run_auction
from contracts.build import EIP170_LIMIT, Compiled, compiled
from contracts.chain import Event, Reverted, Tx, connect
from contracts.constants import PHASES, ROLES
from contracts.driver import Deployment, Round, commitment
from contracts.onchain import ChainOutcome, settle_on_chain

__all__ = [
    "EIP170_LIMIT",
    "PHASES",
    "ROLES",
    "Auction",
    "Bidder",
    "ChainOutcome",
    "Compiled",
    "Deployment",
    "Event",
    "Finish",
    "Offer",
    "Report",
    "Reverted",
    "Round",
    "RoundPlan",
    "Tx",
    "commitment",
    "compiled",
    "connect",
    "finish_round",
    "run_auction",
    "settle_on_chain",
]
