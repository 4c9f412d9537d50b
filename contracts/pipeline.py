"""A participant's transaction pipeline (SPEC section 8, Transactions): plan, send, wait,
resend, and catch up after a crash, so that a command run twice never sends twice.

``Sender`` is one key on one node with its outbox (``contracts.outbox``):

- ``send(command, calls)``: every call is dry-run first (a revert raises ``Reverted`` before
  anything is sent), then all are signed (each written to the outbox before its broadcast),
  sent, and waited for; one not mined within ``resend_after`` seconds is sent again at the
  same nonce with a higher fee, never above the chain's ``max_fee``. With ``in_order`` each
  call waits for the one before (a report's chunks). A dry run only plans: the first call
  estimated by the node, the later ones of an ordered step simulated after it
  (``eth_simulateV1``) where the node can.
- ``catch_up()``: before a step decides anything, wait for what an earlier run of this key
  left in flight (``catch_up``), so that the step reads a chain that includes it.
- ``deploy(args, keep)``: the contract's deployment through the same outbox; a deploy
  killed after its broadcast and run again adopts the contract its first run created.

Every function returns frozen results (``Planned``, ``Sent``, ``StepResult``, ``Deployed``)
and prints nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from contracts.chain import RECEIPT_TIMEOUT_S, Reverted, Tx, gas_limit
from contracts.constants import PHASES, ROLE_NAMES
from contracts.transport import NotMined

if TYPE_CHECKING:
    from contracts.outbox import Outbox
    from contracts.rpc_chain import RpcChain

RESEND_AFTER_S = 30.0
"""A transaction not mined in this long is sent again at the same nonce with higher fees."""
Call = tuple[str, list[Any], int, dict[str, Any]]
"""One call of a step: function, arguments, value (wei) and the arguments shown to the user
(public ones only: a commit's claims and salt are never shown)."""


def env_resend_after() -> float:
    """``$HCFL_RESEND_AFTER`` seconds, else ``RESEND_AFTER_S``."""
    raw = os.environ.get("HCFL_RESEND_AFTER")
    try:
        return float(raw) if raw else RESEND_AFTER_S
    except ValueError:
        raise ValueError(f"HCFL_RESEND_AFTER: expected seconds, got {raw!r}") from None


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Planned:
    """One transaction a step would send (``--dry-run``) or sent."""

    fn: str
    args: dict[str, Any]  # public arguments only (a commit's claims and salt are never here)
    value: int
    gas_estimate: int | None = None
    gas_limit: int | None = None
    max_fee_per_gas: int | None = None
    note: str = ""  # how the gas was found, where it is not the node's estimate

    @property
    def max_cost(self) -> int | None:
        """The most the transaction can cost in fees (wei), value not included."""
        if self.gas_limit is None or self.max_fee_per_gas is None:
            return None
        return self.gas_limit * self.max_fee_per_gas


@dataclass(frozen=True)
class Sent:
    """One mined transaction of a step."""

    fn: str
    hash: str | None
    gas: int
    note: str = ""


@dataclass(frozen=True)
class StepResult:
    """What a step did: sent transactions, what was already done, what it would send."""

    command: str
    sent: tuple[Sent, ...] = ()
    already: tuple[str, ...] = ()
    planned: tuple[Planned, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaughtUp:
    """What ``catch_up`` found: one note per transaction, and those of an earlier run that
    were mined successfully (the version mined), by the function they called."""

    notes: tuple[str, ...]
    mined: tuple[tuple[str, str], ...] = ()  # (fn, transaction hash)


@dataclass(frozen=True)
class Deployed:
    """The contract ``Sender.deploy`` created, or adopted from an earlier run."""

    address: str
    block: int
    transaction: str
    notes: tuple[str, ...] = ()


def _fee(fees: dict[str, int]) -> int | None:
    return fees.get("maxFeePerGas", fees.get("gasPrice"))


def _event_account(ev: Any) -> str:
    """A short account of one event of a mined transaction (its typed record)."""
    r = ev.record
    if ev.name in ("Withdrawn", "BondWithdrawn"):
        return f"paid {r.amount} wei"
    if ev.name == "Settled":
        penalty = f", no-show penalty {r.penalty} wei (never revealed)" if r.penalty else ""
        return f"{r.participant} settled: payout {r.payout} wei, tax {r.tax} wei{penalty}"
    if ev.name == "BonusCredited":
        return f"bonus credited: {r.bonus} wei"
    if ev.name == "Registered":
        return f"registered as {ROLE_NAMES[r.role]} {r.index}"
    if ev.name == "Proposed":
        return f"proposal {r.index}"
    if ev.name == "Closed":
        return "winner: " + (f"proposal {r.winner}" if r.has_winner else "none")
    if ev.name == "PhaseChanged":
        return f"now {PHASES[r.phase]}"
    if ev.name == "Finalized":
        return "bond slashed" if r.slashed else "bond released"
    return ""


def event_note(tx: Tx) -> str:
    """What a mined transaction did, from its events: a settlement says its payout, tax and
    any no-show penalty, and, paid in the same transaction, the amount paid; any other
    transaction the account of its first event that has one."""
    accounts = [(ev.name, a) for ev in tx.events if (a := _event_account(ev))]
    if any(name == "Settled" for name, _ in accounts):
        return "; ".join(a for name, a in accounts if name in ("Settled", "Withdrawn"))
    return accounts[0][1] if accounts else ""


# -- catching up after a crash ------------------------------------------------------------
def catch_up(chain: RpcChain, address: str, outbox: Outbox, resend_after: float | None = RESEND_AFTER_S,
             timeout: float | None = None) -> CaughtUp:
    """Wait until every transaction ``address`` has in flight is mined.

    Those in the ``outbox`` (sent by an earlier run of a command that died before it saw
    them mined) are waited for and resent at the same nonce with a higher fee after each
    ``resend_after``; one the node does not hold (the run died before the broadcast) is
    dropped, since the step decides again from the chain; one mined while no one watched
    is looked up. Pending nonces not in the outbox (sent by another program with this key)
    are waited for only. ``TimeoutError`` after ``timeout`` seconds (default
    ``RECEIPT_TIMEOUT_S``).
    """
    timeout = RECEIPT_TIMEOUT_S if timeout is None else timeout
    latest, pool = chain.transaction_count(address, "latest"), chain.transaction_count(address, "pending")
    notes: list[str] = []
    mined: list[tuple[str, str]] = []
    known = set()
    for f in outbox.in_flight():
        known.add(f.nonce)
        if f.nonce < latest:  # mined while no one watched: which version, and did it work?
            for v in f.versions:
                receipt = chain.receipt(v.hash)
                if receipt and int(receipt["status"], 16) == 1:
                    mined.append((f.fn, v.hash))
            outbox.forget(f.nonce)
            continue
        if f.nonce >= pool:
            outbox.forget(f.nonce)
            notes.append(f"{f.fn} (nonce {f.nonce}) of an earlier run never reached the node: dropped")
            continue
        *older, last = f.versions
        what = f"{f.fn} sent by an earlier run (nonce {f.nonce}) was still pending"
        try:
            tx = chain.wait(last, timeout=timeout, resend_after=resend_after, earlier=older)
            notes.append(f"{what}: now mined, transaction {tx.hash}")
            mined.append((f.fn, tx.hash))
        except Reverted as e:
            notes.append(f"{what}: mined, and reverted ({e.reason})")
        outbox.forget(f.nonce)
    unknown = [n for n in range(latest, pool) if n not in known]
    if unknown:
        end = time.monotonic() + timeout
        while chain.transaction_count(address, "latest") <= unknown[-1]:
            if time.monotonic() > end:
                raise NotMined(f"nonce {unknown[0]} of {address} is pending, sent by another program "
                                   f"(not in {outbox.folder}), and not mined within {timeout:.0f} s")
            time.sleep(0.5)
        notes.append(f"waited for {len(unknown)} pending transaction(s) of this key sent by another program")
    return CaughtUp(tuple(notes), tuple(mined))


# -- the sender ---------------------------------------------------------------------------
class Sender:
    """One key (``address``, its key added to ``chain``) sending through its ``outbox``.

    Every signed transaction goes to the outbox before the node has it; ``dry_run``: plan,
    send nothing (and so replace nothing either)."""

    def __init__(self, chain: RpcChain, address: str, outbox: Outbox, *, dry_run: bool = False,
                 resend_after: float = RESEND_AFTER_S) -> None:
        self.chain = chain
        self.address = address
        self.outbox = outbox
        self.dry_run = dry_run
        self.resend_after = resend_after
        chain.on_sign = outbox.record  # on disk before the node has it

    def catch_up(self, timeout: float | None = None) -> CaughtUp:
        """Wait until every transaction this key has in flight is mined (``catch_up``)."""
        return catch_up(self.chain, self.address, self.outbox, self.resend_after, timeout)

    def send(self, command: str, calls: Sequence[Call], already: Sequence[str] = (), notes: Sequence[str] = (),
             in_order: bool = False) -> StepResult:
        """Dry-run every call (a revert raises before anything is sent), then send them all
        and wait for each, resending when one is not mined in time; with ``dry_run``, only
        report them.

        ``in_order``: each call can run only once the one before is mined (a report's
        chunks): each is estimated, sent and waited for in turn; a dry run estimates the
        first and simulates the others after it (``eth_simulateV1``) where the node can.
        """
        if calls and not self.dry_run and self.outbox.in_flight():
            # A wait of this session timed out: that transaction first. The step decided from
            # a chain without it; if it did this step's work, the estimate below reverts.
            notes = (*self.catch_up().notes, *notes)
        if in_order and len(calls) > 1:
            if self.dry_run:
                return StepResult(command, already=tuple(already), planned=self.plan_in_order(calls),
                                  notes=tuple(notes))
            steps = [self.send(command, [c]) for c in calls]
            return StepResult(command, tuple(t for r in steps for t in r.sent), tuple(already), notes=tuple(notes))
        planned = []
        for fn, args, value, shown in calls:
            est = self.chain.estimate(self.address, fn, args, value)
            planned.append(Planned(fn, shown, value, est["estimate"], est["gas"], _fee(est)))
        if self.dry_run or not calls:
            return StepResult(command, already=tuple(already), planned=tuple(planned), notes=tuple(notes))
        pendings = [self.chain.submit(self.address, fn, args, value, gas=p.gas_limit)
                    for (fn, args, value, _), p in zip(calls, planned)]
        sent = []
        for p in pendings:
            try:
                tx = self.chain.wait(p, resend_after=self.resend_after)
            except Reverted:  # mined and failed: its nonce is used all the same
                self.outbox.forget(int(p.tx["nonce"]))
                raise
            # (a TimeoutError leaves it in the outbox: the next run waits for it)
            self.outbox.forget(int(p.tx["nonce"]))
            sent.append(Sent(tx.fn, tx.hash, tx.gas, event_note(tx)))
        return StepResult(command, tuple(sent), tuple(already), notes=tuple(notes))

    def plan_in_order(self, calls: Sequence[Call]) -> tuple[Planned, ...]:
        """The dry run of calls that each need the one before mined: the first estimated by
        the node, the others' gas from a simulation of all of them in one block, or unknown
        where the node cannot simulate."""
        fn, args, value, shown = calls[0]
        est = self.chain.estimate(self.address, fn, args, value)
        fee = _fee(est)
        planned = [Planned(fn, shown, value, est["estimate"], est["gas"], fee)]
        used = self.chain.simulate(self.address, [(f, a, v) for f, a, v, _ in calls])
        if used is None:
            return (*planned, *(Planned(f, sh, v, note="its gas is known once the one before is mined")
                                for f, _, v, sh in calls[1:]))
        for (f, _, v, sh), gas in zip(calls[1:], used[1:]):
            planned.append(Planned(f, sh, v, gas, gas_limit(gas, self.chain.block_gas_limit), fee,
                                   note="simulated after the ones before"))
        return tuple(planned)

    def plan_transfer(self, to: str, value: int) -> Planned:
        """The dry run of a plain transfer of ``value`` wei to ``to``."""
        gas = self.chain.estimate_transfer(self.address, to, value)
        return Planned("transfer", {"to": to}, value, gas, gas, _fee(self.chain.fees()))

    def transfer(self, to: str, value: int) -> Sent:
        """A plain transfer of ``value`` wei to ``to``, through the outbox like any other
        transaction (resent at the same nonce when it is not mined in time)."""
        pending = self.chain.send_value(self.address, to, value)
        tx = self.chain.wait(pending, resend_after=self.resend_after)
        self.outbox.forget(int(pending.tx["nonce"]))
        return Sent("transfer", tx.hash, tx.gas, f"paid {value} wei to {to}")

    def plan_deploy(self, args: list[Any], shown: dict[str, Any]) -> Planned:
        """The dry run of the contract's deployment with ``args`` (``Reverted`` when the
        constructor refuses them)."""
        est = self.chain.estimate_creation(self.address, args)
        return Planned("deploy", shown, 0, est, gas_limit(est), _fee(self.chain.fees()))

    def deploy(self, args: list[Any], keep: Callable[[Deployed], None]) -> Deployed:
        """Deploy the contract with ``args`` once: ``keep`` (which writes the deployment
        file) runs before the deployment leaves the outbox, so a run killed before it wrote
        the file, run again, adopts the contract its first run created instead of deploying
        a second one; a first run's contract made with other ``args`` is refused
        (``ValueError``, nothing sent)."""
        found = self.catch_up()
        earlier = [h for fn, h in found.mined if fn == "deploy"]
        nonce = None
        if earlier:
            receipt = self.chain.receipt(earlier[-1]) or {}
            address = to_checksum_address(receipt["contractAddress"])
            sent = self.chain.sent_transaction(earlier[-1]) or {}
            if str(sent.get("input", "")).lower() != self.chain.creation_data(args).lower():
                raise ValueError(f"--out: an earlier run of deploy from {self.address}, stopped before it wrote its "
                                 f"file, deployed {address} (transaction {earlier[-1]}) with other options; nothing "
                                 f"was sent this time. Run the command again to deploy a new contract with these "
                                 f"options")
            self.chain.attach(address)
            notes = (*found.notes, f"deploy: the contract of an earlier run is {address}; no second one was deployed")
        else:
            nonce = self.chain.nonces[self.address]
            pending = self.chain.send_creation(args, self.address)
            address = self.chain.wait_for_creation(pending, self.resend_after)
            receipt = self.chain.deploy_receipt or {}
            notes = found.notes
        done = Deployed(address, int(receipt.get("blockNumber", "0x0"), 16), str(receipt.get("transactionHash", "")),
                        notes)
        keep(done)
        if nonce is not None:  # only now: a run killed before ``keep`` finds its deployment again
            self.outbox.forget(nonce)
        return done
