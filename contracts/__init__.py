"""HCFL's crowdfunding contract (Vyper 0.4) and its Python drivers (SPEC sections 5 and 6).

- ``contracts/HCFL.vy``: the contract; several rounds per deployment, phases Register ->
  Propose -> Commit -> Reveal -> Train -> Vote -> Finalized on block-timestamp deadlines.
- ``settle_on_chain(**settle_kwargs, rule="clarke", budget_policy="budget", rpc=None)``:
  one whole round on titanoboa (``rpc=None``) or a JSON-RPC node, returning
  ``mechanism.Outcome``'s SPEC fields read back from the chain plus ``gas``
  (function name -> gas per call).
- ``Deployment`` (alias ``Round``): step-by-step driver, one method per contract step,
  ``events()`` with the decoded logs; see ``contracts.driver``.
- ``commitment(contract, round_id, sender, claims, salt) -> bytes``: the sealed commitment.
- ``compiled()``: ABI, creation and runtime bytecode for web3-only clients.
"""

from contracts.build import EIP170_LIMIT, Compiled, compiled
from contracts.chain import Event, Tx, connect
from contracts.driver import PHASES, ROLES, Deployment, Round, commitment
from contracts.onchain import ChainOutcome, settle_on_chain

__all__ = [
    "EIP170_LIMIT",
    "PHASES",
    "ROLES",
    "ChainOutcome",
    "Compiled",
    "Deployment",
    "Event",
    "Round",
    "Tx",
    "commitment",
    "compiled",
    "connect",
    "settle_on_chain",
]
