"""The ``hcfl`` command: a full crowdfunding round, its audit, the paper's experiments, and
the participant's commands, one per step of a round.

This module only assembles: every command is a module of ``hcfl_cli.commands`` with its
parser and its handler (as Flower's ``flwr/cli/``), listed in ``hcfl_cli.commands.COMMANDS``.
To add a command ``hcfl NAME``:

1. write ``hcfl_cli/commands/NAME.py`` with ``add_parser(sub)`` (``sub.add_parser("NAME", ...)``,
   its options, ``set_defaults(func=run)``) and ``run(args) -> int``; take the shared options
   and printing from ``hcfl_cli.commands.common`` (``add_chain_options``, ``add_key_options``,
   ``open_session``, ``say``, ``print_step``) and the checks of a deployment's parameters from
   ``contracts.parameters``;
2. add ``"NAME"`` to ``COMMANDS`` where ``hcfl --help`` should list it;
3. add a row to the README's command table, and a test that runs it.

Errors reach the user as one line, never a traceback: bad input is a ``ValueError`` naming the
option (exit 2); a refusal by the contract its reason (exit 1); a node's failure (a refused
method, a rate limit, a timeout, too little balance) a line that names the node (exit 1).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hcfl_cli.commands import COMMANDS
from hcfl_cli.commands.common import console, join_values

__all__ = ["build_parser", "console", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcfl",
        description="Truthful crowdfunding for hierarchical federated learning: run a round on a chain, "
        "audit it, reproduce the paper's experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hcfl_cli.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_values(sys.argv[1:] if argv is None else argv))
    from contracts.chain import Reverted
    from contracts.transport import NotMined, node_error

    try:
        return int(args.func(args))
    except ValueError as e:
        # Bad input: one line naming the option or field, no traceback.
        print(f"hcfl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Reverted as e:
        # The contract refused a transaction: its reason, in one line.
        print(f"hcfl {args.command}: the contract refused {e.fn}: {e.reason}", file=sys.stderr)
        return 1
    except NotMined as e:
        # A transaction the node did not mine in time: it may still be mined; re-running
        # the command reads the chain first and does not send it twice.
        print(f"hcfl {args.command}: {e} (run the command again once the node is up)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hcfl: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # A node that refused a request, limited its rate, timed out or cannot be reached.
        err = node_error(e, getattr(args, "rpc", None))
        if err is None:
            raise
        print(f"hcfl {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
