"""The participant side of HCFL: one step per phase of a round, on a participant's own
machine, with its own key (SPEC section 8).

Every function here returns a frozen dataclass and prints nothing (the command modules of
``hcfl_cli.commands`` print). A step first opens a ``Session``: the node's chain id and the
keccak of the code at the deployment file's address must equal the file's, and the key must
be allowed to sign on that chain, before anything is sent. Then each step reads the
participant's status on chain (the round's view, ``contracts.round_view``) and does nothing
that is already done, so running a command twice is safe (the answer is "already done").
With ``dry_run`` a step reports the call it would send (function, public arguments, value,
gas estimate and fees) and sends nothing; the claims and salt of a commit are never shown.

Sending is the chain client's (``contracts.pipeline``): a command killed after it broadcast
a transaction and before it saw it mined loses nothing, because every signed transaction
is written to the participant's outbox before it is broadcast, and a ``Session`` first waits
for what an earlier run left in flight (resending it at the same nonce with a higher fee,
capped, when it is not mined in time), so the step then reads a chain that includes it and
sends nothing twice.

Bad input is a ``ValueError`` naming the option or the field; a refusal by the contract is
``contracts.chain.Reverted`` with its reason, raised by the dry run before anything is sent.

The organizer's steps are ``hcfl_cli.organizer`` (deploy, admit, fund) and the round's status
is ``hcfl_cli.round_status``; their names are served from here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from contracts.commitments import ZERO32, contributions_hash, report_chunks
from contracts.constants import (BOND_RELEASED, BOND_SLASHED, BOND_WITHDRAWN, PHASES, ROLE_NAMES, ROLE_OWNER,
                                 ROLE_STATION, STATUS_BONUS)
from contracts.deployment_file import DeploymentFile, check_deployment, code_hash
from contracts.keys import KeyOptions
from contracts.pipeline import (RESEND_AFTER_S, CaughtUp, Planned, Sent, StepResult, catch_up, env_resend_after,
                                event_note)
from contracts.round_view import CLOSED_PHASES, MOVERS, RoundView
from hcfl_cli.inputs import file_digest, parse_amounts, read_bytes, read_claims


# -- sessions -----------------------------------------------------------------------------
class Session:
    """One participant attached to one deployment, checked before anything is sent."""

    def __init__(self, rpc: str, deployment: Path, keys: KeyOptions, *, dry_run: bool = False,
                 resend_after: float = RESEND_AFTER_S, catch_up: bool | None = None,
                 max_fee: int | None = None) -> None:
        """``catch_up``: first wait for this key's transactions still in flight (``catch_up``);
        by default unless ``dry_run``, which sends nothing and so replaces nothing either.
        ``max_fee``: the most any of its transactions offers per gas (wei; see
        ``contracts.rpc_chain``)."""
        from contracts.chain import connect
        from contracts.client import DeploymentClient
        from contracts.keys import check_signer
        from contracts.outbox import Outbox
        from contracts.pipeline import Sender

        self.file = DeploymentFile.read(deployment)
        self.key = keys.load()  # a wrong password fails here, before the network is touched
        self.chain = connect(rpc, max_fee=max_fee)
        check_deployment(self.chain, self.file)
        check_signer(self.key, self.chain.chain_id)
        self.address: str = self.chain.add_account(self.key.key)
        self.d = DeploymentClient.attach(self.file.address, chain=self.chain, sender=self.address)
        self.dry_run = dry_run
        self.resend_after = resend_after
        self.outbox = Outbox(self.chain.chain_id, self.address)
        self.sender = Sender(self.chain, self.address, self.outbox, dry_run=dry_run, resend_after=resend_after)
        # what catch_up found in flight when the session opened, one note each
        self.recovered: tuple[str, ...] = ()
        if catch_up if catch_up is not None else not dry_run:
            self.recovered = self.catch_up()

    def catch_up(self, timeout: float | None = None) -> tuple[str, ...]:
        """Wait until every transaction this key has in flight is mined; one note for each."""
        return self.sender.catch_up(timeout).notes

    def send(self, command: str, calls: Sequence[tuple[str, list[Any], int, dict[str, Any]]],
             already: Sequence[str] = (), notes: Sequence[str] = (), in_order: bool = False) -> StepResult:
        """``contracts.pipeline.Sender.send`` with this participant's key and outbox."""
        return self.sender.send(command, calls, already, notes, in_order)

    # views
    @property
    def round_id(self) -> int:
        """The round the steps act on: the current one when the session opened, or the one
        ``use_round`` chose."""
        return self.d.round_id

    def use_round(self, round_id: int | None = None) -> int:
        """Act on round ``round_id`` from now on (default: the deployment's current round, read
        now); returns it. An agent follows the deployment from round to round with it, and
        takes out what is left of an earlier round."""
        self.d.round_id = self.d.views.current_round() if round_id is None else round_id
        return self.d.round_id

    def round(self) -> RoundView:
        """The current round as the chain has it now (every event read again, after the
        chain's state; this participant's stored record as ``me``)."""
        return self.d.round(me=self.address, reload=True)

    def phase(self) -> str:
        return self.d.phase()

    def deadline(self) -> int:
        return self.d.deadline()

    def me(self) -> Any:
        return self.d.participant(self.address)

    def need_phase(self, command: str, *phases: str, before_deadline: bool = False) -> str:
        """The current phase, if it is one of ``phases`` (and, with ``before_deadline``, its
        deadline has not passed); else ``ValueError`` saying when."""
        p = self.phase()
        if p not in phases:
            raise ValueError(f"phase: {command} needs the {' or '.join(phases)} phase; round {self.round_id} "
                             f"is in {p}{self._until()}")
        if before_deadline and self.chain.now() >= self.deadline():
            raise ValueError(f"phase: the {p} phase of round {self.round_id} ended at {self.deadline()}; "
                             f"too late to {command}")
        return p

    def need_deadline_over(self, command: str) -> None:
        left = self.deadline() - self.chain.now()
        if left > 0:
            raise ValueError(f"phase: {command} waits for the end of {self.phase()}, {left} s from now "
                             f"(deadline {self.deadline()})")

    def _until(self) -> str:
        p = self.phase()
        if p == "Finalized":
            return ""
        return f" until {self.deadline()} ({max(0, self.deadline() - self.chain.now())} s from now)"


