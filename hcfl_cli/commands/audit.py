"""``hcfl audit``: rebuild every round of a deployment from its event logs alone and re-check it."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import console


def add_parser(sub: Any) -> None:
    p = sub.add_parser("audit", help="rebuild every round from a deployment's event logs and re-check it",
                       description="Rebuild every round of a deployed HCFL contract from its event logs alone, "
                       "recompute it with mechanism.settle and report any difference (exit 1 if any).")
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the node")
    p.add_argument("--address", required=True, help="address of the HCFL contract")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.audit import audit_deployment, attach_chain

    audits = audit_deployment(attach_chain(args.rpc, args.address), args.address)
    if not audits:
        raise ValueError(f"--address: no HCFL round found in the logs of {args.address}")
    for a in audits:
        if not a.auditable:
            status = f"[yellow]not auditable[/]: {a.unauditable}"
        else:
            status = "[green]matches the reference[/]" if a.ok else "[red]DIFFERS[/]"
        console.print(f"round {a.round_id}: {a.participants} participants, {a.proposals} proposals: {status}")
        for d in a.differences:
            console.print(f"   {d}")
    audited = [a for a in audits if a.auditable]
    if not audited:
        console.print("[red]no round of this deployment could be audited yet[/]")
    return 0 if audited and all(a.ok for a in audited) else 1
