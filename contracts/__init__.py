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
  ``events()`` with the decoded logs; see ``contracts.driver`` (the simulation,
  ``contracts.simulation``, on the participant's API, ``contracts.client``).
- ``RoundView``, ``fold_rounds``: one typed view of each round, folded from the events
  (``contracts.round_view``); ``ContractViews``: the contract's views by name.
- ``commitment(contract, round_id, sender, claims, salt) -> bytes``: the sealed commitment.
- ``compiled()``: ABI, creation and runtime bytecode for web3-only clients.
- ``RoundPlan``, ``run_auction``, ``finish_round``: the one walk through a whole round
  (``contracts.auction``), used by every caller that plays one.
- ``Reverted``: what both backends raise when the contract refuses, with its reason.
- ``contracts.constants`` (phases, roles, status bits, bond states, chunk size),
  ``contracts.records`` (typed events and views), ``contracts.nodes`` (start a node).

A participant's own client, on its own machine: ``contracts.rpc_chain`` (any JSON-RPC node,
proof-of-authority chains included), ``contracts.transport`` (the JSON-RPC transport and a
node's failure in one line), ``contracts.pipeline`` (send, wait, resend, catch up from the
outbox, plan, deploy once), ``contracts.deployment_file``, ``contracts.keys`` (keystores and
``KeyOptions``), ``contracts.secret_store``, ``contracts.outbox``, ``contracts.files`` (0600
durable writes), ``contracts.parameters`` (a deployment's parameters, checked once).
"""

from contracts.auction import Auction, Bidder, Finish, Offer, Report, RoundPlan, finish_round, run_auction
from contracts.build import EIP170_LIMIT, Compiled, compiled
from contracts.chain import Event, Reverted, Tx, connect
from contracts.constants import PHASES, ROLES
from contracts.commitments import commitment
from contracts.driver import Deployment, Round
from contracts.round_view import RoundView, fold_rounds
from contracts.views import ContractViews
from contracts.onchain import ChainOutcome, settle_on_chain

__all__ = [
    "EIP170_LIMIT",
    "PHASES",
    "ROLES",
    "Auction",
    "Bidder",
    "ChainOutcome",
    "ContractViews",
    "Compiled",
    "Deployment",
    "Event",
    "Finish",
    "Offer",
    "Report",
    "Reverted",
    "Round",
    "RoundPlan",
    "RoundView",
    "Tx",
    "commitment",
    "compiled",
    "connect",
    "finish_round",
    "fold_rounds",
    "run_auction",
    "settle_on_chain",
]
