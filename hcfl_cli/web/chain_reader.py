"""What the web page reads from a node: the head block, the deployment's logs between two
blocks, a few views and the deployment's immutable parameters. A deployment is two
contracts: HCFL and the HCFLTraining it created (``HCFL.TRAINING()``), which keeps the
training report and the owners' votes and logs their events; the reader asks for both
contracts' logs in one filter and sends each view to the contract that has it, by the
same rule as the chain clients (``contracts.chain.training_functions``). Read-only: it holds no key
and sends no transaction, so anyone can run it against any node.

Every request has a short timeout (a slow node must not freeze the page) and no retries
with back-off (the watcher polls again anyway); a failure is a ``NodeError`` with one line
that the page shows as it is. web3.py's provider stack costs about 15 ms a call here, more
than the node's answer, so the reads go through the project's plain JSON-RPC client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

from contracts.build import compiled
from contracts.chain import Event, EventDecoder, training_functions
from contracts.nodes import RpcError

REQUEST_TIMEOUT_S = 5.0
LOG_CHUNK_BLOCKS = 10_000
"""Blocks per ``eth_getLogs``: public providers refuse wider ranges."""


class NodeError(RuntimeError):
    """The node did not answer, or answered with an error: one line for the page."""


class WrongNode(NodeError):
    """The node answers, but it is not the deployment's chain, or what is at the address
    is not an HCFL contract (of this version)."""


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


def _outputs(abi: list[dict]) -> dict[str, list[str]]:
    return {f["name"]: [o["type"] for o in f["outputs"]] for f in abi if f["type"] == "function"}


class ChainReader:
    """A read-only client of one deployment on one JSON-RPC node (``url``, and ``address``
    HCFL's; its HCFLTraining's address is read from it at the first look, ``training``).

    Plain JSON-RPC over one kept-alive connection (``contracts.nodes.JsonRpc``); the views
    of one look are sent as one batch, encoded and decoded by web3.py's and eth-abi's
    codecs from the contracts' ABIs, and the logs are decoded by ``EventDecoder``.
    ``url``, ``chain_id``, ``addresses``, ``code_hash`` and ``call`` mean what they mean on
    ``contracts.chain.RpcChain``, so the auditor's and the deployment file's helpers take it.
    """

    def __init__(self, url: str, address: str, *, from_block: int = 0, timeout: float = REQUEST_TIMEOUT_S) -> None:
        from web3 import Web3

        from contracts.nodes import JsonRpc

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--rpc: expected an http(s):// URL, got {url!r}")
        self.url = url
        self.address = to_checksum_address(address)
        self.from_block = from_block
        self.rpc = JsonRpc(url, timeout=timeout)  # no retry with back-off: the watcher polls again anyway
        art = compiled()
        assert art.training is not None
        # no provider and no address: encoding only (the routing picks the address)
        self.contract = Web3().eth.contract(abi=art.abi)
        self.training_contract = Web3().eth.contract(abi=art.training.abi)
        self._routed = training_functions(art)
        self.outputs = {**_outputs(art.training.abi), **_outputs(art.abi)}
        self.decoder = EventDecoder.of_deployment(art)
        self._chain_id: int | None = None
        self._training: str | None = None

    def _request(self, method: str, params: list[Any]) -> Any:
        try:
            return self.rpc.call(method, params)
        except Exception as exc:  # refused, timed out, an HTTP or JSON-RPC error: one line for the page
            self.rpc.close()
            raise NodeError(f"{method}: {_one_line(exc)}") from None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._request("eth_chainId", []), 16)
        return self._chain_id

    def forget_chain(self) -> None:
        """After the node went away: it may come back as another chain (or deployment)."""
        self._chain_id = None
        self._training = None

    @property
    def training(self) -> str:
        """The address of the HCFLTraining contract that HCFL created (read once per chain)."""
        if self._training is None:
            self._training = to_checksum_address(self.call("TRAINING", []))
        return self._training

    @property
    def addresses(self) -> list[str]:
        """Every contract of the deployment: HCFL, then its HCFLTraining."""
        return [self.address, self.training]

    def _block(self, which: int | str) -> dict[str, Any] | None:
        return self._request("eth_getBlockByNumber", [which if isinstance(which, str) else hex(which), False])

    def head(self) -> Head:
        b = self._block("latest")
        if b is None:
            raise NodeError("eth_getBlockByNumber: the node has no latest block")
        return Head(int(b["number"], 16), b["hash"], int(b["timestamp"], 16))

    def block_hash(self, number: int) -> str | None:
        b = self._block(number)
        return None if b is None else b["hash"]

    def _code(self, address: str) -> bytes:
        return bytes.fromhex(self._request("eth_getCode", [address, "latest"]).removeprefix("0x"))

    def has_code(self, address: str | None = None) -> bool:
        """Whether there is code at ``address`` (default HCFL's)."""
        return bool(self._code(address or self.address))

    def code_hash(self, address: str | None = None) -> bytes:
        """keccak of the runtime code at ``address`` (default HCFL's)."""
        return keccak(self._code(address or self.address))

    def events(self, first: int, last: int) -> list[Event]:
        """Both contracts' decoded events in blocks ``first..last`` (inclusive), in chain
        order (block, then log index); a log of an event these ABIs do not know is left out."""
        out: list[Event] = []
        for lo in range(first, last + 1, LOG_CHUNK_BLOCKS):
            hi = min(last, lo + LOG_CHUNK_BLOCKS - 1)
            logs = self._request("eth_getLogs", [{"address": self.addresses, "fromBlock": hex(lo),
                                                  "toBlock": hex(hi)}])
            logs.sort(key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
            out += [ev for ev in map(self._decode, logs) if ev is not None]
        return out

    def _decode(self, log: dict[str, Any]) -> Event | None:
        try:
            return self.decoder.decode(log)
        except Exception:  # a log whose data does not fit the event's ABI: not this contract's
            return None

    def calls(self, block: int | str, views: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several views of the deployment at ``block``, in one JSON-RPC batch; a view that
        only HCFLTraining has is sent to it."""
        from eth_abi import decode

        tag = block if isinstance(block, str) else hex(block)
        batch = [("eth_call", [self._call_fields(fn, args), tag]) for fn, args in views]
        try:
            try:
                answers = self.rpc.batch(batch)
            except RpcError:  # a provider that takes no batch: one call at a time
                answers = [self._answer(method, params) for method, params in batch]
        except Exception as exc:
            self.rpc.close()
            raise NodeError(f"eth_call: {_one_line(exc)}") from None
        out = []
        for (fn, _), answer in zip(views, answers):
            try:
                if "error" in answer:
                    raise ValueError(answer["error"].get("message", answer["error"]))
                values = decode(self.outputs[fn], bytes.fromhex(str(answer["result"]).removeprefix("0x")))
            except Exception as exc:  # a revert, or nothing to decode: not the contract this page knows
                to = self.training if fn in self._routed else self.address
                raise WrongNode(f"The contract at {to} does not answer HCFL's view {fn} "
                                f"({_one_line(exc)}): is it an HCFL deployment of this version?") from None
            out.append(values[0] if len(values) == 1 else values)
        return out

    def _call_fields(self, fn: str, args: list[Any]) -> dict[str, str]:
        if fn in self._routed:
            return {"to": self.training, "data": self.training_contract.encode_abi(fn, args)}
        return {"to": self.address, "data": self.contract.encode_abi(fn, args)}

    def _answer(self, method: str, params: list[Any]) -> dict[str, Any]:
        try:
            return {"result": self.rpc.call(method, params)}
        except RpcError as e:
            return {"error": e.error}

    def call(self, fn: str, args: list[Any], block: int | str = "latest") -> Any:
        """One view of the deployment at ``block``."""
        return self.calls(block, [(fn, args)])[0]

    def live(self, block: int) -> Live:
        r, pool = self.calls(block, [("current_round", []), ("pool", [])])
        phase, deadline = self.calls(block, [("phase", [r]), ("deadline", [r])])
        return Live(int(r), int(phase), int(deadline), int(pool))

    def parameters(self) -> Parameters:
        organizer, seconds, penalty, bond, dpw, most, bonus = self.calls("latest", [
            ("ORGANIZER", []), ("phase_seconds", []), ("NO_SHOW_PENALTY", []), ("MIN_BOND", []),
            ("DEPOSIT_PER_WEIGHT", []), ("MAX_PROPOSALS", []), ("BONUS_BPS", [])])
        organizer = to_checksum_address(organizer)
        return Parameters(self.address, self.chain_id, None if int(organizer, 16) == 0 else organizer,
                          tuple(int(x) for x in seconds), int(penalty), int(bond), int(dpw), int(most), int(bonus),
                          self.from_block)
