"""What a local round among agents came to, read back from the chain: the round's view
(``contracts.round_view``), the reference on what was revealed, every participant's true
values (its own config) and utility, what the agents measured and voted (their result files),
the audit and the reconciliation of every wei (``hcfl_cli.reconcile``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.constants import BOND_RELEASED, BOND_WITHDRAWN


@dataclass(frozen=True)
class Row:
    """One participant at the end."""

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

    @property
    def reconciled(self) -> bool:
        return (all(r.withdrawn is None or r.withdrawn == r.expected for r in self.rows)
                and all(w is None or w == e for w, e in self.bonds.values())
                and self.pool == self.expected_pool and self.contract_balance == self.expected_balance)

    @property
    def ok(self) -> bool:
        return self.audit_ok and self.reconciled


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


def read_outcome(rpc: str, deployment: Path, parties: Sequence[Any], *, bonus_bps: int, peak_rss_kb: int,
                 wall_s: float) -> LocalnetOutcome:
    """The local round of ``deployment`` on the node at ``rpc``, against the reference and the
    true values of ``parties`` (``hcfl_cli.localnet.Party``: name, home, config, address)."""
    from contracts.chain import connect
    from contracts.client import DeploymentClient
    from contracts.deployment_file import DeploymentFile
    from hcfl_cli.agent_config import owner_value, read_config, station_cost
    from hcfl_cli.audit import audit_deployment, reference_of
    from hcfl_cli.documents import Description
    from hcfl_cli.reconcile import reconcile
    from mechanism import utility

    dep = DeploymentFile.read(deployment)
    d = DeploymentClient.attach(dep.address, chain=connect(rpc), sender=parties[0].address)
    events = d.load_events()
    v = d.round(live=False)
    by_addr = {p.address: p for p in parties}
    docs = [Description.from_bytes((by_addr[p.proposer].home / "public" / f"proposal-round{v.round_id}.json")
                                   .read_bytes()) for p in v.proposals]
    ref = None
    if v.owners and v.stations and v.proposals:  # the bonus by the report, or by weight without one
        ref = reference_of(v, bonus_bps, v.contributions if bonus_bps and v.report is not None else None)
    released = [d.proposal(k).bond_state in (BOND_RELEASED, BOND_WITHDRAWN) for k in range(len(v.proposals))]
    rec = reconcile(v, ref, penalty=d.no_show_penalty(), released=released, pool=d.pool(),
                    balance=d.contract_balance())
    expected = {line.who: line for line in rec.rows}
    rows = []
    for m in (*v.owners, *v.stations):
        p = by_addr[m.address]
        cfg = read_config(p.config)
        true = tuple(owner_value(cfg.valuation, doc) if m.role == "owner" else station_cost(cfg.valuation, doc)
                     for doc in docs)
        res = _read_json(p.home / "agent.json") or {}
        rows.append(Row(p.name, m.role, m.index, m.address, m.weight, true,
                        None if m.claims is None else tuple(m.claims), m.withdrawn,
                        expected[f"{m.role} {m.index}"].expected,
                        0 if ref is None else utility(ref, m.role, m.index, list(true)),
                        res.get("measured_accuracy"), res.get("punish"), res.get("refused")))
    bonds = {int(line.who.split()[1]): (line.withdrawn, line.expected) for line in rec.rows
             if line.who.startswith("bond")}
    audits = audit_deployment(d.chain, d.address, events)
    return LocalnetOutcome(d.address, v.winner, [dataclasses.asdict(p) for p in v.proposals], rows, ref, v.slashed,
                           dataclasses.asdict(v.report) if v.report is not None else None,
                           bool(audits) and all(a.ok for a in audits), audit_lines(audits), rec.pool,
                           rec.expected_pool, rec.contract_balance, rec.expected_balance, bonds, peak_rss_kb, wall_s)
