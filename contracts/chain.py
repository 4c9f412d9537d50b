"""Two ways to reach an EVM with one interface: titanoboa's embedded EVM and a JSON-RPC node.

``connect(rpc=None)`` returns a ``BoaChain`` (titanoboa, in process, the default) or, for an
``http://`` URL, an ``RpcChain`` (web3.py, pre-signed transactions from generated keys,
funded by ``anvil_setBalance`` where the node has it, else by transfers from the node's first
dev account). Both expose the same small surface that ``contracts.driver`` builds on:

- ``new_account(funds) -> address``; ``balance(address)``; ``time_travel(seconds)``; ``now()``
- ``deploy(compiled, args, sender) -> address``
- ``transact(sender, fn, args, value=0) -> Tx`` with the gas used and the decoded events
- ``call(fn, args)`` for views

Gas: on an RPC node it is the receipt's ``gasUsed`` (21,000 base, calldata, execution,
refunds). titanoboa has no real transaction boundaries, so ``BoaChain`` reports the
execution gas plus the intrinsic gas (21,000 + calldata) as an estimate only; the gas
benchmark (``python -m benchmarks.gas``) uses anvil's receipts.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from contracts.build import Compiled, compiled


@dataclass(frozen=True)
class Event:
    """One decoded log of the contract: event name and arguments by name."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Tx:
    """One transaction's result."""

    fn: str
    gas: int
    events: list[Event] = field(default_factory=list)
    result: Any = None


def intrinsic_gas(calldata: bytes) -> int:
    """21,000 plus 4 gas per zero and 16 per nonzero calldata byte (EIP-2028)."""
    return 21_000 + sum(4 if b == 0 else 16 for b in calldata)


def _canonical_type(inp: dict) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in inp["components"])
        return f"({inner}){t[5:]}"
    return t


class EventDecoder:
    """Decodes raw logs (topics, data) with the contract's ABI."""

    def __init__(self, abi: list[dict]):
        self._by_topic: dict[bytes, dict] = {}
        for item in abi:
            if item["type"] != "event":
                continue
            sig = f"{item['name']}({','.join(_canonical_type(i) for i in item['inputs'])})"
            self._by_topic[keccak(text=sig)] = item

    def decode(self, topics: list[bytes], data: bytes) -> Event | None:
        if not topics or topics[0] not in self._by_topic:
            return None
        item = self._by_topic[topics[0]]
        indexed = [i for i in item["inputs"] if i["indexed"]]
        plain = [i for i in item["inputs"] if not i["indexed"]]
        values = abi_decode([_canonical_type(i) for i in plain], data)
        args: dict[str, Any] = {}
        by_name = dict(zip((i["name"] for i in plain), values))
        topic_values = {
            i["name"]: abi_decode([_canonical_type(i)], t)[0] for i, t in zip(indexed, topics[1:])
        }
        for i in item["inputs"]:
            v = topic_values[i["name"]] if i["indexed"] else by_name[i["name"]]
            if i["type"] == "address":
                v = to_checksum_address(v)
            args[i["name"]] = list(v) if isinstance(v, tuple) else v
        return Event(item["name"], args)


@functools.cache
def _boa_deployer() -> Any:
    import boa

    from contracts.build import source

    return boa.loads_partial(source(), name="HCFL")


