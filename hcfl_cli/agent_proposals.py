"""An owner's proposals over time: what it still wants trained, round after round.

An owner's config lists the proposals it wants trained (``[proposal]`` or ``[[proposals]]``),
and its ``proposals_dir`` holds more, one TOML file each (the same fields as ``[proposal]``;
the file's stem is its name), read again at every round's Propose phase: dropping a file
into the folder adds a proposal while the agent runs, removing one (before it is proposed)
withdraws it. Each round the owner proposes, in that order (the config's first, then the
folder's by name), the proposals it still wants, up to its ticket's allowance: a proposal
that won a round and whose training was reported is done and not proposed again; one that
lost, or won and was never reported, is proposed again.

What was trained is read from the chain, not remembered: a proposal's description document
of round ``r`` is the file ``public/proposal-round{r}-{name}.json`` of the owner's own folder
(written once, so that a restart proposes the same hash), and a round's winning proposal is
this owner's plan ``name`` when its content hash is that file's sha256.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from contracts.round_view import RoundView
from hcfl_cli.agent_config import ProposalPlan, proposal_from_dict
from hcfl_cli.documents import sha256_file

DOCUMENT_GLOB = "proposal-round{round}-*.json"


def document_path(work: Path, round_id: int, name: str) -> Path:
    """Where the description document of plan ``name`` for round ``round_id`` is written."""
    return work / "public" / f"proposal-round{round_id}-{name}.json"


def folder_plans(folder: Path | None, say_once: Callable[[str], None]) -> list[ProposalPlan]:
    """The proposals of ``folder`` (``*.toml``, by name); a file that does not read is said
    once and left out, so that a half-written file is taken at the next round."""
    if folder is None or not folder.is_dir():
        return []
    plans = []
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
            plans.append(proposal_from_dict(data, f"{path.name}: ", path.stem))
        except (OSError, ValueError) as e:  # TOMLDecodeError is a ValueError
            say_once(f"proposals_dir: {path} left out: {e}")
    return plans


def wanted(config_plans: Sequence[ProposalPlan], folder: Path | None, trained: Iterable[str],
           say_once: Callable[[str], None]) -> list[ProposalPlan]:
    """The proposals still wanted, in order: the config's, then the folder's; a name seen
    twice is taken once (the first), a trained one not at all."""
    done = set(trained)
    out: list[ProposalPlan] = []
    seen: set[str] = set()
    for p in [*config_plans, *folder_plans(folder, say_once)]:
        if p.name in seen:
            say_once(f"proposals: two proposals are named {p.name!r}: the first is kept")
            continue
        seen.add(p.name)
        if p.name not in done:
            out.append(p)
    return out


def plan_of(work: Path, round_id: int, content_hash: bytes) -> str | None:
    """The plan name whose document of round ``round_id`` has sha256 ``content_hash``."""
    public = work / "public"
    want = content_hash.hex()
    for path in sorted(public.glob(DOCUMENT_GLOB.format(round=round_id))):
        if sha256_file(path) == want:
            return path.stem.removeprefix(f"proposal-round{round_id}-")
    return None


def trained_in(view: RoundView, address: str, work: Path) -> str | None:
    """The plan name of this owner's proposal that won round ``view`` and was reported (None
    if none did)."""
    w = view.winning_proposal
    if w is None or view.report is None or w.proposer.lower() != address.lower():
        return None
    return plan_of(work, view.round_id, w.content_hash)


def proposed_in(view: RoundView, address: str, work: Path) -> list[str]:
    """The plan names of this owner's proposals in round ``view``."""
    return [n for p in view.proposals_of(address) if (n := plan_of(work, view.round_id, p.content_hash))]
