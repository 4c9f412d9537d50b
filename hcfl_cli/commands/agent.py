"""``hcfl agent``: one participant's long-running agent, acting at every phase of its round."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import add_key_options, key_options


def add_parser(sub: Any) -> None:
    p = sub.add_parser("agent", help="run one participant's agent: it serves every round of its deployment",
                       description="One long-running process per participant: it serves every round of its "
                       "deployment, watching each (phase and events, polling with back-off) and acting at every "
                       "phase with the participant commands: register, propose what it still wants trained (an "
                       "owner with proposals), commit its valuation (the round's subsidy in the owners' shares), "
                       "reveal, settle and withdraw; as the winner it trains the proposal on Flower with the "
                       "registered stations, publishes the model and reports; as a station it serves its own data "
                       "as an authenticated SuperNode; as an owner it judges the model on its own held-out data "
                       "and votes. It keeps the rounds moving (advance, close, finalize after a deadline, "
                       "start_round after a finalize). SIGTERM or Ctrl-C: it registers in no new round, finishes "
                       "the round it is registered in, withdraws what it can and exits 0 (a second signal stops "
                       "it at once). Killed and restarted with the same command, it carries on from the chain and "
                       "its secret store. The config format is in hcfl_cli/agent_config.py and "
                       "docs/participants.md.")
    p.add_argument("--deployment", type=Path, help="the deployment file (hcfl deploy); the agent waits for it "
                   "to appear")
    p.add_argument("--config", required=True, type=Path, help="this participant's TOML config")
    p.add_argument("--rpc", help="JSON-RPC URL of the node (default: rpc in the config)")
    p.add_argument("--bonus-bps", type=int, help="take part only if the deployment's station bonus (SPEC section 9, "
                   "fixed by hcfl deploy --bonus-bps) is this many basis points; default: whatever it is (printed "
                   "when the agent attaches); a station credits and withdraws its bonus after finalize either way")
    p.add_argument("--rounds", type=int, default=0, metavar="N", help="stop once this participant has taken "
                   "part in N rounds of the deployment (registered, finalized, everything of its own withdrawn; "
                   "counted from the chain, so a restarted agent stops at the same round); default 0: until stopped")
    p.add_argument("--make-node-key", action="store_true", help="a station: make its Flower node key pair in "
                   "its flower folder (once) and print the public key's file, for the organizer's ticket; then exit "
                   "(the same as hcfl node-key --folder FLOWER)")
    add_key_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.agent import run_agent
    from hcfl_cli.agent_config import read_config

    cfg = read_config(args.config)
    if args.make_node_key:
        from hcfl_cli.commands import node_key

        if cfg.role != "station":
            raise ValueError("--make-node-key: only a station has a Flower node key")
        return node_key.run(argparse.Namespace(folder=cfg.flower))
    if args.deployment is None:
        raise ValueError("--deployment: the deployment file is needed to run the agent")
    rpc = args.rpc or cfg.rpc
    if not rpc:
        raise ValueError("--rpc: give the node's URL here or as rpc in the config")
    try:
        return run_agent(cfg, args.deployment, key_options(args), rpc, expect_bonus_bps=args.bonus_bps,
                         rounds=args.rounds)
    except KeyboardInterrupt:
        print(f"[{cfg.name}] stopped", flush=True)
        return 130
