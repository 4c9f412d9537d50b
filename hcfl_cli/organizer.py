"""The organizer's steps: deploy the contract and write the deployment file, sign admission
tickets, and fund accounts on a chain (SPEC section 8).

Like the participant's steps (``hcfl_cli.participant``), each returns a frozen dataclass and
prints nothing, and each is idempotent: ``deploy`` run again with the same options finds the
deployment file it wrote (or, killed before it wrote it, the contract its first run created)
and says so; ``fund`` tops an account up to the amount asked and sends nothing to one that
holds it already.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from contracts.constants import ROLES
from contracts.deployment_file import DeploymentFile, check_deployment, contracts_of
from contracts.keys import KeyOptions
from contracts.parameters import check_bonus_bps, check_phase_seconds
from contracts.pipeline import Planned, Sent, env_resend_after
from hcfl_cli.inputs import read_bytes


@dataclass(frozen=True)
class DeployResult:
    path: Path
    file: DeploymentFile
    planned: Planned | None = None
    notes: tuple[str, ...] = ()  # what an earlier, interrupted run of deploy had left in flight
    already: bool = False  # the file exists with these options: nothing was sent


def _connect(rpc: str, keys: KeyOptions, max_fee: int | None) -> tuple[Any, Any, str]:
    """The signing key, a client of the node at ``rpc`` that holds it, and its address."""
    from contracts.chain import connect
    from contracts.keys import check_signer

    key = keys.load()  # a wrong password fails here, before the network is touched
    chain = connect(rpc, max_fee=max_fee)
    check_signer(key, chain.chain_id)
    return key, chain, chain.add_account(key.key)


def deploy(rpc: str, keys: KeyOptions, out: Path, *, phase_seconds: Sequence[int], no_show_penalty: int,
           min_bond: int, organizer: str | None, deposit_per_weight: int, max_proposals: int,
           dry_run: bool = False, bonus_bps: int = 0, max_fee: int | None = None) -> DeployResult:
    """Deploy the contract from the given key and write the deployment file ``out``.

    ``organizer``: an address, ``"self"`` (the deploying key) or None (an open deployment).
    ``bonus_bps``: the station bonus fraction of SPEC section 9 (0..10000, default 0). A file
    ``out`` written before with the same options and chain is "already done"; one with
    other options is refused (a deployment file is never overwritten).
    """
    from contracts.pipeline import Sender
    from contracts.views import ZERO_ADDRESS

    phases = check_phase_seconds(tuple(phase_seconds), "--phases")
    if min_bond < 1:
        raise ValueError(f"--min-bond: must be at least 1 wei, got {min_bond}")
    if deposit_per_weight < 1:
        raise ValueError(f"--deposit-per-weight: must be at least 1 wei, got {deposit_per_weight}")
    if no_show_penalty < 0:
        raise ValueError(f"--penalty: cannot be negative, got {no_show_penalty}")
    check_bonus_bps(bonus_bps, "--bonus-bps")
    _, chain, sender = _connect(rpc, keys, max_fee)
    if organizer == "self":
        organizer = sender
    try:
        org = to_checksum_address(organizer) if organizer else ZERO_ADDRESS
    except ValueError:
        raise ValueError(f"--organizer: not an address: {organizer!r}") from None
    args = [list(phases), no_show_penalty, min_bond, org, deposit_per_weight, max_proposals, bonus_bps]
    params = {"phase_seconds": list(phases), "no_show_penalty": no_show_penalty, "min_bond": min_bond,
              "organizer": None if org == ZERO_ADDRESS else org, "deposit_per_weight": deposit_per_weight,
              "max_proposals": max_proposals, "bonus_bps": bonus_bps, "deployer": sender}
    if out.exists():
        return _deployed_before(chain, out, params)
    from contracts.outbox import Outbox

    s = Sender(chain, sender, Outbox(chain.chain_id, sender), dry_run=dry_run, resend_after=env_resend_after())
    if dry_run:
        return DeployResult(out, DeploymentFile(chain.chain_id, "", 0, "", b"", params), s.plan_deploy(args, params))

    def keep(done: Any) -> None:
        DeploymentFile(chain.chain_id, done.address, done.block, done.transaction, chain.code_hash(done.address),
                       params, contracts_of(chain)).write(out)

    done = s.deploy(args, keep)
    return DeployResult(out, DeploymentFile.read(out), notes=done.notes)


def _deployed_before(chain: Any, out: Path, params: dict[str, Any]) -> DeployResult:
    """``deploy`` run again: its file, if it is this chain's deployment with these options."""
    try:
        f = DeploymentFile.read(out)
    except ValueError:
        raise ValueError(f"--out: {out} exists already and is not a deployment file (a deployment file is "
                         "never overwritten)") from None
    if f.chain_id != chain.chain_id or f.parameters != params:
        raise ValueError(f"--out: {out} exists already, a deployment with other options or of another chain "
                         "(a deployment file is never overwritten)")
    check_deployment(chain, f)
    return DeployResult(out, f, already=True)


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
    pub = read_bytes(node_public_key_file, "--node-public-key") if node_public_key_file else b""
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


