"""The participant side of HCFL: one command per step of a round, on a participant's own
machine, with its own key (SPEC section 8).

Every function here returns a frozen dataclass and prints nothing (``hcfl_cli.main``
prints). A command that talks to a chain first opens a ``Session``: the node's chain id and
the keccak of the code at the deployment file's address must equal the file's, and the key
must be allowed to sign on that chain, before anything is sent. Then each step reads the
participant's status on chain and does nothing that is already done, so running a command
twice is safe (the answer is "already done"). With ``dry_run`` a step reports the call it
would send (function, public arguments, value, gas estimate and fees) and sends nothing;
the claims and salt of a commit are never shown.

A command killed after it broadcast a transaction and before it saw it mined loses
nothing: every signed transaction is written to the participant's outbox
(``contracts.outbox``) before it is broadcast, and a ``Session`` first waits for what an
earlier run left in flight (resending it at the same nonce with a higher fee when it is not
mined in time), so the step then reads a chain that includes it and sends nothing twice.

Bad input is a ``ValueError`` naming the option or the field; a refusal by the contract is
``contracts.chain.Reverted`` with its reason, raised by the dry run before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from contracts.constants import BOND_RELEASED, BOND_SLASHED, BOND_WITHDRAWN, PHASES, ROLE_NAMES, ROLE_OWNER, ROLES

if TYPE_CHECKING:  # imported lazily at run time: a command starts without web3 until it needs it
    from contracts.chain import RpcChain
    from contracts.outbox import Outbox

DEPLOYMENT_FORMAT = 1
RESEND_AFTER_S = 30.0
"""A transaction not mined in this long is sent again at the same nonce with higher fees."""
CLOSED_PHASES = ("Train", "Vote", "Finalized")
"""Phases in which the winner is known and participants can be settled."""
ZERO32 = b"\x00" * 32


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
class DeploymentFile:
    """SPEC section 8's deployment file: where the contract is and what it is."""

    chain_id: int
    address: str
    block: int
    transaction: str
    code_hash: bytes
    parameters: dict[str, Any] = field(default_factory=dict)
    # every contract the deployment transaction created, by name: {"address", "code_hash"}
    # (HCFL, which is ``address``, and the HCFLTraining it created)
    contracts: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": DEPLOYMENT_FORMAT, "chain_id": self.chain_id, "address": self.address,
                "block": self.block, "transaction": self.transaction, "code_hash": "0x" + self.code_hash.hex(),
                "parameters": self.parameters, "contracts": self.contracts}

    @classmethod
    def read(cls, path: Path) -> DeploymentFile:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as e:
            raise ValueError(f"--deployment: cannot read {path}: {e.strerror}") from None
        except ValueError:
            raise ValueError(f"--deployment: {path} is not JSON") from None
        try:
            return cls(int(data["chain_id"]), to_checksum_address(data["address"]), int(data["block"]),
                       str(data["transaction"]), bytes.fromhex(str(data["code_hash"]).removeprefix("0x")),
                       dict(data.get("parameters", {})),
                       {str(k): {"address": to_checksum_address(v["address"]), "code_hash": str(v["code_hash"])}
                        for k, v in dict(data.get("contracts", {})).items()})
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"--deployment: {path} is not a deployment file (field {e})") from None


@dataclass(frozen=True)
class KeyOptions:
    """How a command was told to find its key (``contracts.keys.load_key``'s arguments)."""

    account: str | None = None
    keystore: Path | None = None
    private_key: str | None = None
    password_file: Path | None = None

    def load(self) -> Any:
        from contracts.keys import load_key

        return load_key(account=self.account, keystore=self.keystore, private_key=self.private_key,
                        password_file=self.password_file)