# -- the steps ----------------------------------------------------------------------------
def register(s: Session, *, ticket: Path | None, deposit: int, role: str | None = None,
             node_public_key_file: Path | None = None) -> StepResult:
    """Register with a ticket and a deposit (wei)."""
    from contracts.tickets import Ticket, node_key_hash

    me = s.me()
    if me.role:
        return StepResult("register", already=(f"registered as {ROLE_NAMES[me.role]} {me.index} in round "
                                               f"{s.round_id} with {me.amount} wei",))
    s.need_phase("register", "Register", before_deadline=True)
    if deposit <= 0:
        raise ValueError(f"--deposit: must be positive wei, got {deposit}")
    pub = read_bytes(node_public_key_file, "--node-public-key") if node_public_key_file else b""
    t = None
    if ticket is not None:
        try:
            t = Ticket.from_json(json.loads(read_bytes(ticket, "--ticket")))
        except json.JSONDecodeError:
            raise ValueError(f"--ticket: {ticket} is not JSON") from None
        if t.participant != s.address:
            raise ValueError(f"--ticket: it admits {t.participant}, not this key's {s.address}")
        if (t.chain_id, to_checksum_address(t.contract)) != (s.file.chain_id, s.file.address):
            raise ValueError(f"--ticket: it is for contract {t.contract} on chain {t.chain_id}, not this deployment")
        if t.node_key != node_key_hash(pub):
            raise ValueError("--node-public-key: it does not match the ticket's node key")
        if role is not None and role != t.role:
            raise ValueError(f"--role: the ticket admits a {t.role}")
        role = t.role
    elif s.d.organizer() is not None:
        raise ValueError(f"--ticket: this deployment admits by the organizer's tickets ({s.d.organizer()})")
    if role is None:
        raise ValueError("--role: an open deployment needs owner or station")
    weight = t.weight if t else 1
    if role == "owner" and deposit < weight * s.d.deposit_per_weight():
        raise ValueError(f"--deposit: an owner of weight {weight} deposits at least "
                         f"{weight * s.d.deposit_per_weight()} wei")
    args = s.d.register_args(role, t, pub)
    shown = {"round": s.round_id, "role": role, "weight": weight}
    return s.send("register", [("register", args, deposit, shown)])