@dataclass(frozen=True)
class Funded:
    """One account ``fund`` looked at: what it held, and the transfer that topped it up."""

    address: str
    before: int
    after: int
    sent: Sent | None = None
    planned: Planned | None = None


def fund(rpc: str, keys: KeyOptions | None, addresses: Sequence[str], amount: int, *, dry_run: bool = False,
         max_fee: int | None = None) -> tuple[Funded, ...]:
    """Top each of ``addresses`` up to ``amount`` wei with plain transfers from the given key
    (``keys`` None: anvil's first development account, which only a development chain
    accepts). An address that holds ``amount`` already is left alone (run again, ``fund``
    sends nothing); every transfer goes through the outbox like any other transaction."""
    from contracts.nodes import dev_accounts
    from contracts.outbox import Outbox
    from contracts.pipeline import Sender

    if amount <= 0:
        raise ValueError(f"--amount: must be positive wei, got {amount}")
    try:
        targets = [to_checksum_address(a) for a in addresses]
    except ValueError:
        raise ValueError(f"--to: not an address: {', '.join(addresses)}") from None
    if not targets:
        raise ValueError("--to: give at least one address to fund")
    if keys is None:
        keys = KeyOptions.of(dev_accounts(1)[0])
    _, chain, sender = _connect(rpc, keys, max_fee)
    s = Sender(chain, sender, Outbox(chain.chain_id, sender), dry_run=dry_run, resend_after=env_resend_after())
    if not dry_run:
        s.catch_up()
    out = []
    for who in targets:
        have = chain.balance(who)
        if have >= amount:
            out.append(Funded(who, have, have))
            continue
        if dry_run:
            out.append(Funded(who, have, have, planned=s.plan_transfer(who, amount - have)))
            continue
        sent = s.transfer(who, amount - have)
        out.append(Funded(who, have, chain.balance(who), sent=sent))
    return tuple(out)


def revoke_admission(s: Any, participant: str) -> Any:
    """The organizer's session ``s`` (an ``hcfl_cli.participant.Session``) revokes
    ``participant``'s admission (SPEC section 5 step 0): from now on it cannot register, in this
    round or any later one; if it registered in the current round already, it keeps its rights
    there. Idempotent: an admission revoked already is "already done"."""
    from contracts.pipeline import StepResult

    try:
        who = to_checksum_address(participant)
    except ValueError:
        raise ValueError(f"--address: not an address: {participant!r}") from None
    organizer = s.d.organizer()
    if organizer is None:
        raise ValueError("--deployment: an open deployment has no organizer and no admissions to revoke")
    if organizer != s.address:
        raise ValueError(f"--account: {s.address} is not the deployment's organizer {organizer}")
    if s.d.views.revoked(who):
        return StepResult("revoke", already=(f"the admission of {who} is revoked",))
    return s.send("revoke", [("revoke", [who], 0, {"participant": who})])
