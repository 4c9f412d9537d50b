"""One whole HCFL round, end to end: the contract round, the training, the vote, the payouts.

``play_round`` drives a fresh deployment (titanoboa's embedded EVM, or any JSON-RPC node)
through SPEC section 5 with a scenario whose participants claim their true values:
registration with deposits, proposals with bonds, sealed commits, reveals, close, every
settlement, hierarchical FL training of the winning proposal (``hfl``), the winner's
training report, the other owners' punishment vote (achieved vs promised accuracy),
finalization and every withdrawal. It never trusts itself: the outcome is read from the
contract's events, re-checked by the auditor against ``mechanism.settle``, and every wei
that left the contract is reconciled with what the reference says each participant pays
(``hcfl_cli.reconcile``, the same reconciliation as ``hcfl localnet``'s).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.auction import Auction, Bidder, Offer, Report, RoundPlan, finish_round, run_auction
from contracts.chain import Event
from contracts.driver import Deployment
from contracts.onchain import ChainOutcome, outcome_from_events
from hcfl_cli.audit import RoundAudit, audit_events
from hcfl_cli.reconcile import Reconciliation, reconcile, released_bonds
from hcfl_cli.scenario import LEAST_BOND, Scenario
from mechanism import Outcome, deposit_bounds, settle


@dataclass(frozen=True)
class RoundRecord:
    scenario: Scenario
    reference: Outcome
    chain: dict[str, Any]  # the outcome as the contract logged it (plain JSON)
    audit: list[RoundAudit]
    training: Any | None  # hfl.result.TrainResult, None when nothing won
    accuracy_bps: int | None
    votes: list[tuple[int, bool]]  # (owner, punish)
    slashed: bool
    reconciliation: Reconciliation
    gas: dict[str, list[int]]
    address: str
    chain_kind: str
    seconds: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list, repr=False)  # the deployment's decoded logs
    auction: Auction | None = field(default=None, repr=False)


def chain_outcome(rec: RoundRecord) -> ChainOutcome:
    """The round as the contract logged it, with the reference's field names (for the tables)."""
    a = rec.auction
    assert a is not None
    n_o = len(a.owners)
    return outcome_from_events(a.closed, a.settled[:n_o], a.settled[n_o:], a.dust, a.budgets, address=rec.address)


def record_json(rec: RoundRecord) -> dict[str, Any]:
    """The whole round as plain JSON (amounts in wei, exact)."""
    return {
        "address": rec.address,
        "chain": rec.chain_kind,
        "scenario": rec.scenario.to_json(),
        "reference": dataclasses.asdict(rec.reference),
        "chain_outcome": rec.chain,
        "audit": [{"round": a.round_id, "ok": a.ok, "differences": a.differences} for a in rec.audit],
        "training": None if rec.training is None else rec.training.to_json_dict(),
        "accuracy_bps": rec.accuracy_bps,
        "votes": [{"owner": i, "punish": p} for i, p in rec.votes],
        "slashed": rec.slashed,
        "reconciliation": {
            "ok": rec.reconciliation.ok,
            "rows": [{"who": r.who, "withdrawn": r.withdrawn, "expected": r.expected} for r in rec.reconciliation.rows],
            "pool": rec.reconciliation.pool,
            "expected_pool": rec.reconciliation.expected_pool,
            "contract_balance": rec.reconciliation.contract_balance,
        },
        "gas": rec.gas,
        "seconds": rec.seconds,
    }


def model_hash(state: dict[str, Any]) -> bytes:
    """sha256 over the trained model's tensors, by name, as published on chain."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.digest()


def scenario_plan(sc: Scenario) -> RoundPlan:
    """What every participant of ``sc`` sends: truthful claims, the scenario's deposits, and
    each proposal's metadata with a hash of its description."""
    offers = []
    for p in sc.proposals:
        desc = f"resnet/cnn target={p.labels} rounds={p.rounds}".encode()
        offers.append(Offer(p.owner, p.budget, p.bond, hashlib.sha256(desc).digest(), p.expected_accuracy_bps,
                            p.rounds, p.label_mask))
    return RoundPlan(
        owners=[Bidder(w, dep, list(v)) for w, dep, v in zip(sc.owner_weights, sc.owner_deposits, sc.owner_values)],
        stations=[Bidder(u, dep, list(k)) for u, dep, k in zip(sc.station_weights, sc.station_deposits,
                                                               sc.station_costs)],
        proposals=offers,
        deposit_per_weight=sc.deposit_per_weight,
    )