def propose(s: Session, *, budget: int, bond: int, document: Path, uri: str, accuracy_bps: int,
            training_rounds: int, label_mask: int, param_count: int) -> StepResult:
    """Post a proposal (its description document's sha256 on chain, its URI in the log)."""
    content = file_digest(document, "--document")
    me = s.me()
    for p in s.round().proposals_of(s.address):
        if p.content_hash == content:
            return StepResult("propose", already=(f"proposal {p.index} of this document is posted",))
    if me.role != ROLE_OWNER:
        raise ValueError("--account: only a registered owner proposes")
    s.need_phase("propose", "Propose", before_deadline=True)
    if bond < s.d.min_bond():
        raise ValueError(f"--bond: the deployment's least bond is {s.d.min_bond()} wei")
    args = [s.round_id, budget, content, uri, accuracy_bps, training_rounds, label_mask, param_count]
    shown = {"round": s.round_id, "budget": budget, "content_hash": "0x" + content.hex(), "uri": uri,
             "accuracy_bps": accuracy_bps, "training_rounds": training_rounds, "label_mask": label_mask,
             "param_count": param_count}
    return s.send("propose", [("propose", args, bond, shown)])


def _store(s: Session) -> Any:
    from contracts.secret_store import SecretStore

    return SecretStore(s.key)


def commit(s: Session, claims: list[int] | None) -> StepResult:
    """Seal ``claims`` (one per proposal, in proposal-index order). The secret is stored
    (fsynced) before the commit is sent; a re-run checks the stored secret against the chain
    and re-commits if they differ."""
    from contracts.commitments import commitment
    from contracts.secret_store import verify

    me = s.me()
    if not me.role:
        raise ValueError(f"--account: {s.address} is not registered in round {s.round_id}")
    store = _store(s)
    kept = store.load(s.file.chain_id, s.file.address, s.round_id)
    on_chain = bytes(me.commitment)
    if claims is None:
        if kept is None:
            raise ValueError(f"--claims: no secret stored in {store.folder} for round {s.round_id}; give the claims")
        if on_chain != ZERO32 and verify(kept, on_chain):
            return StepResult("commit", already=("committed; the stored secret opens the commitment on chain",))
        claims = kept.claims  # stored but not (or not this) on chain: a crash before the broadcast; send it
    if me.revealed:
        return StepResult("commit", already=("revealed already",))
    new = store.new_secret(s.file.chain_id, s.file.address, s.round_id, claims)
    if on_chain != ZERO32 and new.commitment() == on_chain:
        if kept is None or not verify(kept, on_chain):
            store.save(new)  # the store lost it (or holds another): keep the one that opens the chain's
        return StepResult("commit", already=("committed with these claims",))
    s.need_phase("commit", "Commit", before_deadline=True)
    m = s.d.views.n_proposals(s.round_id)
    if len(claims) != m:
        raise ValueError(f"--claims: expected one claim per proposal ({m}, in proposal-index order), "
                         f"got {len(claims)}")
    notes = ("re-committing: the commitment on chain is not these claims'",) if on_chain != ZERO32 else ()
    h = commitment(s.file.address, s.round_id, s.address, claims, new.salt)
    if not s.dry_run:
        store.save(new)  # fsynced before the broadcast: a crash after sending loses nothing
    return s.send("commit", [("commit", [s.round_id, h], 0, {"round": s.round_id, "commitment": "(sealed)"})],
                  notes=notes)


