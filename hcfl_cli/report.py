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