def reconcile_round(d: Deployment, reference: Outcome) -> Reconciliation:
    """Every withdrawal of ``d``'s round (from its events) against the reference, and the
    pool and balance the contract holds after it (``hcfl_cli.reconcile``)."""
    view = d.round(live=False)
    return reconcile(view, reference, penalty=d.no_show_penalty(), released=released_bonds(d, view), pool=d.pool(),
                     balance=d.contract_balance())


def _plain(record: Any) -> dict[str, Any]:
    return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in dataclasses.asdict(record).items()}


def play_round(
    sc: Scenario,
    *,
    rpc: str | None = None,
    train_overrides: dict[str, Any] | None = None,
    on_step: Callable[[str], None] = lambda _msg: None,
    on_train_round: Callable[[Any], None] | None = None,
    bonus_bps: int = 0,
) -> RoundRecord:
    """Play one round of ``sc`` (see the module docstring) and return what happened.

    ``bonus_bps`` (SPEC section 9): the deployment's station bonus fraction; the stations'
    deposits are raised to their bound with the bonus, the bonus follows the measured
    contributions, and the reference (and the reconciliation) count it.
    """
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    if bonus_bps:
        _, need = deposit_bounds(sc.budgets, sc.owner_weights, sc.owner_values, sc.station_costs,
                                 bonus_bps=bonus_bps, station_weights=sc.station_weights)
        sc = dataclasses.replace(sc, station_deposits=[max(d, n, 1) for d, n in zip(sc.station_deposits, need)])
    reference = settle(**sc.profile(), bonus_bps=bonus_bps)
    on_step("deploying the contract")
    plan = dataclasses.replace(scenario_plan(sc), bonus_bps=bonus_bps)
    d = plan.deploy(rpc, min_bond=LEAST_BOND)
    auction = run_auction(d, plan, on_step=on_step)
    seconds["auction"] = time.perf_counter() - t

    winner = auction.winner
    training, acc_bps, report = None, None, None
    if winner is not None:
        t = time.perf_counter()
        prop = sc.proposals[winner]
        on_step(f"training proposal {winner} (labels {list(prop.labels)}) by hierarchical FedAvg")
        from hfl.config import TrainConfig
        from hfl.train import train

        # One base station of the federation per registered station; small and fast by default.
        cfg = TrainConfig.for_proposal(prop.label_mask, len(auction.stations), **{
            "seed": sc.seed, "clients_per_station": 2, "global_rounds": prop.rounds, **(train_overrides or {})})
        training = train(cfg, progress=on_train_round)
        seconds["training"] = time.perf_counter() - t
        acc_bps = round(training.final_accuracy * 10_000)
        report = Report(model_hash(training.final_state), acc_bps, list(training.contributions))
        on_step("the winner reports; the other owners vote on the achieved accuracy")
    else:
        on_step("no proposal won: the round ended at close; refunds")
    if bonus_bps and report is not None:
        reference = settle(**sc.profile(), bonus_bps=bonus_bps, contributions=report.contributions)
    promised = sc.proposals[winner].expected_accuracy_bps if winner is not None else 0
    finish = finish_round(d, auction, plan, report=report,
                          punish=lambda _owner: acc_bps is not None and acc_bps < promised)
    on_step("withdrawals done")
    chain_view = {
        "winner": winner,
        "welfare": list(auction.closed.welfare),
        "closed": _plain(auction.closed),
        "dust": auction.dust,
        "settled": [_plain(s) for s in auction.settled],
    }
    events = d.events()
    expected = {d.round_id: report.contributions} if report is not None else {}
    return RoundRecord(sc, reference, chain_view, audit_events(events, expected_contributions=expected, address=d.address, bonus_bps=bonus_bps), training,
                       acc_bps, finish.votes, finish.slashed, reconcile_round(d, reference),
                       {k: list(v) for k, v in d.gas.items()}, d.address, d.chain.kind, seconds, events, auction)