def reveal(s: Session, claims: list[int] | None = None) -> StepResult:
    """Open the commitment with the stored secret (or, with ``claims``, the salt re-derived
    from the key, when the store was lost)."""
    from contracts.secret_store import verify

    me = s.me()
    if not me.role:
        raise ValueError(f"--account: {s.address} is not registered in round {s.round_id}")
    if me.revealed:
        return StepResult("reveal", already=(f"revealed in round {s.round_id}",))
    if me.commitment == ZERO32:
        raise ValueError(f"commit: {s.address} has no commitment in round {s.round_id}")
    s.need_phase("reveal", "Reveal", before_deadline=True)
    store = _store(s)
    if claims is not None:
        try:
            secret = store.recover(s.file.chain_id, s.file.address, s.round_id, claims, bytes(me.commitment))
        except ValueError as e:
            raise ValueError("--claims: " + str(e).removeprefix("claims: ")) from None
        if not s.dry_run:
            store.save(secret)
    else:
        secret = store.load(s.file.chain_id, s.file.address, s.round_id)
        if secret is None:
            raise ValueError(f"secret: none stored in {store.folder} for round {s.round_id}; "
                             "give --claims to re-derive the salt")
    if not verify(secret, bytes(me.commitment)):
        raise ValueError("secret: the stored claims do not open the commitment on chain")
    return s.send("reveal", [("reveal", [s.round_id, secret.claims, secret.salt], 0,
                              {"round": s.round_id, "claims": "(from the secret store)"})])


def settle(s: Session, who: str | None = None, everyone: bool = False) -> StepResult:
    """Settle this participant, ``who``, or every registered one, from the ``Revealed`` logs."""
    s.need_phase("settle", *CLOSED_PHASES)
    view = s.round()
    if everyone:
        targets = [m.address for m in view.members]
    else:
        try:
            targets = [to_checksum_address(who) if who else s.address]
        except ValueError:
            raise ValueError(f"--who: not an address: {who!r}") from None
    calls, already = [], []
    for t in targets:
        p = s.d.participant(t)
        if not p.role:
            raise ValueError(f"--who: {t} is not registered in round {s.round_id}")
        if p.settled:
            already.append(f"{t} is settled")
            continue
        calls.append(("settle", s.d.settle_args(t), 0, {"round": s.round_id, "who": t}))
    return s.send("settle", calls, already)


def report(s: Session, *, model: Path, uri: str, accuracy_bps: int, contributions: list[int]) -> StepResult:
    """The winner's training report: the model file's sha256, its URI, the accuracy (basis
    points) and one measured contribution per station. A complete report ends the Train
    phase at once and starts the Vote phase's clock."""
    views = s.d.views
    digest = file_digest(model, "--model")
    if views.reported(s.round_id):
        return StepResult("report", already=(f"round {s.round_id}'s training is reported",))
    s.need_phase("report", "Train")
    w = s.d.winner()
    if w is None or s.d.proposal(w).proposer != s.address:
        raise ValueError(f"--account: {s.address} is not the winner's proposer")
    n = views.n_stations(s.round_id)
    if len(contributions) != n:
        raise ValueError(f"--contributions: expected one per station ({n}), got {len(contributions)}")
    progress = views.report_progress(s.round_id)
    if progress:  # report_training and some chunks are mined: an earlier run stopped midway
        done = progress - 1
        if views.model_hash(s.round_id) != digest:
            raise ValueError(f"--model: round {s.round_id}'s report on chain is of another model file")
        if contributions_hash(contributions[:done]) != views.contributions_hash(s.round_id):
            raise ValueError(f"--contributions: the first {done} differ from those reported on chain")
        calls = [("report_contributions", [s.round_id, c], 0, {"round": s.round_id, "contributions": c})
                 for c in report_chunks(contributions[done:])]
        return s.send("report", calls, already=(f"report_training and {done} contributions are on chain",),
                      in_order=True)
    first, *rest = report_chunks(contributions)
    calls = [("report_training", [s.round_id, digest, uri, accuracy_bps, first], 0,
              {"round": s.round_id, "model_hash": "0x" + digest.hex(), "uri": uri, "accuracy_bps": accuracy_bps,
               "contributions": first})]
    calls += [("report_contributions", [s.round_id, c], 0, {"round": s.round_id, "contributions": c}) for c in rest]
    return s.send("report", calls, in_order=True)  # a chunk is taken only after the one before


