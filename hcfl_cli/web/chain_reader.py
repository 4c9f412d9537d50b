"""What the web page reads from a node: the head block, the contract's logs between two
blocks, a few views and the deployment's immutable parameters. Read-only: it holds no key
and sends no transaction, so anyone can run it against any node.

Every request has a short timeout (a slow node must not freeze the page) and no retries
with back-off (the watcher polls again anyway); a failure is a ``NodeError`` with one line
that the page shows as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

from contracts.build import compiled
from contracts.chain import Event, EventDecoder

REQUEST_TIMEOUT_S = 5.0
LOG_CHUNK_BLOCKS = 10_000
"""Blocks per ``eth_getLogs``: public providers refuse wider ranges."""


class NodeError(RuntimeError):
    """The node did not answer, or answered with an error: one line for the page."""


@dataclass(frozen=True)
class Head:
    """A block: its number, hash and timestamp (the chain's clock)."""

    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class Parameters:
    """What the deployment fixed at its constructor (SPEC section 5 step 0)."""

    address: str
    chain_id: int
    organizer: str | None  # None: an open deployment
    phase_seconds: tuple[int, ...]  # Register, Propose, Commit, Reveal, Train, Vote
    no_show_penalty: int
    min_bond: int
    deposit_per_weight: int
    max_proposals: int
    bonus_bps: int
    from_block: int  # where its logs start (the deployment block when known)


@dataclass(frozen=True)
class Live:
    """The views of the current round at one block."""

    current_round: int
    phase: int
    deadline: int
    pool: int


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."


class ChainReader:
    """A read-only client of one contract on one JSON-RPC node (``url``, ``address``).

    ``w3``, ``url``, ``chain_id`` and ``call`` have the meaning they have on
    ``contracts.chain.RpcChain``, so the auditor's and the deployment file's checks take it.
    """

    def __init__(self, url: str, address: str, *, from_block: int = 0, timeout: float = REQUEST_TIMEOUT_S) -> None:
        from web3 import Web3

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--rpc: expected an http(s):// URL, got {url!r}")
        self.url = url
        self.address = to_checksum_address(address)
        self.from_block = from_block
        # no retries: a down node is reported at once and polled again on the next tick
        provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        self.w3 = Web3(provider)
        self.contract = self.w3.eth.contract(address=self.address, abi=compiled().abi)
        self.decoder = EventDecoder(compiled().abi)
        self._chain_id: int | None = None

    def _node(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # requests' and web3's errors alike: the page shows one line
            raise NodeError(f"{what}: {_one_line(exc)}") from None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._node("eth_chainId", lambda: self.w3.eth.chain_id))
        return self._chain_id

    def forget_chain(self) -> None:
        """After the node went away: it may come back as another chain."""
        self._chain_id = None

    def head(self) -> Head:
        b = self._node("eth_getBlockByNumber", self.w3.eth.get_block, "latest")
        return Head(int(b["number"]), "0x" + bytes(b["hash"]).hex(), int(b["timestamp"]))

    def block_hash(self, number: int) -> str | None:
        b = self._node("eth_getBlockByNumber", self.w3.eth.get_block, number)
        return None if b is None else "0x" + bytes(b["hash"]).hex()

    def has_code(self, block: int | str = "latest") -> bool:
        return bool(self._node("eth_getCode", self.w3.eth.get_code, self.address, block))

    def code_hash(self) -> bytes:
        return keccak(bytes(self._node("eth_getCode", self.w3.eth.get_code, self.address)))

    def events(self, first: int, last: int) -> list[Event]:
        """The contract's decoded events in blocks ``first..last`` (inclusive), in order; a
        log of an event this ABI does not know is left out."""
        out: list[Event] = []
        for lo in range(first, last + 1, LOG_CHUNK_BLOCKS):
            hi = min(last, lo + LOG_CHUNK_BLOCKS - 1)
            logs = self._node("eth_getLogs", self.w3.provider.make_request, "eth_getLogs",
                              [{"address": self.address, "fromBlock": hex(lo), "toBlock": hex(hi)}])
            if "error" in logs:
                raise NodeError(f"eth_getLogs: {_one_line(Exception(logs['error'].get('message', logs['error'])))}")
            out += [ev for ev in map(self._decode, logs["result"]) if ev is not None]
        return out

    def _decode(self, log: dict[str, Any]) -> Event | None:
        try:
            return self.decoder.decode(log)
        except Exception:  # a log whose data does not fit the event's ABI: not this contract's
            return None

    def call(self, fn: str, args: list[Any], block: int | str = "latest") -> Any:
        """A view of the contract at ``block``."""
        try:
            return getattr(self.contract.functions, fn)(*args).call(block_identifier=block)
        except Exception as exc:  # a node that is down, or a view this contract lacks
            raise NodeError(f"{fn}: {_one_line(exc)}") from None

    def live(self, block: int) -> Live:
        r = int(self.call("current_round", [], block))
        return Live(r, int(self.call("phase", [r], block)), int(self.call("deadline", [r], block)),
                    int(self.call("pool", [], block)))

    def parameters(self) -> Parameters:
        organizer = to_checksum_address(self.call("ORGANIZER", []))
        return Parameters(
            self.address, self.chain_id, None if int(organizer, 16) == 0 else organizer,
            tuple(int(s) for s in self.call("phase_seconds", [])), int(self.call("NO_SHOW_PENALTY", [])),
            int(self.call("MIN_BOND", [])), int(self.call("DEPOSIT_PER_WEIGHT", [])),
            int(self.call("MAX_PROPOSALS", [])), int(self.call("BONUS_BPS", [])), self.from_block)
