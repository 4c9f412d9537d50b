"""Rich tables that show a settled round to a person (only the CLI prints them)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from hcfl_cli.scenario import GWEI, Scenario
from contracts.onchain import ChainOutcome
from mechanism import Outcome, utility

AnyOutcome = Outcome | ChainOutcome  # the reference's, or the chain's read back from its events


def gwei(wei: int, decimals: int = 2) -> str:
    """Gwei for display, cut (not rounded through a float) to ``decimals`` places."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), GWEI)
    digits = f"{frac:09d}"[:decimals].rstrip("0")
    return f"{sign}{whole:,}" + (f".{digits}" if digits else "")


def proposals_table(sc: Scenario, out: AnyOutcome) -> Table:
    t = Table(title="Proposals and reported welfare S(m) = sum of values - sum of costs (Gwei)")
    for col in ("m", "owner", "target labels", "promised acc.", "budget C_m", "bond", "sum values", "sum costs", "welfare S(m)", ""):
        t.add_column(col, justify="right")
    for m, p in enumerate(sc.proposals):
        mark = "[bold green]winner[/]" if out.winner == m else ""
        t.add_row(str(m), str(p.owner), ",".join(map(str, p.labels)), f"{p.expected_accuracy_bps / 100:.0f}%",
                  gwei(p.budget), gwei(p.bond), gwei(sum(r[m] for r in sc.owner_values)),
                  gwei(sum(r[m] for r in sc.station_costs)), gwei(out.welfare[m]), mark)
    return t


def participants_table(sc: Scenario, out: AnyOutcome) -> Table:
    t = Table(title=f"Participants (rule '{out.rule}'; Gwei; + pays / - receives)")
    t.add_column("who", no_wrap=True)
    for col in ("weight", "claims per proposal", "share at x*", "Clarke tax", "pivotal", "net payment", "utility"):
        t.add_column(col, justify="right")
    for i, row in enumerate(sc.owner_values):
        t.add_row(f"owner {i}", str(sc.owner_weights[i]), " ".join(gwei(v) for v in row), gwei(out.owner_share[i]),
                  gwei(out.owner_tax[i]), "yes" if out.owner_tax[i] > 0 else "", gwei(out.owner_pays[i]),
                  gwei(utility(out, "owner", i, row)))
    for j, row in enumerate(sc.station_costs):
        t.add_row(f"station {j}", str(sc.station_weights[j]), " ".join(gwei(v) for v in row), gwei(out.station_share[j]),
                  gwei(out.station_tax[j]), "yes" if out.station_tax[j] > 0 else "", gwei(-out.station_receives[j]),
                  gwei(utility(out, "station", j, row)))
    return t


def gas_table(gas: dict[str, Sequence[int]], exact: bool = True) -> Table:
    """``exact``: from transaction receipts; else titanoboa's estimate (no real transaction boundaries)."""
    t = Table(title="Gas per contract call" + ("" if exact else " (titanoboa's estimate; --node anvil gives receipts)"))
    for col in ("function", "calls", "min", "max", "total"):
        t.add_column(col, justify="right")
    for name, used in gas.items():
        if used:
            t.add_row(name, str(len(used)), f"{min(used):,}", f"{max(used):,}", f"{sum(used):,}")
    return t


def localnet_tables(out) -> list[Table]:  # type: ignore[no-untyped-def]
    """The end of ``hcfl localnet``: the proposals, every participant (true values, what it
    revealed, paid or received, its utility, what it withdrew against the reference), and the
    owners' own measurements of the model and their votes (``out``: a LocalnetOutcome)."""
    ref = out.reference
    t = Table(title="Proposals (Gwei)")
    for col in ("m", "proposer", "target labels", "promised acc.", "budget C_m", "bond", "welfare S(m)", ""):
        t.add_column(col, justify="right")
    names = {r.address: r.name for r in out.rows}
    for m, p in enumerate(out.proposals):
        mask = int(p["label_mask"])
        t.add_row(str(m), names.get(p["proposer"], p["proposer"][:10]),
                  ",".join(str(lab) for lab in range(10) if mask >> lab & 1), f"{int(p['accuracy_bps']) / 100:.0f}%",
                  gwei(int(p["budget"])), gwei(int(p["bond"])), gwei(ref.welfare[m]) if ref else "",
                  "[bold green]winner[/]" if out.winner == m else "")
    u = Table(title="Participants (Gwei; pays + / receives -; utility with its true values)")
    u.add_column("who", no_wrap=True)
    for col in ("weight", "true claims", "revealed", "tax", "net payment", "utility", "withdrawn", "reference", ""):
        u.add_column(col, justify="right")
    for r in out.rows:
        if ref is None:
            tax, pays = 0, 0
        elif r.role == "owner":
            tax, pays = ref.owner_tax[r.index], ref.owner_pays[r.index]
        else:
            tax, pays = ref.station_tax[r.index], -ref.station_receives[r.index]
        same = r.revealed is not None and tuple(r.revealed) == tuple(r.true_claims)
        u.add_row(r.name, str(r.weight), " ".join(gwei(c) for c in r.true_claims),
                  ("truthful" if same else " ".join(gwei(c) for c in r.revealed)) if r.revealed is not None else "none",
                  gwei(tax), gwei(pays), gwei(r.utility), "-" if r.withdrawn is None else gwei(r.withdrawn),
                  gwei(r.expected), "" if r.withdrawn is None else ("[green]=[/]" if r.withdrawn == r.expected
                                                                      else "[red]differs[/]"))
    v = Table(title="The owners' own judgement of the model (their held-out sets, the target labels)")
    for col in ("owner", "measured accuracy", "promised", "vote", "note"):
        v.add_column(col, justify="right")
    promised = int(out.proposals[out.winner]["accuracy_bps"]) if out.winner is not None else 0
    for r in out.rows:
        if r.role != "owner" or r.punish is None:
            continue
        v.add_row(r.name, "-" if r.measured is None else f"{r.measured:.2%}", f"{promised / 100:.2f}%",
                  "punish" if r.punish else "keep", (r.refused or "")[:60])
    return [t, u, v]