@dataclass(frozen=True)
class CaughtUp:
    """What ``catch_up`` found: one note per transaction, and those of an earlier run that
    were mined successfully (the version mined), by the function they called."""

    notes: tuple[str, ...]
    mined: tuple[tuple[str, str], ...] = ()  # (fn, transaction hash)


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
    from contracts.chain import RECEIPT_TIMEOUT_S, Reverted

    timeout = RECEIPT_TIMEOUT_S if timeout is None else timeout
    count = chain.w3.eth.get_transaction_count
    latest, pool = count(address, "latest"), count(address, "pending")
    notes: list[str] = []
    mined: list[tuple[str, str]] = []
    known = set()
    for f in outbox.in_flight():
        known.add(f.nonce)
        if f.nonce < latest:  # mined while no one watched: which version, and did it work?
            for v in f.versions:
                receipt = chain.rpc.call("eth_getTransactionReceipt", [v.hash])
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
        while count(address, "latest") <= unknown[-1]:
            if time.monotonic() > end:
                raise TimeoutError(f"nonce {unknown[0]} of {address} is pending, sent by another program "
                                   f"(not in {outbox.folder}), and not mined within {timeout:.0f} s")
            time.sleep(0.5)
        notes.append(f"waited for {len(unknown)} pending transaction(s) of this key sent by another program")
    return CaughtUp(tuple(notes), tuple(mined))


# -- sessions -----------------------------------------------------------------------------
class Session:
    """One participant attached to one deployment, checked before anything is sent."""

    def __init__(self, rpc: str, deployment: Path, keys: KeyOptions, *, dry_run: bool = False,
                 resend_after: float = RESEND_AFTER_S, catch_up: bool | None = None) -> None:
        """``catch_up``: first wait for this key's transactions still in flight (``catch_up``);
        by default unless ``dry_run``, which sends nothing and so replaces nothing either."""
        from contracts.chain import connect
        from contracts.driver import Deployment
        from contracts.keys import check_signer
        from contracts.outbox import Outbox

        self.file = DeploymentFile.read(deployment)
        self.key = keys.load()  # a wrong password fails here, before the network is touched
        self.chain = connect(rpc)
        check_deployment(self.chain, self.file)
        check_signer(self.key, self.chain.chain_id)
        self.address: str = self.chain.add_account(self.key.key)
        self.d = Deployment.attach(self.file.address, chain=self.chain, sender=self.address)
        self.dry_run = dry_run
        self.resend_after = resend_after
        self.outbox = Outbox(self.chain.chain_id, self.address)
        self.chain.on_sign = self.outbox.record  # on disk before the node has it
        # what catch_up found in flight when the session opened, one note each
        self.recovered: tuple[str, ...] = ()
        if catch_up if catch_up is not None else not dry_run:
            self.recovered = self.catch_up()

    def catch_up(self, timeout: float | None = None) -> tuple[str, ...]:
        """Wait until every transaction this key has in flight is mined; one note for each
        (``catch_up``, with this session's ``resend_after``)."""
        return catch_up(self.chain, self.address, self.outbox, self.resend_after, timeout).notes

    # views
    @property
    def round_id(self) -> int:
        return self.d.round_id

    def phase(self) -> str:
        return self.d.phase()

    def deadline(self) -> int:
        return int(self.chain.call("deadline", [self.round_id]))

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

    # transactions
    def send(self, command: str, calls: Sequence[tuple[str, list[Any], int, dict[str, Any]]],
             already: Sequence[str] = (), notes: Sequence[str] = (), in_order: bool = False) -> StepResult:
        """Dry-run every call (a revert raises before anything is sent), then send them all
        and wait for each, resending when one is not mined in time; with ``dry_run``, only
        report them.

        ``in_order``: each call can run only once the one before is mined (a report's
        chunks): each is estimated, sent and waited for in turn; a dry run estimates the
        first and simulates the others after it (``eth_simulateV1``) where the node can.
        """
        from contracts.chain import Reverted

        if calls and not self.dry_run and self.outbox.in_flight():
            # A wait of this session timed out: that transaction first. The step decided from
            # a chain without it; if it did this step's work, the estimate below reverts.
            notes = (*self.catch_up(), *notes)
        if in_order and len(calls) > 1:
            if self.dry_run:
                return StepResult(command, already=tuple(already), planned=self.plan_in_order(calls),
                                  notes=tuple(notes))
            steps = [self.send(command, [c]) for c in calls]
            return StepResult(command, tuple(t for r in steps for t in r.sent), tuple(already), notes=tuple(notes))
        planned = []
        for fn, args, value, shown in calls:
            est = self.chain.estimate(self.address, fn, args, value)
            planned.append(Planned(fn, shown, value, est["estimate"], est["gas"],
                                   est.get("maxFeePerGas", est.get("gasPrice"))))
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
            sent.append(Sent(tx.fn, tx.hash, tx.gas, _event_note(tx)))
        return StepResult(command, tuple(sent), tuple(already), notes=tuple(notes))

    def plan_in_order(self, calls: Sequence[tuple[str, list[Any], int, dict[str, Any]]]) -> tuple[Planned, ...]:
        """The dry run of calls that each need the one before mined: the first estimated by
        the node, the others' gas from a simulation of all of them in one block
        (``eth_simulateV1``), or unknown where the node cannot simulate."""
        from contracts.chain import ERROR_SELECTOR, Reverted, gas_limit
        from contracts.nodes import RpcError

        fn, args, value, shown = calls[0]
        est = self.chain.estimate(self.address, fn, args, value)
        fee = est.get("maxFeePerGas", est.get("gasPrice"))
        planned = [Planned(fn, shown, value, est["estimate"], est["gas"], fee)]
        txs = [{"from": self.address, "value": hex(v), **self.chain.call_fields(f, a)} for f, a, v, _ in calls]
        try:
            blocks = self.chain.rpc.call("eth_simulateV1", [{"blockStateCalls": [{"calls": txs}]}, "latest"])
            results = blocks[0]["calls"]
        except (RpcError, KeyError, IndexError, TypeError):
            return (*planned, *(Planned(f, sh, v, note="its gas is known once the one before is mined")
                                for f, _, v, sh in calls[1:]))
        for (f, _, v, sh), r in zip(calls[1:], results[1:]):
            if int(r["status"], 16) != 1:
                raw = bytes.fromhex(r.get("returnData", "0x")[2:])
                if raw[:4] == ERROR_SELECTOR:
                    from eth_abi import decode

                    raise Reverted(f, str(decode(["string"], raw[4:])[0]))
                raise Reverted(f, r.get("error", {}).get("message", "reverted in the simulation"))
            used = int(r["gasUsed"], 16)
            planned.append(Planned(f, sh, v, used, gas_limit(used, self.chain._block_gas_limit), fee,
                                   note="simulated after the ones before"))
        return tuple(planned)