def vote(s: Session, punish: bool) -> StepResult:
    me = s.me()
    if me.voted:
        return StepResult("vote", already=(f"voted in round {s.round_id}",))
    if me.role != ROLE_OWNER:
        raise ValueError(f"--account: only a registered owner votes, and {s.address} is not one")
    s.need_phase("vote", "Vote", before_deadline=True)
    w = s.d.winner()
    if w is not None and s.d.proposal(w).proposer == s.address:
        raise ValueError("--account: the winner does not vote on its own report")
    return s.send("vote", [("vote", [s.round_id, punish], 0, {"round": s.round_id, "punish": punish})])


def withdraw(s: Session, bond: bool = False, bonus: bool = False) -> StepResult:
    """Pull this participant's payout (settling it first in the same transaction if need
    be), or with ``bond`` its released bonds, or with ``bonus`` (a station) its bonus of
    SPEC section 9 (crediting it first once the round is finalized)."""
    if bonus:
        return _withdraw_bonus(s)
    if bond:
        calls, already = [], []
        for p in s.round().proposals_of(s.address):
            st = s.d.proposal(p.index).bond_state
            if st == BOND_WITHDRAWN:
                already.append(f"bond of proposal {p.index} withdrawn")
            elif st == BOND_RELEASED:
                calls.append(("withdraw_bond", [s.round_id, p.index], 0, {"round": s.round_id, "index": p.index}))
            else:
                already.append(f"bond of proposal {p.index} is "
                               f"{'slashed' if st == BOND_SLASHED else 'held until finalize'}")
        if not calls and not already:
            raise ValueError(f"--bond: {s.address} has no proposal in round {s.round_id}")
        return s.send("withdraw", calls, already)
    me = s.me()
    if not me.role:
        raise ValueError(f"--account: {s.address} is not registered in round {s.round_id}")
    if me.withdrawn:
        return StepResult("withdraw", already=(f"withdrawn in round {s.round_id}",))
    if me.settled:
        return s.send("withdraw", [("withdraw", [s.round_id], 0, {"round": s.round_id})])
    s.need_phase("withdraw", *CLOSED_PHASES)
    s.d.load_events()
    _, fn, args = s.d.settle_call(s.address, pay=True)
    return s.send("withdraw", [(fn, args, 0, {"round": s.round_id})])


def _withdraw_bonus(s: Session) -> StepResult:
    """``withdraw --bonus``: credit the station's bonus to its payout if it is not yet, then
    pull the payout (settling first if need be)."""
    me = s.me()
    if me.role != ROLE_STATION:
        raise ValueError(f"--bonus: {s.address} is not a station in round {s.round_id}")
    if s.d.bonus_bps() == 0:
        raise ValueError("--bonus: this deployment pays no station bonus (bonus_bps 0)")
    if me.status & STATUS_BONUS:
        first = StepResult("withdraw", already=(f"bonus credited in round {s.round_id}",))
    else:
        s.need_phase("withdraw", "Finalized")
        first = s.send("withdraw", [("credit_bonus", [s.round_id, s.address], 0, {"round": s.round_id})])
        if s.dry_run:
            return first
    paid = withdraw(s)  # the credit added the bonus to the payout and reopened it
    return StepResult("withdraw", first.sent + paid.sent, first.already + paid.already, paid.planned)


