"""The one chain client: titanoboa's embedded EVM and any JSON-RPC node behind one interface.

``connect(rpc=None)`` returns a ``BoaChain`` (titanoboa, in process, the default) or, for an
``http(s)://`` URL, an ``RpcChain`` (web3.py, transactions signed here). Every caller that
talks to the contract (the round driver, ``settle_on_chain``, ``hcfl round``, the auditor,
the gas benchmark, the tests) goes through this surface:

- ``new_account(funds) -> address``, ``new_accounts([funds, ...])`` (funded together); ``add_account(key)``; ``balance(address)``;
  ``time_travel(seconds)``; ``now()``
- ``deploy(args, sender) -> address``; ``attach(address)``
- ``transact(sender, fn, args, value=0) -> Tx`` (gas used, decoded events, return value);
  on a node also ``submit`` (send, do not wait) and ``wait`` (the receipt), so several
  participants' transactions can be in flight at once
- ``call(fn, args)`` for views; ``chain_events(from_block)`` every event of the contract
  and of the ``HCFLTraining`` contract it created, in one stream in chain order (block,
  then log index); ``transact`` and ``call`` send a function that only HCFLTraining has
  (the training report, the vote and their views) to that contract
- on a node, ``on_sign``: called with every signed transaction (and every resend) before it
  is broadcast, so a caller can keep it on disk and, after a crash, wait for it (``wait``
  with ``earlier``) instead of sending a second one

A revert raises ``Reverted`` with the contract's reason string on both backends. Events are
decoded by the libraries (titanoboa's ``get_logs``; web3.py's event ABI processing keyed by
``eth_utils.event_abi_to_log_topic``), never by hand.

Gas: on a node it is the receipt's ``gasUsed``; every gas limit is the node's estimate plus
a margin (``gas_limit``), because the estimate is taken against the state before any other
pending transaction is mined (the last settlement of a round also sweeps the dust, which an
estimate taken before the others were mined does not see). titanoboa has no transaction
boundaries, so ``BoaChain`` reports execution gas plus intrinsic gas as an estimate only.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address

from contracts.build import Compiled, compiled
from contracts.records import make_record

GAS_MARGIN_FIXED = 30_000
"""Added to every estimate: covers the dust sweep (a few storage writes and a log) that
the round's last settlement runs when settlements are estimated before each other is mined."""
GAS_MARGIN_DIVISOR = 4
"""And a quarter of the estimate on top, for state that grows between estimate and mining."""
RECEIPT_TIMEOUT_S = 120.0
FEE_REFRESH_S = 2.0
FAST_GAS_LIMIT = 5_000_000
"""The gas limit of a ``fast`` client's transactions (benchmarks: no estimate per send)."""
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 5, 4
"""A resend at the same nonce pays a quarter more: nodes replace a pending transaction only
for at least 10 % more on both fee fields (geth's and anvil's rule)."""
ERROR_SELECTOR = bytes.fromhex("08c379a0")
"""The selector of Solidity's and Vyper's ``Error(string)`` revert payload."""


def gas_limit(estimate: int, block_limit: int | None = None) -> int:
    """The gas limit sent for a transaction whose node estimate is ``estimate``."""
    limit = estimate + estimate // GAS_MARGIN_DIVISOR + GAS_MARGIN_FIXED
    return min(limit, block_limit) if block_limit else limit


class Reverted(RuntimeError):
    """A transaction or call the contract refused; ``reason`` is its revert string."""

    def __init__(self, fn: str, reason: str) -> None:
        super().__init__(f"{fn}: {reason}")
        self.fn = fn
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.fn}: {self.reason}"


@functools.cache
def _boa_reverted() -> type:
    """``Reverted`` that is also titanoboa's ``BoaError`` (with its stack trace), so that
    ``boa.reverts("reason")`` matches it in the contract tests."""
    from boa.contracts.base_evm_contract import BoaError

    class BoaReverted(Reverted, BoaError):
        def __init__(self, fn: str, reason: str, error: BoaError) -> None:
            Reverted.__init__(self, fn, reason)
            self.call_trace = error.call_trace
            self.stack_trace = error.stack_trace

    return BoaReverted


@dataclass(frozen=True)
class Event:
    """One decoded log of the contract: event name and arguments by name."""

    name: str
    args: dict[str, Any]

    @property
    def record(self) -> Any:
        """The typed record of this event (``contracts.records``)."""
        return make_record(self.name, self.args)


