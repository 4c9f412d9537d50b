"""What ``hcfl localnet`` prints: for each round the proposals, every participant (true values,
what it revealed, paid or received, its utility, what it withdrew against the reference) and
the owners' own judgement of the model, with the training report, the audit and the
reconciliation; then a summary across rounds: the pool carried into each round and the
subsidy it gave, who won what, each participant's utility per round and in total."""

from __future__ import annotations

from rich.table import Table

from hcfl_cli.localnet_outcome import LocalnetOutcome, LocalnetRun
from hcfl_cli.report import gwei


def round_tables(out: LocalnetOutcome) -> list[Table]:
    """The tables of one round."""
    ref = out.reference
    r = out.round_id
    t = Table(title=f"Round {r}: proposals (Gwei)")
    for col in ("m", "proposer", "plan", "target labels", "promised acc.", "budget C_m", "bond", "welfare S(m)", ""):
        t.add_column(col, justify="right")
    names = {row.address: row.name for row in out.rows}
    for m, p in enumerate(out.proposals):
        mask = int(p["label_mask"])
        t.add_row(str(m), names.get(p["proposer"], p["proposer"][:10]), (out.plans[m] if m < len(out.plans) else None)
                  or "", ",".join(str(lab) for lab in range(10) if mask >> lab & 1),
                  f"{int(p['accuracy_bps']) / 100:.0f}%", gwei(int(p["budget"])), gwei(int(p["bond"])),
                  gwei(ref.welfare[m]) if ref else "", "[bold green]winner[/]" if out.winner == m else "")
    u = Table(title=f"Round {r}: participants (Gwei; pays + / receives -; utility with its true values)")
    u.add_column("who", no_wrap=True)
    for col in ("weight", "true claims", "revealed", "tax", "net payment", "utility", "withdrawn", "reference", ""):
        u.add_column(col, justify="right")
    for row in out.rows:
        if ref is None:
            tax, pays = 0, 0
        elif row.role == "owner":
            tax, pays = ref.owner_tax[row.index], ref.owner_pays[row.index]
        else:
            tax, pays = ref.station_tax[row.index], -ref.station_receives[row.index]
        same = row.revealed is not None and tuple(row.revealed) == tuple(row.true_claims)
        u.add_row(row.name, str(row.weight), " ".join(gwei(c) for c in row.true_claims),
                  ("truthful" if same else " ".join(gwei(c) for c in row.revealed)) if row.revealed is not None
                  else "none", gwei(tax), gwei(pays), gwei(row.utility),
                  "-" if row.withdrawn is None else gwei(row.withdrawn), gwei(row.expected),
                  "" if row.withdrawn is None else ("[green]=[/]" if row.withdrawn == row.expected
                                                    else "[red]differs[/]"))
    v = Table(title=f"Round {r}: the owners' own judgement of the model (their held-out sets, the target labels)")
    for col in ("owner", "measured accuracy", "promised", "vote", "note"):
        v.add_column(col, justify="right")
    promised = int(out.proposals[out.winner]["accuracy_bps"]) if out.winner is not None else 0
    for row in out.rows:
        if row.role != "owner" or row.punish is None:
            continue
        v.add_row(row.name, "-" if row.measured is None else f"{row.measured:.2%}", f"{promised / 100:.2f}%",
                  "punish" if row.punish else "keep", (row.refused or "")[:60])
    return [t, u, v]


def round_lines(out: LocalnetOutcome) -> list[str]:
    """The training report, the audit and the reconciliation of one round (rich markup)."""
    lines = []
    r = out.round_id
    if out.reported:
        rep = out.reported
        lines.append(f"round {r}: training report: accuracy {rep['accuracy_bps'] / 100:.2f}%, contributions "
                     f"{list(rep['contributions'])}, model {rep['model_uri']}; bond "
                     + ("[red]SLASHED[/] to the pool" if out.slashed else "returned"))
    lines += [f"audit from the logs: {line}" for line in out.audit_lines]
    withdrawals = all(row.withdrawn is None or row.withdrawn == row.expected for row in out.rows)
    lines.append(f"round {r}: reconciliation: every withdrawal equals the reference to the wei: "
                 f"{'[green]yes[/]' if withdrawals else '[red]NO[/]'}; into the pool {gwei(out.pool)} Gwei = "
                 f"subsidy left + surplus{' + slashed bond' if out.slashed else ''} {gwei(out.expected_pool)} Gwei"
                 + ("" if out.pool == out.expected_pool else " [red]DIFFERS[/]"))
    return lines


def summary_tables(run: LocalnetRun) -> list[Table]:
    """Across rounds: each round's pool, subsidy, winner and checks; each participant's utility."""
    t = Table(title="Rounds (Gwei): the pool carried in is the round's subsidy; it lowers the winner's owners' shares")
    for col in ("round", "pool carried in", "subsidy used", "winner", "budget C", "owners' shares of C", "taxes",
                "bond", "audit", "reconciled", "time s", "peak MiB"):
        t.add_column(col, justify="right")
    for o in run.rounds:
        ref = o.reference
        names = {row.address: row.name for row in o.rows}
        if o.winner is not None and ref is not None:
            p = o.proposals[o.winner]
            plan = o.plans[o.winner] if o.winner < len(o.plans) else None
            winner = f"{o.winner} ({names.get(p['proposer'], '?')}" + (f" {plan})" if plan else ")")
            budget, shares = gwei(int(p["budget"])), gwei(sum(ref.owner_share))
        else:
            winner, budget, shares = "none", "-", "-"
        taxes = gwei(sum(ref.owner_tax) + sum(ref.station_tax)) if ref is not None else "-"
        bond = "-" if o.slashed is None or o.winner is None else ("slashed" if o.slashed else "returned")
        t.add_row(str(o.round_id), gwei(o.subsidy), gwei(o.subsidy_used), winner, budget, shares, taxes, bond,
                  "[green]ok[/]" if o.audit_ok else "[red]differs[/]",
                  "[green]yes[/]" if o.reconciled else "[red]NO[/]", f"{o.wall_s:.0f}" if o.wall_s else "-",
                  f"{o.peak_rss_kb / 1024:.0f}")
    utilities = run.utilities()
    rounds = [o.round_id for o in run.rounds]
    u = Table(title="Utility per round with each participant's true values (Gwei; blank: not registered)")
    u.add_column("who", no_wrap=True)
    for r in rounds:
        u.add_column(f"round {r}", justify="right")
    u.add_column("total", justify="right")
    def order(name: str) -> tuple[str, int]:
        return name.rstrip("0123456789"), int("".join(ch for ch in name if ch.isdigit()) or 0)

    for name, by_round in sorted(utilities.items(), key=lambda kv: order(kv[0])):
        u.add_row(name, *(gwei(by_round[r]) if r in by_round else "" for r in rounds), gwei(sum(by_round.values())))
    return [t, u]