def advance(s: Session, from_phase: str | None = None) -> StepResult:
    """End the current phase once its deadline passed (Reveal ends by close, Vote by finalize)."""
    p = s.phase()
    order = list(PHASES.values())
    if from_phase is not None:
        if from_phase not in order:
            raise ValueError(f"--from: expected one of {', '.join(order)}, got {from_phase!r}")
        if order.index(p) > order.index(from_phase):
            return StepResult("advance", already=(f"round {s.round_id} is past {from_phase}: in {p}",))
        if p != from_phase:
            raise ValueError(f"phase: round {s.round_id} is in {p}, before {from_phase}")
    if p == "Finalized":
        return StepResult("advance", already=(f"round {s.round_id} is finalized",))
    if MOVERS[p] != "advance":
        raise ValueError(f"phase: the {p} phase ends by hcfl {MOVERS[p]}")
    s.need_deadline_over("advance")
    return s.send("advance", [("advance", [s.round_id], 0, {"round": s.round_id, "from": p})])


def close(s: Session) -> StepResult:
    p = s.phase()
    if p in CLOSED_PHASES:
        return StepResult("close", already=(f"round {s.round_id} is closed: in {p}",))
    s.need_phase("close", "Reveal")
    s.need_deadline_over("close")
    return s.send("close", [("close", [s.round_id], 0, {"round": s.round_id})])


def finalize(s: Session) -> StepResult:
    p = s.phase()
    if p == "Finalized":
        return StepResult("finalize", already=(f"round {s.round_id} is finalized",))
    s.need_phase("finalize", "Vote")
    s.need_deadline_over("finalize")
    return s.send("finalize", [("finalize", [s.round_id], 0, {"round": s.round_id})])


def start_round(s: Session, after: int | None = None) -> StepResult:
    """Open the deployment's next round once its current one is finalized (anyone may). With
    ``after``, a round later than ``after`` already open is "already done" (someone else was
    first). The session then acts on the new round."""
    current = s.d.views.current_round()
    if after is not None and current > after:
        s.use_round(current)
        return StepResult("start-round", already=(f"round {current} is open",))
    p = s.d.views.phase(current)
    if p != "Finalized":
        raise ValueError(f"phase: start-round needs round {current} finalized; it is in {p}")
    r = s.send("start_round", [("start_round", [], 0, {"after round": current})])
    if r.sent:
        s.use_round()
    return r


def move(s: Session, phase: str) -> StepResult:
    """The call that ends ``phase`` once its deadline passed (``MOVERS``): ``advance`` from it,
    ``close`` or ``finalize``."""
    mover = MOVERS[phase]
    if mover == "close":
        return close(s)
    if mover == "finalize":
        return finalize(s)
    return advance(s, phase)


# the names these lived by here before the chain client moved to contracts/
from hcfl_cli.organizer import AdmitResult, DeployResult, admit, deploy, fund  # noqa: E402
from hcfl_cli.round_status import ProposalView, StatusResult, next_action, status  # noqa: E402

__all__ = [
    "CLOSED_PHASES", "RESEND_AFTER_S", "ZERO32", "AdmitResult", "CaughtUp", "DeployResult", "DeploymentFile",
    "KeyOptions", "Planned", "ProposalView", "Sent", "Session", "StatusResult", "StepResult", "admit", "advance",
    "catch_up", "check_deployment", "close", "code_hash", "commit", "deploy", "env_resend_after", "finalize", "fund",
    "move", "next_action", "parse_amounts", "propose", "read_claims", "register", "report", "reveal", "settle",
    "start_round", "status", "vote", "withdraw",
]