@dataclass(frozen=True)
class Tx:
    """One transaction's result."""

    fn: str
    gas: int
    events: list[Event] = field(default_factory=list)
    result: Any = None
    hash: str | None = None

    def first(self, name: str) -> Any:
        """The typed record of this transaction's first ``name`` event."""
        for ev in self.events:
            if ev.name == name:
                return ev.record
        raise ValueError(f"event: {self.fn} logged no {name}")


@dataclass(frozen=True)
class Pending:
    """A transaction sent to a node and not yet known to be mined."""

    fn: str
    hash: str
    sender: str
    gas_limit: int
    tx: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The unsigned transaction (nonce and fees included), kept so that ``wait`` can resend it."""


def intrinsic_gas(calldata: bytes) -> int:
    """21,000 plus 4 gas per zero and 16 per nonzero calldata byte (EIP-2028)."""
    return 21_000 + sum(4 if b == 0 else 16 for b in calldata)


def _normal(value: Any) -> Any:
    """Decoded values in one form for both backends: checksummed addresses, lists, bytes."""
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if hasattr(value, "canonical_address"):  # titanoboa's Address
        return to_checksum_address(str(value))
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):  # HexBytes too
        return bytes(value)
    return value


def _revert_reason(exc: BaseException) -> str:
    """The revert string of a titanoboa or web3 failure, else the exception's text."""
    trace = getattr(exc, "stack_trace", None)
    frame = getattr(trace, "last_frame", None)
    vm_error = getattr(frame, "vm_error", None)
    if vm_error is not None and vm_error.args:
        raw = vm_error.args[0]
        if isinstance(raw, bytes) and raw[:4] == ERROR_SELECTOR:  # Error(string), ABI-encoded
            from eth_abi import decode

            return str(decode(["string"], raw[4:])[0])
        return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    message = getattr(exc, "message", None) or str(exc)
    return str(message).removeprefix("execution reverted: ").strip()


@functools.cache
def _boa_deployer() -> Any:
    import boa

    from contracts.build import SOURCE_PATH

    return boa.load_partial(str(SOURCE_PATH))


@functools.cache
def _boa_training() -> Any:
    import boa

    from contracts.build import TRAINING_SOURCE_PATH

    return boa.load_partial(str(TRAINING_SOURCE_PATH))


def training_functions(art: Compiled) -> frozenset[str]:
    """The functions that only the ``HCFLTraining`` contract has: the chain clients send
    these to it, every other one to HCFL."""
    assert art.training is not None
    mine = {i["name"] for i in art.abi if i["type"] == "function"}
    return frozenset(i["name"] for i in art.training.abi if i["type"] == "function" and i["name"] not in mine)