def _event_note(tx: Any) -> str:
    """A short account of what a mined transaction did, from its events."""
    for ev in tx.events:
        if ev.name in ("Withdrawn", "BondWithdrawn"):
            return f"paid {ev.args['amount']} wei"
        if ev.name == "Settled":
            return f"{ev.args['participant']} settled: payout {ev.args['payout']} wei, tax {ev.args['tax']} wei"
        if ev.name == "BonusCredited":
            return f"bonus credited: {ev.args['bonus']} wei"
        if ev.name == "Registered":
            return f"registered as {ROLE_NAMES[int(ev.args['role'])]} {ev.args['index']}"
        if ev.name == "Proposed":
            return f"proposal {ev.args['index']}"
        if ev.name == "Closed":
            return "winner: " + (f"proposal {ev.args['winner']}" if ev.args["has_winner"] else "none")
        if ev.name == "PhaseChanged":
            return f"now {PHASES[int(ev.args['phase'])]}"
        if ev.name == "Finalized":
            return "bond slashed" if ev.args["slashed"] else "bond released"
    return ""


def code_hash(chain: Any, address: str) -> bytes:
    """keccak of the runtime code at ``address``."""
    return keccak(bytes(chain.w3.eth.get_code(to_checksum_address(address))))


def check_deployment(chain: Any, f: DeploymentFile) -> None:
    """The node must be the file's chain and hold the file's code at its address."""
    if chain.chain_id != f.chain_id:
        raise ValueError(f"--deployment: the file is for chain {f.chain_id}, but the node at {chain.url} "
                         f"is chain {chain.chain_id}")
    expected = [(f.address, f.code_hash)]  # HCFL's own code pins its HCFLTraining's address
    expected += [(c["address"], bytes.fromhex(c["code_hash"].removeprefix("0x"))) for c in f.contracts.values()]
    for address, want in expected:
        got = code_hash(chain, address)
        if got != want:
            what = "no code" if got == keccak(b"") else f"code with hash 0x{got.hex()}"
            raise ValueError(f"--deployment: {address} on chain {f.chain_id} holds {what}, not the file's "
                             f"0x{want.hex()}")


