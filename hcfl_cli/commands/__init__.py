"""The ``hcfl`` commands, one module each (its parser and its handler), in the order
``hcfl --help`` lists them; ``hcfl_cli.main`` assembles them.

A command module has ``add_parser(sub)``, which adds its subparser to ``sub`` (an argparse
``_SubParsersAction``) and sets ``func`` to its handler, and the handler ``run(args) -> int``
(the exit status). Shared options and printing live in ``hcfl_cli.commands.common``.
"""

COMMANDS: tuple[str, ...] = (
    "demo", "round", "audit", "web", "account", "experiment",
    "deploy", "admit", "fund", "node_key", "status",
    "register", "propose", "commit", "reveal", "settle", "report", "vote", "withdraw", "advance", "close", "finalize",
    "start_round", "models", "agent", "localnet",
)
"""Module names under ``hcfl_cli.commands`` (``node_key`` is the command ``hcfl node-key``)."""
