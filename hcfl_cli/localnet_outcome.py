"""What the rounds of a local deployment among agents came to, read back from the chain: each
round's view (``contracts.round_view``), the reference on what was revealed (with the
round's recycled subsidy), every participant's true values (its own config) and utility,
what the agents measured and voted (their result files), the audit and the reconciliation of
every wei of every round (``hcfl_cli.reconcile``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcfl_cli.agent_record import RESULT_FILE


@dataclass(frozen=True)
class Row:
    """One participant of one round."""

    name: str
    role: str
    index: int
    address: str
    weight: int
    true_claims: tuple[int, ...]
    revealed: tuple[int, ...] | None
    withdrawn: int | None
    expected: int
    utility: int
    measured: float | None = None
    punish: bool | None = None
    refused: str | None = None


@dataclass(frozen=True)
class LocalnetOutcome:
    """One round: its outcome, rows, audit and reconciliation (``pool``: what the round put into
    the recycle pool, against ``expected_pool``; the contract's balance is the deployment's
    now, against the pool now and what every round still owes)."""

    address: str
    winner: int | None
    proposals: list[dict[str, Any]]  # the Proposed records' fields, by index
    rows: list[Row]
    reference: Any  # mechanism.Outcome on the revealed claims
    slashed: bool | None
    reported: dict[str, Any] | None  # the TrainingReported record's fields
    audit_ok: bool
    audit_lines: list[str]
    pool: int
    expected_pool: int
    contract_balance: int
    expected_balance: int
    bonds: dict[int, tuple[int | None, int]]  # proposal -> (withdrawn, expected)
    peak_rss_kb: int
    wall_s: float
    round_id: int = 1
    subsidy: int = 0  # the pool carried into the round
    subsidy_used: int = 0  # what of it the winner's budget took
    plans: list[str | None] = field(default_factory=list)  # each proposal's name in its proposer's plan

    @property
    def reconciled(self) -> bool:
        return (all(r.withdrawn is None or r.withdrawn == r.expected for r in self.rows)
                and all(w is None or w == e for w, e in self.bonds.values())
                and self.pool == self.expected_pool and self.contract_balance == self.expected_balance)

    @property
    def ok(self) -> bool:
        return self.audit_ok and self.reconciled

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)


@dataclass(frozen=True)
class LocalnetRun:
    """Every round of the deployment, and what the run measured."""

    rounds: list[LocalnetOutcome]
    peak_rss_kb: int
    peak_by_round: dict[int, int]  # round -> the agents' memory together at its peak (kB)
    times: dict[int, tuple[float, float | None]]  # round -> (seen started, seen finalized), s from deployment
    wall_s: float
    agents: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # name -> round -> its record
    reconciliation: Any = None  # hcfl_cli.reconcile.DeploymentReconciliation

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and all(r.ok for r in self.rounds) and bool(self.reconciliation.ok)

    @property
    def last(self) -> LocalnetOutcome:
        return self.rounds[-1]

    def utilities(self) -> dict[str, dict[int, int]]:
        """Participant name -> round -> its utility with its true values."""
        out: dict[str, dict[int, int]] = {}
        for o in self.rounds:
            for r in o.rows:
                out.setdefault(r.name, {})[o.round_id] = r.utility
        return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def audit_lines(audits: Sequence[Any]) -> list[str]:
    """One line per audited round (and one per difference under it)."""
    lines = []
    for a in audits:
        state = ("not auditable: " + str(a.unauditable)) if not a.auditable else (
            "matches the reference" if a.ok else "DIFFERS")
        lines.append(f"round {a.round_id}: {a.participants} participants, {a.proposals} proposals: {state}")
        lines += [f"   {x}" for x in a.differences]
    return lines


def agent_records(home: Path) -> dict[int, dict[str, Any]]:
    """An agent's result file's records, by round."""
    res = _read_json(home / RESULT_FILE) or {}
    return {int(k): v for k, v in dict(res.get("rounds", {})).items()}


def read_run(rpc: str, deployment: Path, parties: Sequence[Any], *, bonus_bps: int, peak_by_round: dict[int, int],
             times: dict[int, tuple[float, float | None]], peak_rss_kb: int, wall_s: float) -> LocalnetRun:
    """Every round of ``deployment`` on the node at ``rpc``, against the reference and the true
    values of ``parties`` (``hcfl_cli.localnet.Party``: name, home, config, address)."""
    from contracts.chain import connect
    from contracts.client import DeploymentClient
    from contracts.deployment_file import DeploymentFile
    from contracts.round_view import fold_rounds, pool_ledger
    from hcfl_cli.audit import audit_deployment, reference_of
    from hcfl_cli.reconcile import reconcile_rounds, released_bonds

    dep = DeploymentFile.read(deployment)
    d = DeploymentClient.attach(dep.address, chain=connect(rpc), sender=parties[0].address)
    events = d.load_events()
    views = list(fold_rounds(events).values())
    refs = [reference_of(v, bonus_bps, v.contributions if bonus_bps and v.report is not None else None)
            if v.owners and v.stations and v.proposals else None for v in views]
    released = [released_bonds(d, v) for v in views]
    rec = reconcile_rounds(views, refs, penalty=d.no_show_penalty(), released=released,
                           ledger=pool_ledger(events), pool=d.pool(), balance=d.contract_balance())
    audits = {a.round_id: a for a in audit_deployment(d.chain, d.address, events)}
    records = {p.name: agent_records(p.home) for p in parties}
    rounds = [_round(v, ref, r, audits.get(v.round_id), parties, records, rec, d.address,
                     peak_by_round.get(v.round_id, 0), times.get(v.round_id))
              for v, ref, r in zip(views, refs, rec.rounds)]
    return LocalnetRun(rounds, peak_rss_kb, peak_by_round, times, wall_s, records, rec)


def _round(v: Any, ref: Any, rec: Any, audit: Any, parties: Sequence[Any], records: dict[str, Any], total: Any,
           address: str, peak_kb: int, time_s: tuple[float, float | None] | None) -> LocalnetOutcome:
    """One round's outcome (``rec``: its reconciliation, ``total``: the deployment's)."""
    from hcfl_cli.agent_config import owner_value, read_config, station_cost
    from hcfl_cli.agent_proposals import document_path, plan_of
    from hcfl_cli.documents import Description
    from mechanism import utility

    by_addr = {p.address: p for p in parties}
    plans = [plan_of(by_addr[p.proposer].home, v.round_id, p.content_hash) for p in v.proposals]
    docs = [Description.from_bytes(document_path(by_addr[p.proposer].home, v.round_id, str(name)).read_bytes())
            for p, name in zip(v.proposals, plans)]
    expected = {line.who: line for line in rec.rows}
    rows = []
    for m in (*v.owners, *v.stations):
        p = by_addr[m.address]
        cfg = read_config(p.config)
        true = tuple(owner_value(cfg.valuation, doc) if m.role == "owner" else station_cost(cfg.valuation, doc)
                     for doc in docs)
        res = records.get(p.name, {}).get(v.round_id, {})
        rows.append(Row(p.name, m.role, m.index, m.address, m.weight, true,
                        None if m.claims is None else tuple(m.claims), m.withdrawn,
                        expected[f"{m.role} {m.index}"].expected,
                        0 if ref is None else utility(ref, m.role, m.index, list(true)),
                        res.get("measured_accuracy"), res.get("punish"), res.get("refused")))
    bonds = {int(line.who.split()[1]): (line.withdrawn, line.expected) for line in rec.rows
             if line.who.startswith("bond")}
    lines = audit_lines([audit]) if audit is not None else [f"round {v.round_id}: no events to audit"]
    wall = (time_s[1] - time_s[0]) if time_s and time_s[1] is not None else 0.0
    return LocalnetOutcome(address, v.winner, [dataclasses.asdict(p) for p in v.proposals], rows, ref, v.slashed,
                           dataclasses.asdict(v.report) if v.report is not None else None,
                           audit is not None and audit.ok, lines, rec.pool, rec.expected_pool,
                           total.contract_balance, total.expected_balance, bonds, peak_kb, wall, v.round_id,
                           v.subsidy, v.closed.subsidy_used if v.closed is not None else 0, plans)