# -- inputs -------------------------------------------------------------------------------
def parse_amounts(text: str, option: str) -> list[int]:
    """Comma-separated non-negative integers (wei), exactly."""
    try:
        out = [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated whole numbers, got {text!r}") from None
    if any(x < 0 for x in out):
        raise ValueError(f"{option}: amounts cannot be negative, got {text!r}")
    return out


def read_claims(claims: str | None, claims_file: Path | None) -> list[int] | None:
    """Claims from ``--claims a,b,c`` or ``--claims-file`` (a JSON list or comma-separated)."""
    if claims is not None and claims_file is not None:
        raise ValueError("--claims/--claims-file: give one of them, not both")
    if claims_file is not None:
        try:
            text = claims_file.read_text().strip()
        except OSError as e:
            raise ValueError(f"--claims-file: cannot read {claims_file}: {e.strerror}") from None
        if text.startswith("["):
            try:
                data = json.loads(text)
                if not all(isinstance(x, int) and not isinstance(x, bool) for x in data):
                    raise ValueError
            except ValueError:
                raise ValueError(f"--claims-file: {claims_file} is not a JSON list of whole numbers") from None
            return parse_amounts(",".join(str(x) for x in data), "--claims-file")
        return parse_amounts(text, "--claims-file")
    return parse_amounts(claims, "--claims") if claims is not None else None


def _read_bytes(path: Path, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"{option}: cannot read {path}: {e.strerror}") from None


# -- deploy and admit (the organizer) -----------------------------------------------------
@dataclass(frozen=True)
class DeployResult:
    path: Path
    file: DeploymentFile
    planned: Planned | None = None
    notes: tuple[str, ...] = ()  # what an earlier, interrupted run of deploy had left in flight


def deploy(rpc: str, keys: KeyOptions, out: Path, *, phase_seconds: Sequence[int], no_show_penalty: int,
           min_bond: int, organizer: str | None, deposit_per_weight: int, max_proposals: int,
           dry_run: bool = False, bonus_bps: int = 0) -> DeployResult:
    """Deploy the contract from the given key and write the deployment file ``out``.

    ``organizer``: an address, ``"self"`` (the deploying key) or None (an open deployment).
    ``bonus_bps``: the station bonus fraction of SPEC section 9 (0..10000, default 0).
    """
    from contracts.chain import connect, gas_limit
    from contracts.driver import ZERO_ADDRESS
    from contracts.keys import check_signer

    if len(phase_seconds) != 6 or any(s <= 0 for s in phase_seconds):
        raise ValueError("--phases: expected six positive lengths in seconds: "
                         "Register,Propose,Commit,Reveal,Train,Vote")
    if min_bond < 1:
        raise ValueError(f"--min-bond: must be at least 1 wei, got {min_bond}")
    if deposit_per_weight < 1:
        raise ValueError(f"--deposit-per-weight: must be at least 1 wei, got {deposit_per_weight}")
    if no_show_penalty < 0:
        raise ValueError(f"--penalty: cannot be negative, got {no_show_penalty}")
    if not 0 <= bonus_bps <= 10_000:
        raise ValueError(f"--bonus-bps: expected 0..10000 basis points, got {bonus_bps}")
    if out.exists() and not dry_run:
        raise ValueError(f"--out: {out} exists already (a deployment file is never overwritten)")
    key = keys.load()
    chain = connect(rpc)
    check_signer(key, chain.chain_id)
    sender = chain.add_account(key.key)
    if organizer == "self":
        organizer = sender
    try:
        org = to_checksum_address(organizer) if organizer else ZERO_ADDRESS
    except ValueError:
        raise ValueError(f"--organizer: not an address: {organizer!r}") from None
    args = [list(phase_seconds), no_show_penalty, min_bond, org, deposit_per_weight, max_proposals, bonus_bps]
    params = {"phase_seconds": list(phase_seconds), "no_show_penalty": no_show_penalty, "min_bond": min_bond,
              "organizer": None if org == ZERO_ADDRESS else org, "deposit_per_weight": deposit_per_weight,
              "max_proposals": max_proposals, "bonus_bps": bonus_bps, "deployer": sender}
    if dry_run:
        data = chain.creation_data(args)
        try:
            est = int(chain.w3.eth.estimate_gas({"from": sender, "data": data}))
        except Exception as exc:  # the constructor refuses these parameters
            from contracts.chain import Reverted, _revert_reason

            raise Reverted("deploy", _revert_reason(exc)) from None
        fees = chain._fees()
        plan = Planned("deploy", params, 0, est, gas_limit(est), fees.get("maxFeePerGas", fees.get("gasPrice")))
        return DeployResult(out, DeploymentFile(chain.chain_id, "", 0, "", b"", params), plan)
    from contracts.outbox import Outbox

    # An earlier run killed after its broadcast left the deployment in the outbox: that
    # contract is this command's result, so a restart never deploys a second one.
    outbox = Outbox(chain.chain_id, sender)
    chain.on_sign = outbox.record
    found = catch_up(chain, sender, outbox, env_resend_after())
    earlier = [h for fn, h in found.mined if fn == "deploy"]
    if earlier:
        receipt = chain.rpc.call("eth_getTransactionReceipt", [earlier[-1]])
        address = to_checksum_address(receipt["contractAddress"])
        sent = chain.rpc.call("eth_getTransactionByHash", [earlier[-1]])
        if str(sent.get("input", "")).lower() != chain.creation_data(args).lower():
            raise ValueError(f"--out: an earlier run of deploy from {sender}, stopped before it wrote {out}, deployed "
                             f"{address} (transaction {earlier[-1]}) with other options; nothing was sent this "
                             f"time. Run the command again to deploy a new contract with these options")
        chain.attach(address)
        notes = (*found.notes, f"deploy: the contract of an earlier run is {address}; no second one was deployed")
        nonce = None
    else:
        nonce = chain.nonces[sender]
        address = chain.deploy(args, sender)
        receipt = chain.deploy_receipt or {}
        notes = found.notes
    contracts = {name: {"address": a, "code_hash": "0x" + code_hash(chain, a).hex()}
                 for name, a in zip(("HCFL", "HCFLTraining"), chain.addresses)}
    f = DeploymentFile(chain.chain_id, address, int(receipt.get("blockNumber", "0x0"), 16),
                       str(receipt.get("transactionHash", "")), code_hash(chain, address), params, contracts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(f.to_json(), indent=1) + "\n")
    if nonce is not None:  # only now: a run killed before the file was written finds its deployment again
        outbox.forget(nonce)
    return DeployResult(out, f, notes=notes)


@dataclass(frozen=True)
class AdmitResult:
    path: Path
    participant: str
    role: str
    weight: int
    expiry: int


def admit(deployment: Path, keys: KeyOptions, out: Path, *, participant: str, role: str, weight: int,
          max_proposals: int | None, node_public_key_file: Path | None, valid_for: int, round_id: int = 0,
          rpc: str | None = None) -> AdmitResult:
    """The organizer signs an admission ticket (EIP-712) and writes it to ``out`` for the
    participant.

    The ticket is valid ``valid_for`` seconds from now: with ``rpc``, from the latest block's
    timestamp (the clock the contract checks the expiry against), after the node is checked
    against the deployment file; without it, from this machine's clock, so that an
    organizer's key can sign offline (on a public chain the two clocks agree within a
    block; on a development chain whose time was moved they do not).
    """
    from contracts.tickets import Ticket, node_key_hash

    f = DeploymentFile.read(deployment)
    if role not in ROLES:
        raise ValueError(f"--role: expected owner or station, got {role!r}")
    try:
        who = to_checksum_address(participant)
    except ValueError:
        raise ValueError(f"--address: not an address: {participant!r}") from None
    if valid_for <= 0:
        raise ValueError(f"--valid-for: must be positive seconds, got {valid_for}")
    pub = _read_bytes(node_public_key_file, "--node-public-key") if node_public_key_file else b""
    if role == "owner" and pub:
        raise ValueError("--node-public-key: an owner has no node key")
    key = keys.load()
    organizer = f.parameters.get("organizer")
    if organizer is None:
        raise ValueError("--deployment: an open deployment takes no tickets")
    if to_checksum_address(organizer) != key.address:
        raise ValueError(f"--account: {key.address} is not the deployment's organizer {organizer}")
    allowance = max_proposals if max_proposals is not None else (
        int(f.parameters.get("max_proposals", 0)) if role == "owner" else 0)
    if rpc is not None:
        from contracts.chain import connect

        chain = connect(rpc)
        check_deployment(chain, f)
        now = int(chain.now())
    else:
        now = int(time.time())
    expiry = now + valid_for
    t = Ticket(f.chain_id, f.address, who, role, weight, allowance, node_key_hash(pub), expiry, round_id)
    t = t.signed_by(key.key)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(t.to_json(), indent=1) + "\n")
    return AdmitResult(out, who, role, weight, expiry)