class BoaChain:
    """titanoboa's embedded EVM (``boa.env``): fast, in process, gas approximate."""

    kind = "boa"

    def __init__(self) -> None:
        import boa

        self.boa = boa
        self.env = boa.env
        self.art: Compiled = compiled()
        self.decoder = EventDecoder(self.art.abi)
        self.contract: Any = None
        self._n = 0

    def new_account(self, funds: int) -> str:
        self._n += 1
        addr = self.env.generate_address(f"hcfl{self._n}")
        self.env.set_balance(addr, funds)
        return str(addr)

    def balance(self, address: str) -> int:
        return self.env.get_balance(address)

    def now(self) -> int:
        return self.env.evm.patch.timestamp

    def time_travel(self, seconds: int) -> None:
        self.env.time_travel(seconds=seconds)

    def deploy(self, args: list[Any], sender: str) -> str:
        with self.env.prank(sender):
            self.contract = _boa_deployer().deploy(*args)
        return str(self.contract.address)

    def attach(self, address: str) -> None:
        """Drive a contract already deployed at ``address`` in this ``boa.env``."""
        self.contract = _boa_deployer().at(address)

    def transact(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Tx:
        method = getattr(self.contract, fn)
        result = method(*args, sender=sender, value=value)
        comp = self.contract._computation
        calldata = bytes(comp.msg.data)
        events = []
        for entry in sorted(comp.get_raw_log_entries()):
            _, _addr, topics, data = entry
            ev = self.decoder.decode([t.to_bytes(32, "big") for t in topics], bytes(data))
            if ev is not None:
                events.append(ev)
        return Tx(fn, comp.net_gas_used + intrinsic_gas(calldata), events, result)

    def call(self, fn: str, args: list[Any]) -> Any:
        out = getattr(self.contract, fn)(*args)
        return str(out) if hasattr(out, "canonical_address") else out


class RpcChain:
    """A JSON-RPC node through web3.py; every transaction is signed here and mined."""

    kind = "rpc"

    def __init__(self, url: str, *, timeout: float = 60.0, fast: bool = False) -> None:
        """``fast``: skip the dry run and the gas estimate of every transaction (a fixed
        gas limit instead); for benchmarks, where a revert is a bug anyway."""
        from eth_account import Account
        from web3 import Web3

        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        if not self.w3.is_connected():
            raise ValueError(f"rpc: no JSON-RPC node answers at {url}")
        self.Account = Account
        self.url = url
        self.chain_id = self.w3.eth.chain_id
        self.art = compiled()
        self.decoder = EventDecoder(self.art.abi)
        self.contract: Any = None
        self.keys: dict[str, Any] = {}
        self.nonces: dict[str, int] = {}
        self._funder = self.w3.eth.accounts[0] if self.w3.eth.accounts else None
        self._n = 0
        self._can_set_balance = True
        self._gas_price = max(self.w3.eth.gas_price, 1) * 2
        self.fast = fast

    def new_account(self, funds: int) -> str:
        self._n += 1
        acct = self.Account.from_key(keccak(text=f"hcfl-account-{self._n}-{time.time_ns()}"))
        self.keys[acct.address] = acct
        self.nonces[acct.address] = 0
        if funds > 0:
            self._fund(acct.address, funds)
        return acct.address

    def _fund(self, address: str, funds: int) -> None:
        if self._can_set_balance:
            resp = self.w3.provider.make_request("anvil_setBalance", [address, hex(funds)])
            if "error" not in resp:
                return
            self._can_set_balance = False
        if self._funder is None:
            raise ValueError("rpc: the node has no unlocked dev account to fund new accounts from")
        tx = self.w3.eth.send_transaction({"from": self._funder, "to": address, "value": funds})
        self.w3.eth.wait_for_transaction_receipt(tx)

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(address)

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def time_travel(self, seconds: int) -> None:
        resp = self.w3.provider.make_request("evm_increaseTime", [seconds])
        if "error" in resp:  # a node without time control (geth --dev): wait for real
            time.sleep(seconds)
        self.w3.provider.make_request("evm_mine", [])

    def _send(self, sender: str, tx: dict) -> Any:
        acct = self.keys[sender]
        tx = dict(tx)
        tx.update(
            {"from": sender, "nonce": self.nonces[sender], "chainId": self.chain_id, "gasPrice": self._gas_price}
        )
        if "gas" not in tx:
            tx["gas"] = 5_000_000 if self.fast else self.w3.eth.estimate_gas(tx)
        signed = acct.sign_transaction(tx)
        h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.nonces[sender] += 1
        try:  # an automining node has the receipt at once; else poll briskly
            receipt = self.w3.eth.get_transaction_receipt(h)
        except Exception:
            receipt = self.w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.05)
        if receipt["status"] != 1:
            raise RuntimeError(f"rpc: transaction {h.hex()} reverted")
        return receipt

    def deploy(self, args: list[Any], sender: str) -> str:
        factory = self.w3.eth.contract(abi=self.art.abi, bytecode=self.art.bytecode)
        tx = factory.constructor(*args).build_transaction({"from": sender, "gas": 10_000_000, "gasPrice": self._gas_price})
        tx.pop("nonce", None)
        receipt = self._send(sender, {k: v for k, v in tx.items() if k in ("data", "gas", "value")})
        self.contract = self.w3.eth.contract(address=receipt["contractAddress"], abi=self.art.abi)
        return receipt["contractAddress"]

    def attach(self, address: str) -> None:
        """Drive a contract already deployed at ``address``."""
        self.contract = self.w3.eth.contract(address=to_checksum_address(address), abi=self.art.abi)

    def add_account(self, private_key: bytes | str) -> str:
        """Send transactions from an existing funded key (e.g. one of anvil's dev accounts)."""
        acct = self.Account.from_key(private_key)
        self.keys[acct.address] = acct
        self.nonces[acct.address] = self.w3.eth.get_transaction_count(acct.address)
        return acct.address

    def chain_events(self, from_block: int = 0) -> list[Event]:
        """Every event of the contract in the node's logs (``eth_getLogs``): what an
        auditor who sent none of the transactions rebuilds the rounds from."""
        logs = self.w3.eth.get_logs({"address": self.contract.address, "fromBlock": from_block, "toBlock": "latest"})
        out = []
        for log in logs:
            ev = self.decoder.decode([bytes(t) for t in log["topics"]], bytes(log["data"]))
            if ev is not None:
                out.append(ev)
        return out

    def transact(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Tx:
        func = getattr(self.contract.functions, fn)(*args)
        data = func._encode_transaction_data()
        result = None
        if not self.fast:
            try:
                result = func.call({"from": sender, "value": value})
            except Exception as exc:  # surface the contract's reason string
                raise RuntimeError(f"{fn}: {exc}") from exc
        receipt = self._send(sender, {"to": self.contract.address, "data": data, "value": value})
        events = []
        for log in receipt["logs"]:
            ev = self.decoder.decode([bytes(t) for t in log["topics"]], bytes(log["data"]))
            if ev is not None:
                events.append(ev)
        return Tx(fn, receipt["gasUsed"], events, result)

    def call(self, fn: str, args: list[Any]) -> Any:
        return getattr(self.contract.functions, fn)(*args).call()


def connect(rpc: str | None = None, *, fast: bool = False) -> BoaChain | RpcChain:
    """titanoboa's embedded EVM when ``rpc`` is None, else the JSON-RPC node at that URL
    (``fast``: see ``RpcChain``)."""
    if rpc is None:
        return BoaChain()
    if not isinstance(rpc, str) or not rpc.startswith(("http://", "https://")):
        raise ValueError(f"rpc: expected None or an http(s):// URL, got {rpc!r}")
    return RpcChain(rpc, fast=fast)
