"""One whole HCFL round, end to end: the contract round, the training, the vote, the payouts.

``play_round`` drives a fresh deployment (titanoboa's embedded EVM, or any JSON-RPC node)
through SPEC section 5 with a scenario whose participants claim their true values:
registration with deposits, proposals with bonds, sealed commits, reveals, close, every
settlement, hierarchical FL training of the winning proposal (``hfl``), the winner's
training report, the other owners' punishment vote (achieved vs promised accuracy),
finalization and every withdrawal. It never trusts itself: the outcome is read from the
contract's events, re-checked by the auditor against ``mechanism.settle``, and every wei
that left the contract is reconciled with what the reference says each participant pays.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.chain import Event
from contracts.driver import Deployment
from contracts.onchain import ChainOutcome, outcome_from_events
from hcfl_cli.audit import RoundAudit, audit_events
from hcfl_cli.scenario import Scenario
from mechanism import Outcome, settle

GAS_MONEY = 10**18  # each account's allowance for fees on a real node (and bonds, far smaller)
BOND_RELEASED = 1


@dataclass(frozen=True)
class Reconciliation:
    """Every participant's withdrawal vs what the reference says, to the wei."""

    rows: list[tuple[str, int, int]]  # (who, withdrawn from the chain, expected by the reference)
    pool: int  # the contract's recycle pool after the round
    expected_pool: int  # surplus (+ the bond, if slashed)
    contract_balance: int  # what the contract still holds after every withdrawal

    @property
    def ok(self) -> bool:
        return all(a == b for _, a, b in self.rows) and self.pool == self.expected_pool == self.contract_balance


@dataclass(frozen=True)
class RoundRecord:
    scenario: Scenario
    reference: Outcome
    chain: dict[str, Any]  # the outcome as the contract logged it
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


def chain_outcome(rec: RoundRecord) -> ChainOutcome:
    """The round as the contract logged it, with the reference's field names (for the tables)."""
    n_o = len(rec.scenario.owner_weights)
    settled = rec.chain["settled"]
    return outcome_from_events(rec.chain["closed"], settled[:n_o], settled[n_o:], rec.chain["dust"],
                               address=rec.address)


def record_json(rec: RoundRecord) -> dict[str, Any]:
    """The whole round as plain JSON (amounts in wei, exact)."""
    import dataclasses

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
            "rows": [{"who": w, "withdrawn": a, "expected": b} for w, a, b in rec.reconciliation.rows],
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


def play_round(
    sc: Scenario,
    *,
    rpc: str | None = None,
    train_overrides: dict[str, Any] | None = None,
    on_step: Callable[[str], None] = lambda _msg: None,
    on_train_round: Callable[[Any], None] | None = None,
) -> RoundRecord:
    """Play one round of ``sc`` (see the module docstring) and return what happened."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    reference = settle(**sc.profile())
    on_step("deploying the contract")
    d = Deployment.deploy(rpc)
    owners = [d.new_account(dep + GAS_MONEY) for dep in sc.owner_deposits]
    stations = [d.new_account(dep + GAS_MONEY) for dep in sc.station_deposits]
    on_step("registering participants with their deposits")
    for a, w, dep in zip(owners, sc.owner_weights, sc.owner_deposits):
        d.register(a, "owner", weight=w, deposit=dep)
    for a, u, dep in zip(stations, sc.station_weights, sc.station_deposits):
        d.register(a, "station", weight=u, deposit=dep)
    d.next_phase()
    on_step("posting proposals with their bonds")
    for m, p in enumerate(sc.proposals):
        desc = f"resnet/cnn target={p.labels} rounds={p.rounds}".encode()
        d.propose(owners[p.owner], budget=p.budget, bond=p.bond, content_hash=hashlib.sha256(desc).digest(),
                  accuracy_bps=p.expected_accuracy_bps, training_rounds=p.rounds, label_mask=p.label_mask)
    d.next_phase()
    on_step("sealed commits")
    for a, row in zip(owners, sc.owner_values):
        d.commit(a, row)
    for a, row in zip(stations, sc.station_costs):
        d.commit(a, row)
    d.next_phase()
    on_step("reveals, close, settlements")
    for a in owners + stations:
        d.reveal(a)
    closed = next(e.args for e in d.close().events if e.name == "Closed")
    settled = [d.settle(a) for a in owners + stations]
    seconds["auction"] = time.perf_counter() - t

    winner = int(closed["winner"]) if closed["has_winner"] else None
    training, acc_bps, votes, slashed = None, None, [], False
    if winner is not None:
        t = time.perf_counter()
        prop = sc.proposals[winner]
        on_step(f"training proposal {winner} (labels {list(prop.labels)}) by hierarchical FedAvg")
        from hfl.config import TrainConfig
        from hfl.train import train

        # One base station of the federation per registered station; small and fast by default.
        cfg = TrainConfig.for_proposal(prop.label_mask, len(stations), **{
            "seed": sc.seed, "clients_per_station": 2, "global_rounds": prop.rounds, **(train_overrides or {})})
        training = train(cfg, progress=on_train_round)
        seconds["training"] = time.perf_counter() - t
        acc_bps = round(training.final_accuracy * 10_000)
        d.report_training(model_hash(training.final_state), acc_bps, list(training.contributions))
        if d.phase() == "Train":  # the report normally opens the vote at once
            d.next_phase()
        on_step("owners vote on the achieved accuracy")
        for i, a in enumerate(owners):
            if i != prop.owner:
                punish = acc_bps < prop.expected_accuracy_bps
                d.vote(a, punish)
                votes.append((i, punish))
        fin = d.finalize()
        slashed = any(e.args.get("slashed") for e in fin.events if e.name == "Finalized")
    else:
        d.next_phase()
        if d.phase() != "Finalized":
            d.next_phase()

    on_step("withdrawals")
    rows = []
    for i, a in enumerate(owners):
        rows.append((f"owner {i}", d.withdraw(a), sc.owner_deposits[i] - reference.owner_pays[i]))
    for j, a in enumerate(stations):
        rows.append((f"station {j}", d.withdraw(a), sc.station_deposits[j] + reference.station_receives[j]))
    for m, p in enumerate(sc.proposals):
        if int(d.chain.call("proposals", [d.round_id, m])[2]) == BOND_RELEASED:
            rows.append((f"bond {m}", d.withdraw_bond(owners[p.owner], m), p.bond))
    expected_pool = reference.surplus + (sc.proposals[winner].bond if slashed else 0)
    rec = Reconciliation(rows, d.pool(), expected_pool, d.contract_balance())
    swept = d.events("DustSwept")
    chain_view = {
        "winner": winner,
        "welfare": [int(w) for w in closed["welfare"]],
        "closed": {k: (v if isinstance(v, (bool, int, list)) else str(v)) for k, v in closed.items()},
        "dust": int(swept[-1].args["dust"]) if swept else 0,
        "settled": [{k: (int(v) if isinstance(v, int) else str(v)) for k, v in s.items()} for s in settled],
    }
    events = d.events()
    return RoundRecord(sc, reference, chain_view, audit_events(events), training, acc_bps, votes, slashed, rec,
                       {k: list(v) for k, v in d.gas.items()}, d.address, d.chain.kind, seconds, events)