# -- revoking an admission (hcfl admit --revoke) ---------------------------------------------
def revoke_admission(s: Session, participant: str) -> StepResult:
    """The organizer revokes ``participant``'s admission (SPEC section 5 step 0): from now on
    it cannot register, in this round or any later one; if it registered in the current
    round already, it keeps its rights there. Idempotent: an admission revoked already is
    "already done"."""
    from contracts.tickets import is_revoked

    try:
        who = to_checksum_address(participant)
    except ValueError:
        raise ValueError(f"--address: not an address: {participant!r}") from None
    organizer = s.d.organizer()
    if organizer is None:
        raise ValueError("--deployment: an open deployment has no organizer and no admissions to revoke")
    if organizer != s.address:
        raise ValueError(f"--account: {s.address} is not the deployment's organizer {organizer}")
    if is_revoked(s.chain, who):
        return StepResult("revoke", already=(f"the admission of {who} is revoked",))
    return s.send("revoke", [("revoke", [who], 0, {"participant": who})])


# -- status -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProposalView:
    index: int
    proposer: str
    budget: int
    bond: int
    bond_state: int
    uri: str
    welfare: int | None


@dataclass(frozen=True)
class StatusResult:
    address: str
    round_id: int
    phase: str
    deadline: int
    now: int
    proposals: tuple[ProposalView, ...]
    winner: int | None
    role: str | None
    status: tuple[str, ...]
    amount: int
    next_action: str


