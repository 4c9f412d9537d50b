"""The one chain client: titanoboa's embedded EVM and any JSON-RPC node behind one interface.

``connect(rpc=None)`` returns a ``BoaChain`` (titanoboa, in process, the default) or, for an
``http(s)://`` URL, an ``RpcChain`` (web3.py, transactions signed here: ``contracts.rpc_chain``).
Every caller that talks to the contract (the round driver, ``settle_on_chain``, ``hcfl round``,
the auditor, the gas benchmark, the tests) goes through this surface:

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from contracts.build import Compiled, compiled
from contracts.records import make_record

if TYPE_CHECKING:
    from contracts.rpc_chain import RpcChain

GAS_MARGIN_FIXED = 30_000
"""Added to every estimate: covers the dust sweep (a few storage writes and a log) that
the round's last settlement runs when settlements are estimated before each other is mined."""
GAS_MARGIN_DIVISOR = 4
"""And a quarter of the estimate on top, for state that grows between estimate and mining."""
RECEIPT_TIMEOUT_S = 120.0
RPC_TIMEOUT_S = 60.0
"""How long a node has to answer one request (``$HCFL_RPC_TIMEOUT`` overrides it)."""
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

    @functools.cached_property
    def record(self) -> Any:
        """The typed record of this event (``contracts.records``), built once: the round view's
        fold, its filter by round and the web page's incremental fold all read it."""
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


def normal(value: Any) -> Any:
    """Decoded values in one form for both backends: checksummed addresses, lists, bytes."""
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    if hasattr(value, "canonical_address"):  # titanoboa's Address
        return to_checksum_address(str(value))
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):  # HexBytes too
        return bytes(value)
    return value


def revert_reason(exc: BaseException) -> str:
    """The revert string of a titanoboa or web3 failure, else the exception's text."""
    trace = getattr(exc, "stack_trace", None)
    frame = getattr(trace, "last_frame", None)
    vm_error = getattr(frame, "vm_error", None)
    if vm_error is not None and vm_error.args:
        raw, *_ = vm_error.args
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

    def head_block(self) -> int:
        """0: titanoboa keeps no log index, so there is no block to read logs from."""
        return 0

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
                args = {k: normal(v) for k, v in entry._asdict().items() if k != "address"}
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
            raise _boa_reverted()(fn, revert_reason(exc), exc) from None
        comp = target._computation
        events = self._events(target)
        self._log.extend(events)
        return Tx(fn, comp.net_gas_used + intrinsic_gas(bytes(comp.msg.data)), events, result)

    def call(self, fn: str, args: list[Any]) -> Any:
        try:
            out = getattr(self._target(fn), fn)(*args)
        except self.boa.BoaError as exc:
            raise _boa_reverted()(fn, revert_reason(exc), exc) from None
        return normal(out)

    def chain_events(self, from_block: int = 0) -> list[Event]:
        """Every event the contract logged in this process (titanoboa keeps no log index)."""
        return list(self._log)


def connect(rpc: str | None = None, *, fast: bool = False, funder: bytes | str | None = None,
            max_fee: int | None = None) -> BoaChain | RpcChain:
    """titanoboa's embedded EVM when ``rpc`` is None, else the JSON-RPC node at that URL
    (``fast``, ``funder`` and ``max_fee``: see ``RpcChain``)."""
    if rpc is None:
        return BoaChain()
    if not isinstance(rpc, str) or not rpc.startswith(("http://", "https://")):
        raise ValueError(f"rpc: expected None or an http(s):// URL, got {rpc!r}")
    from contracts.rpc_chain import RpcChain

    return RpcChain(rpc, timeout=rpc_timeout(), fast=fast, funder=funder, max_fee=max_fee)


def rpc_timeout() -> float:
    """Seconds a node has to answer one request: ``$HCFL_RPC_TIMEOUT``, else ``RPC_TIMEOUT_S``."""
    import os

    raw = os.environ.get("HCFL_RPC_TIMEOUT")
    try:
        value = float(raw) if raw else RPC_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"HCFL_RPC_TIMEOUT: expected seconds > 0, got {raw!r}")
    return value


def __getattr__(name: str) -> Any:
    """``RpcChain`` and ``EventDecoder`` live in ``contracts.rpc_chain`` (web3.py is imported
    only by a client of a node); they are served from here too."""
    if name in ("RpcChain", "EventDecoder"):
        from contracts import rpc_chain

        return getattr(rpc_chain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