class BoaChain:
    """titanoboa's embedded EVM (``boa.env``): fast, in process, gas approximate."""

    kind = "boa"

    def __init__(self) -> None:
        import boa

        self.boa = boa
        self.env = boa.env
        self.art: Compiled = compiled()
        self.contract: Any = None
        self.training: Any = None  # the HCFLTraining contract HCFL created
        self._routed = training_functions(self.art)
        self._n = 0
        self._log: list[Event] = []

    def new_account(self, funds: int) -> str:
        self._n += 1
        addr = self.env.generate_address(f"hcfl{self._n}")
        self.env.set_balance(addr, funds)
        return to_checksum_address(str(addr))

    def new_accounts(self, funds: Sequence[int]) -> list[str]:
        return [self.new_account(f) for f in funds]

    def add_account(self, private_key: bytes | str) -> str:
        """An existing key's address (titanoboa needs no key to send from it)."""
        from eth_account import Account

        return Account.from_key(private_key).address

    def balance(self, address: str) -> int:
        return self.env.get_balance(address)

    @property
    def chain_id(self) -> int:
        return int(self.env.evm.patch.chain_id)

    def now(self) -> int:
        return self.env.evm.patch.timestamp

    def time_travel(self, seconds: int) -> None:
        self.env.time_travel(seconds=seconds)

    def deploy(self, args: list[Any], sender: str) -> str:
        with self.env.prank(sender):
            self.contract = _boa_deployer().deploy(*args)
        self.training = _boa_training().at(self.contract.TRAINING())
        self._log = self._events()
        return to_checksum_address(str(self.contract.address))

    def attach(self, address: str) -> None:
        """Drive a contract already deployed at ``address`` in this ``boa.env``."""
        self.contract = _boa_deployer().at(address)
        self.training = _boa_training().at(self.contract.TRAINING())

    def _target(self, fn: str) -> Any:
        return self.training if fn in self._routed else self.contract

    @property
    def addresses(self) -> list[str]:
        """Every contract of the deployment: HCFL, then its HCFLTraining."""
        return [to_checksum_address(str(c.address)) for c in (self.contract, self.training)]

    def _events(self, caller: Any = None) -> list[Event]:
        """HCFL's and HCFLTraining's events in the last call of ``caller`` (default the
        contract itself; another contract that called HCFL, too), decoded by titanoboa."""
        out = []
        mine = {to_checksum_address(str(c.address)) for c in (self.contract, self.training)}
        for entry in (caller or self.contract).get_logs():
            if hasattr(entry, "_asdict") and to_checksum_address(str(entry.address)) in mine:
                args = {k: _normal(v) for k, v in entry._asdict().items() if k != "address"}
                out.append(Event(type(entry).__name__, args))
        return out

    def absorb(self, caller: Any) -> list[Event]:
        """The HCFL events of a call that another contract (``caller``) made, kept with the rest."""
        events = self._events(caller)
        self._log.extend(events)
        return events

    def transact(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Tx:
        target = self._target(fn)
        method = getattr(target, fn)
        try:
            result = method(*args, sender=sender, value=value)
        except self.boa.BoaError as exc:
            raise _boa_reverted()(fn, _revert_reason(exc), exc) from None
        comp = target._computation
        events = self._events(target)
        self._log.extend(events)
        return Tx(fn, comp.net_gas_used + intrinsic_gas(bytes(comp.msg.data)), events, result)

    def call(self, fn: str, args: list[Any]) -> Any:
        try:
            out = getattr(self._target(fn), fn)(*args)
        except self.boa.BoaError as exc:
            raise _boa_reverted()(fn, _revert_reason(exc), exc) from None
        return _normal(out)

    def chain_events(self, from_block: int = 0) -> list[Event]:
        """Every event the contract logged in this process (titanoboa keeps no log index)."""
        return list(self._log)


class EventDecoder:
    """Decodes a node's raw logs with web3.py's event processing of the contract's ABI."""

    def __init__(self, abi: list[dict]) -> None:
        from web3 import Web3

        contract = Web3().eth.contract(abi=abi)
        self._by_topic = {
            event_abi_to_log_topic(item): getattr(contract.events, item["name"])()
            for item in abi if item["type"] == "event"
        }

    def decode(self, log: dict[str, Any]) -> Event | None:
        """The event of one log (web3's or raw JSON-RPC form); None for another contract's."""
        topics = log["topics"]
        if not topics:
            return None
        first = topics[0]
        key = bytes.fromhex(first.removeprefix("0x")) if isinstance(first, str) else bytes(first)
        event = self._by_topic.get(key)
        if event is None:
            return None
        data = event.process_log(log)
        return Event(data["event"], {k: _normal(v) for k, v in data["args"].items()})


class RpcChain:
    """A JSON-RPC node through web3.py; every transaction is signed here.

    ``funder``: a key that pays for ``new_account`` where the node has neither
    ``anvil_setBalance`` nor an unlocked account (as a public provider, or a node behind a
    strict proxy). ``fast``: skip the dry run and the gas estimate of every transaction (a
    fixed gas limit instead); for benchmarks, where a revert is a bug anyway.

    ``on_sign``: None, or a function called with each signed transaction's ``Pending``
    (hash, nonce and fees known) just before it is broadcast: a participant's outbox
    (``contracts.outbox``) writes it to disk there, so that a process killed between
    the broadcast and the receipt is restarted knowing what it has in flight.
    """

    kind = "rpc"

    def __init__(self, url: str, *, timeout: float = 60.0, fast: bool = False,
                 funder: bytes | str | None = None) -> None:
        from eth_account import Account
        from web3 import Web3

        from contracts.nodes import JsonRpc

        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        if not self.w3.is_connected():
            raise ValueError(f"rpc: no JSON-RPC node answers at {url}")
        self.Account = Account
        self.url = url
        self.rpc = JsonRpc(url, timeout=timeout)
        self.chain_id = self.w3.eth.chain_id
        self.art = compiled()
        assert self.art.training is not None
        self.decoder = EventDecoder(self.art.abi + [i for i in self.art.training.abi if i["type"] == "event"])
        self.contract: Any = None
        self.training: Any = None  # the HCFLTraining contract HCFL created
        self._routed = training_functions(self.art)
        self.keys: dict[str, Any] = {}
        self.nonces: dict[str, int] = {}
        self.funder = Account.from_key(funder) if funder is not None else None
        self.fast = fast
        self.deploy_receipt: dict[str, Any] | None = None
        self._n = 0
        self._block_gas_limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        self._fee_cache: tuple[float, dict[str, int]] | None = None
        self.on_sign: Callable[[Pending], None] | None = None

    # -- accounts ---------------------------------------------------------------------
    def new_account(self, funds: int) -> str:
        """A fresh key held in memory (development chains only) with ``funds`` wei."""
        return self.new_accounts([funds])[0]

    def new_accounts(self, funds: Sequence[int]) -> list[str]:
        """Fresh keys, one per amount, funded together (one wait for all the transfers)."""
        from contracts.nodes import fund_addresses

        out = []
        for _ in funds:
            self._n += 1
            acct = self.Account.from_key(keccak(text=f"hcfl-account-{self._n}-{time.time_ns()}"))
            self.keys[acct.address] = acct
            self.nonces[acct.address] = 0
            out.append(acct.address)
        fund_addresses(self.url, out, list(funds), funder=self.funder)
        return out

    def add_account(self, private_key: bytes | str) -> str:
        """Send transactions from an existing funded key."""
        acct = self.Account.from_key(private_key)
        self.keys[acct.address] = acct
        self.nonces[acct.address] = self.w3.eth.get_transaction_count(acct.address, "pending")
        return acct.address

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(address)

    # -- time -------------------------------------------------------------------------
    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def time_travel(self, seconds: int) -> None:
        """Let ``seconds`` pass: instantly where the node has ``evm_increaseTime``, else for
        real, until a block at least that much later is mined."""
        resp = self.w3.provider.make_request("evm_increaseTime", [seconds])
        if "error" not in resp:
            self.w3.provider.make_request("evm_mine", [])
            return
        target = self.now() + seconds
        while self.now() < target:
            time.sleep(min(0.25, max(0.05, target - time.time())))

    # -- transactions -----------------------------------------------------------------
    def _fees(self) -> dict[str, int]:
        """EIP-1559 fees where the chain has a base fee, else a legacy gas price; read again
        at most every ``FEE_REFRESH_S`` (two node calls a transaction would halve the rate
        of a many-participant round)."""
        now = time.monotonic()
        if self._fee_cache is None or now - self._fee_cache[0] > FEE_REFRESH_S:
            self._fee_cache = (now, self._read_fees())
        return dict(self._fee_cache[1])

    def _read_fees(self) -> dict[str, int]:
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            return {"gasPrice": max(self.w3.eth.gas_price, 1) * 2}
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # a node without eth_maxPriorityFeePerGas
            tip = 10**9
        return {"maxFeePerGas": 2 * int(base) + tip, "maxPriorityFeePerGas": tip}

    def _sign_and_send(self, sender: str, tx: dict[str, Any], fn: str) -> Pending:
        if sender not in self.keys:
            raise ValueError(f"sender: no key for {sender} in this client")
        tx = dict(tx)
        tx.update({"from": sender, "nonce": self.nonces[sender], "chainId": self.chain_id, **self._fees()})
        tx.setdefault("gas", FAST_GAS_LIMIT)  # only ``fast`` sends come here without an estimate
        pending = self._broadcast(Pending(fn, "", sender, int(tx["gas"]), tx))
        self.nonces[sender] += 1
        return pending

    def _broadcast(self, unsigned: Pending) -> Pending:
        """Sign ``unsigned.tx``, hand it to ``on_sign``, then send it; the sent ``Pending``."""
        assert unsigned.tx is not None
        signed = self.keys[unsigned.sender].sign_transaction(unsigned.tx)
        pending = Pending(unsigned.fn, "0x" + bytes(signed.hash).hex(), unsigned.sender, unsigned.gas_limit,
                          unsigned.tx)
        if self.on_sign is not None:
            self.on_sign(pending)
        self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return pending

    def estimate(self, sender: str, fn: str, args: list[Any], value: int = 0) -> dict[str, int]:
        """What ``submit`` would send, without sending: the node's gas estimate, the gas
        limit with its margin and the fee fields (``Reverted`` if the call would fail)."""
        target = self._target(fn)
        func = getattr(target.functions, fn)(*args)
        tx = {"from": sender, "to": target.address, "data": func._encode_transaction_data(), "value": value}
        try:  # the estimate runs the call: a revert comes back with its reason
            estimate = int(self.w3.eth.estimate_gas(tx))
        except Exception as exc:
            raise Reverted(fn, _revert_reason(exc)) from None
        return {"estimate": estimate, "gas": gas_limit(estimate, self._block_gas_limit), **self._fees()}

    def _resend(self, pending: Pending) -> Pending:
        """``pending`` again at the same nonce with fees a quarter higher (it replaces the
        first in the node's pool, so at most one of them is ever mined)."""
        assert pending.tx is not None
        tx = dict(pending.tx)
        for k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"):
            if k in tx:
                tx[k] = tx[k] * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR + 1
        fresh = self._fees()  # the base fee may have risen past the bumped cap
        if "maxFeePerGas" in tx:
            tx["maxFeePerGas"] = max(tx["maxFeePerGas"], fresh.get("maxFeePerGas", 0))
        return self._broadcast(Pending(pending.fn, "", pending.sender, pending.gas_limit, tx))

    def submit(self, sender: str, fn: str, args: list[Any], value: int = 0, gas: int | None = None) -> Pending:
        """Estimate (a revert raises ``Reverted`` and nothing is sent), then send.

        ``gas``: a gas limit from ``estimate`` just before, which ran the call already;
        ``fast`` clients send with a fixed limit and no estimate."""
        if gas is None and not self.fast:
            gas = self.estimate(sender, fn, args, value)["gas"]
        target = self._target(fn)
        data = getattr(target.functions, fn)(*args)._encode_transaction_data()
        tx: dict[str, Any] = {"to": target.address, "data": data, "value": value}
        if gas is not None:
            tx["gas"] = gas
        return self._sign_and_send(sender, tx, fn)

    def wait(self, pending: Pending, timeout: float = RECEIPT_TIMEOUT_S, resend_after: float | None = None,
             earlier: Sequence[Pending] = ()) -> Tx:
        """The mined transaction (``Reverted`` if it failed on chain).

        ``resend_after``: when it is not mined within that many seconds, send it again at
        the same nonce with higher fees, and again after each further such wait, until
        ``timeout``; whichever of the versions is mined is the result. ``earlier``: versions
        of ``pending`` at the same nonce sent before it (by a run that died), any of which
        may be the one mined.
        """
        from contracts.nodes import wait_for_receipts

        if resend_after is None and not earlier:
            receipt = wait_for_receipts(self.rpc, [pending.hash], timeout=timeout, raise_on_revert=False)[0]
        else:
            receipt, pending = self._wait_resending(pending, timeout, resend_after, earlier)
        gas = int(receipt["gasUsed"], 16)
        if int(receipt["status"], 16) != 1:
            why = "out of gas" if gas >= pending.gas_limit else "reverted when mined"
            raise Reverted(pending.fn, f"{why} (transaction {pending.hash}, gas limit {pending.gas_limit})")
        events = [ev for ev in map(self.decoder.decode, receipt["logs"]) if ev is not None]
        return Tx(pending.fn, gas, events, None, pending.hash)

    def _wait_resending(self, pending: Pending, timeout: float, resend_after: float | None,
                        earlier: Sequence[Pending] = ()) -> tuple[dict[str, Any], Pending]:
        """The receipt of whichever version of ``pending`` is mined, and that version."""
        versions = [*earlier, pending]
        end = time.monotonic() + timeout
        resend_at = time.monotonic() + (resend_after if resend_after is not None else float("inf"))
        while True:
            for v in versions:
                receipt = self.rpc.call("eth_getTransactionReceipt", [v.hash])
                if receipt is not None:
                    return receipt, v
            now = time.monotonic()
            if now > end:
                raise TimeoutError(f"{pending.fn}: not mined within {timeout:.0f} s (transaction {versions[-1].hash})")
            if now >= resend_at:
                try:
                    versions.append(self._resend(versions[-1]))
                except Exception as exc:  # "nonce too low": one version was mined meanwhile
                    if "nonce" not in str(exc).lower():
                        raise
                resend_at = now + (resend_after if resend_after is not None else float("inf"))
            time.sleep(0.5)  # a block takes seconds on a real chain; polling faster only loads the node

    def transact(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Tx:
        return self.wait(self.submit(sender, fn, args, value))

    def creation_data(self, args: list[Any]) -> str:
        """The deployment transaction's data: the creation code with ``args`` encoded after it."""
        factory = self.w3.eth.contract(abi=self.art.abi, bytecode=self.art.bytecode)
        return factory.constructor(*args).data_in_transaction

    def deploy(self, args: list[Any], sender: str) -> str:
        data = self.creation_data(args)
        try:  # estimated even when ``fast``: a deployment's gas is far from any fixed limit
            gas = gas_limit(self.w3.eth.estimate_gas({"from": sender, "data": data}), self._block_gas_limit)
        except Exception as exc:
            raise Reverted("deploy", _revert_reason(exc)) from None
        pending = self._sign_and_send(sender, {"data": data, "value": 0, "gas": gas}, "deploy")
        from contracts.nodes import wait_for_receipts

        receipt = wait_for_receipts(self.rpc, [pending.hash], raise_on_revert=False)[0]
        if int(receipt["status"], 16) != 1:
            raise Reverted("deploy", f"constructor reverted (transaction {pending.hash})")
        self.deploy_receipt = receipt  # block and transaction, for a deployment file
        self.attach(receipt["contractAddress"])
        return self.contract.address

    def attach(self, address: str) -> None:
        """Drive a contract already deployed at ``address`` (and the ``HCFLTraining`` it
        created, whose address it keeps)."""
        address = to_checksum_address(address)
        if not self.w3.eth.get_code(address):
            raise ValueError(f"address: no contract at {address} on {self.url}")
        self.contract = self.w3.eth.contract(address=address, abi=self.art.abi)
        try:
            training = to_checksum_address(self.contract.functions.TRAINING().call())
        except Exception:
            raise ValueError(f"address: {address} on {self.url} is not an HCFL contract") from None
        assert self.art.training is not None
        self.training = self.w3.eth.contract(address=training, abi=self.art.training.abi)

    def _target(self, fn: str) -> Any:
        return self.training if fn in self._routed else self.contract

    def call_fields(self, fn: str, args: list[Any]) -> dict[str, str]:
        """``to`` and ``data`` of a call of ``fn`` (to HCFL, or to HCFLTraining for its own
        functions), for a caller that builds the transaction itself (a simulation)."""
        target = self._target(fn)
        return {"to": target.address, "data": getattr(target.functions, fn)(*args)._encode_transaction_data()}

    @property
    def addresses(self) -> list[str]:
        """Every contract of the deployment: HCFL, then its HCFLTraining."""
        return [self.contract.address, self.training.address]

    def call(self, fn: str, args: list[Any]) -> Any:
        try:
            return _normal(getattr(self._target(fn).functions, fn)(*args).call())
        except Exception as exc:
            raise Reverted(fn, _revert_reason(exc)) from None

    def chain_events(self, from_block: int = 0) -> list[Event]:
        """Every event of both contracts in the node's logs (``eth_getLogs`` on both
        addresses, which answers in chain order: block, then log index): what an auditor
        who sent none of the transactions rebuilds the rounds from."""
        logs = self.rpc.call("eth_getLogs", [{"address": self.addresses, "fromBlock": hex(from_block),
                                               "toBlock": "latest"}])
        logs.sort(key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
        return [ev for ev in map(self.decoder.decode, logs) if ev is not None]


def connect(rpc: str | None = None, *, fast: bool = False, funder: bytes | str | None = None) -> BoaChain | RpcChain:
    """titanoboa's embedded EVM when ``rpc`` is None, else the JSON-RPC node at that URL
    (``fast`` and ``funder``: see ``RpcChain``)."""
    if rpc is None:
        return BoaChain()
    if not isinstance(rpc, str) or not rpc.startswith(("http://", "https://")):
        raise ValueError(f"rpc: expected None or an http(s):// URL, got {rpc!r}")
    return RpcChain(rpc, fast=fast, funder=funder)