def status(s: Session) -> StatusResult:
    """The round, its phase and deadline, the proposals (welfare once closed), this
    participant's state and what it should do next."""
    events = s.d.load_events()
    r = s.round_id
    phase = s.phase()
    closed = phase in CLOSED_PHASES
    welfare = s.d.welfare() if closed else None
    props = []
    for ev in events:
        if ev.name == "Proposed" and int(ev.args["round_id"]) == r:
            i = int(ev.args["index"])
            rec = s.d.proposal(i)
            props.append(ProposalView(i, ev.args["proposer"], int(ev.args["budget"]), rec.bond, rec.bond_state,
                                      ev.args["uri"], welfare[i] if welfare else None))
    me = s.me()
    flags = tuple(name for name in ("revealed", "settled", "withdrawn", "voted") if getattr(me, name))
    if me.role and me.commitment != ZERO32:
        flags = ("committed", *flags)
    winner = s.d.winner() if closed else None
    return StatusResult(s.address, r, phase, s.deadline(), s.chain.now(), tuple(props), winner,
                        ROLE_NAMES.get(me.role), flags, me.amount, next_action(s, phase, me, props, winner))


def next_action(s: Session, phase: str, me: Any, props: Sequence[ProposalView], winner: int | None) -> str:
    over = s.chain.now() >= s.deadline()
    mine = [p for p in props if p.proposer == s.address]
    step = {"Register": "advance", "Propose": "advance", "Commit": "advance", "Reveal": "close",
            "Train": "advance", "Vote": "finalize"}.get(phase)
    moving = f"the deadline has passed: hcfl {step}" if over and step else "wait for the deadline"
    if phase == "Register":
        return "hcfl register --ticket FILE --deposit WEI" if not me.role else moving
    if not me.role:
        return "not registered in this round: nothing to do"
    if phase == "Propose":
        return "hcfl propose (an owner may) or " + moving if me.role == ROLE_OWNER else moving
    if phase == "Commit":
        return "hcfl commit --claims ..." if me.commitment == ZERO32 else "committed; " + moving
    if phase == "Reveal":
        return "hcfl reveal" if not me.revealed else "revealed; " + moving
    if not me.settled:
        return "hcfl settle (or hcfl withdraw, which settles first)"
    if phase == "Train" and winner is not None and props[winner].proposer == s.address:
        return "hcfl report --model FILE --uri URI --accuracy-bps N --contributions ..."
    if phase == "Vote" and me.role == ROLE_OWNER and not me.voted and (
            winner is None or props[winner].proposer != s.address):
        return "hcfl vote --punish yes|no"
    if not me.withdrawn:
        return "hcfl withdraw"
    if phase == "Finalized" and any(p.bond_state == BOND_RELEASED for p in mine):
        return "hcfl withdraw --bond"
    return "nothing to do" if phase == "Finalized" else moving


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
    pub = _read_bytes(node_public_key_file, "--node-public-key") if node_public_key_file else b""
    t = None
    if ticket is not None:
        try:
            t = Ticket.from_json(json.loads(_read_bytes(ticket, "--ticket")))
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
    content = hashlib.sha256(_read_bytes(document, "--document")).digest()
    me = s.me()
    for ev in s.d.load_events():
        a = ev.args
        if (ev.name == "Proposed" and int(a["round_id"]) == s.round_id and a["proposer"] == s.address
                and bytes(a["content_hash"]) == content):
            return StepResult("propose", already=(f"proposal {a['index']} of this document is posted",))
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
    """Seal ``claims`` (one per proposal). The secret is stored (fsynced) before the commit is
    sent; a re-run checks the stored secret against the chain and re-commits if they differ."""
    from contracts.driver import commitment
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
    m = int(s.chain.call("n_proposals", [s.round_id]))
    if len(claims) != m:
        raise ValueError(f"--claims: expected one claim per proposal ({m}), got {len(claims)}")
    notes = ("re-committing: the commitment on chain is not these claims'",) if on_chain != ZERO32 else ()
    h = commitment(s.file.address, s.round_id, s.address, claims, new.salt)
    if not s.dry_run:
        store.save(new)  # fsynced before the broadcast: a crash after sending loses nothing
    return s.send("commit", [("commit", [s.round_id, h], 0, {"round": s.round_id, "commitment": "(sealed)"})],
                  notes=notes)


def reveal(s: Session, claims: list[int] | None = None) -> StepResult:
    """Open the commitment with the stored secret (or, with ``claims``, the salt re-derived
    from the key, when the store was lost)."""
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
        secret = store.recover(s.file.chain_id, s.file.address, s.round_id, claims, bytes(me.commitment))
        if not s.dry_run:
            store.save(secret)
    else:
        secret = store.load(s.file.chain_id, s.file.address, s.round_id)
        if secret is None:
            raise ValueError(f"secret: none stored in {store.folder} for round {s.round_id}; "
                             "give --claims to re-derive the salt")
    from contracts.secret_store import verify

    if not verify(secret, bytes(me.commitment)):
        raise ValueError("secret: the stored claims do not open the commitment on chain")
    return s.send("reveal", [("reveal", [s.round_id, secret.claims, secret.salt], 0,
                              {"round": s.round_id, "claims": "(from the secret store)"})])


def _registered(s: Session) -> list[str]:
    return [ev.args["participant"] for ev in s.d.events("Registered") if int(ev.args["round_id"]) == s.round_id]


def settle(s: Session, who: str | None = None, everyone: bool = False) -> StepResult:
    """Settle this participant, ``who``, or every registered one, from the ``Revealed`` logs."""
    s.need_phase("settle", *CLOSED_PHASES)
    s.d.load_events()
    if everyone:
        targets = _registered(s)
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
    points) and one measured contribution per station."""
    from contracts.driver import contributions_hash, report_chunks

    digest = hashlib.sha256(_read_bytes(model, "--model")).digest()
    if bool(s.chain.call("reported", [s.round_id])):
        return StepResult("report", already=(f"round {s.round_id}'s training is reported",))
    s.need_phase("report", "Train")
    w = s.d.winner()
    if w is None or s.d.proposal(w).proposer != s.address:
        raise ValueError(f"--account: {s.address} is not the winner's proposer")
    n = int(s.chain.call("n_stations", [s.round_id]))
    if len(contributions) != n:
        raise ValueError(f"--contributions: expected one per station ({n}), got {len(contributions)}")
    progress = int(s.chain.call("report_progress", [s.round_id]))
    if progress:  # report_training and some chunks are mined: an earlier run stopped midway
        done = progress - 1
        if bytes(s.chain.call("model_hash", [s.round_id])) != digest:
            raise ValueError(f"--model: round {s.round_id}'s report on chain is of another model file")
        if contributions_hash(contributions[:done]) != bytes(s.chain.call("contributions_hash", [s.round_id])):
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
        for ev in s.d.load_events():
            if ev.name == "Proposed" and int(ev.args["round_id"]) == s.round_id and ev.args["proposer"] == s.address:
                i = int(ev.args["index"])
                st = s.d.proposal(i).bond_state
                if st == BOND_WITHDRAWN:
                    already.append(f"bond of proposal {i} withdrawn")
                elif st == BOND_RELEASED:
                    calls.append(("withdraw_bond", [s.round_id, i], 0, {"round": s.round_id, "index": i}))
                else:
                    already.append(f"bond of proposal {i} is {'slashed' if st == BOND_SLASHED else 'held until finalize'}")
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
    from contracts.constants import ROLE_STATION, STATUS_BONUS

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
    if p == "Reveal":
        raise ValueError("phase: the Reveal phase ends by hcfl close")
    if p == "Vote":
        raise ValueError("phase: the Vote phase ends by hcfl finalize")
    if p == "Finalized":
        return StepResult("advance", already=(f"round {s.round_id} is finalized",))
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


def env_resend_after() -> float:
    """``$HCFL_RESEND_AFTER`` seconds, else ``RESEND_AFTER_S``."""
    raw = os.environ.get("HCFL_RESEND_AFTER")
    try:
        return float(raw) if raw else RESEND_AFTER_S
    except ValueError:
        raise ValueError(f"HCFL_RESEND_AFTER: expected seconds, got {raw!r}") from None
