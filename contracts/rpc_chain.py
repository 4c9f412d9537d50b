"""``RpcChain``: any JSON-RPC node through web3.py, every transaction signed here.

web3.py's own layers do what they are trusted for: its ``HTTPProvider`` (with its retries of
rate-limited and dropped requests) is the transport of every signed transaction and view,
and its proof-of-authority middleware (``ExtraDataToPOAMiddleware``, injected at layer 0)
reads the 97-byte ``extraData`` of geth's clique, BSC or Polygon PoS blocks. The receipts,
logs and simulations, which a many-participant round polls hard, go through the lighter
``contracts.transport.JsonRpc`` on one kept-alive connection.

The public surface a participant's pipeline (``contracts.pipeline``) needs, so that no caller
reaches into ``w3`` or ``rpc``: ``fees()``, ``block_gas_limit``, ``estimate``,
``estimate_creation``, ``calldata``, ``simulate``, ``transaction_count``, ``receipt``,
``sent_transaction``, ``code_hash``, besides the ``submit``/``wait``/``transact`` that every
client of ``contracts.chain`` has.

Fees: EIP-1559 where the chain has a base fee (twice the base fee plus the node's tip),
legacy otherwise. A resend at the same nonce raises the fees by a quarter (``resend_fees``)
and never above ``max_fee`` per gas (default: ``MAX_FEE_FACTOR`` times what the first send
offered): a transaction stuck under the cap waits instead of bidding on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address

from contracts.build import Compiled, compiled
from contracts.chain import training_functions
from contracts.chain import (ERROR_SELECTOR, FAST_GAS_LIMIT, FEE_BUMP_DENOMINATOR, FEE_BUMP_NUMERATOR, FEE_REFRESH_S,
                             RECEIPT_TIMEOUT_S, Event, Pending, Reverted, Tx, gas_limit, normal, revert_reason)
from contracts.transport import JsonRpc, NotMined, RpcError, node_error, wait_for_receipts

MAX_FEE_FACTOR = 2
"""Without ``max_fee``, no resend offers more than twice the first send's fee per gas."""
REPLACEMENT_NUMERATOR, REPLACEMENT_DENOMINATOR = 11, 10
"""Nodes replace a pending transaction only for at least 10 % more on both fee fields."""
FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
TRANSFER_GAS = 21_000
"""The gas of a plain transfer to an account without code."""


def offered_fee(tx: dict[str, Any]) -> int:
    """What a transaction offers per gas at most: its fee cap, or its gas price (legacy)."""
    return int(tx.get("maxFeePerGas", tx.get("gasPrice", 0)))


def resend_fees(tx: dict[str, Any], cap: int, fresh: dict[str, int] | None = None) -> dict[str, int] | None:
    """The fee fields of a resend of ``tx`` at the same nonce: a quarter more, at least the
    chain's ``fresh`` fee cap (the base fee may have risen), at most ``cap`` per gas; None
    when the cap leaves no room for the 10 % a node needs to replace it."""
    out = {}
    for k in FEE_FIELDS:
        if k in tx:
            out[k] = min(int(tx[k]) * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR + 1, cap)
    if "maxFeePerGas" in out and fresh:
        out["maxFeePerGas"] = min(max(out["maxFeePerGas"], fresh.get("maxFeePerGas", 0)), cap)
    if "maxPriorityFeePerGas" in out:
        out["maxPriorityFeePerGas"] = min(out["maxPriorityFeePerGas"], out["maxFeePerGas"])
    enough = all(out[k] * REPLACEMENT_DENOMINATOR >= int(tx[k]) * REPLACEMENT_NUMERATOR for k in out)
    return out if out and enough else None


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
        return Event(data["event"], {k: normal(v) for k, v in data["args"].items()})

    @classmethod
    def of_deployment(cls, art: Compiled) -> EventDecoder:
        """The decoder of a deployment's logs: HCFL's events and its HCFLTraining's."""
        assert art.training is not None
        return cls(art.abi + [i for i in art.training.abi if i["type"] == "event"])


def _refusal(exc: BaseException) -> bool:
    """Whether a failed estimate or call is the contract's refusal (a revert), not the node's."""
    from web3.exceptions import BadFunctionCallOutput, ContractLogicError

    return isinstance(exc, (ContractLogicError, BadFunctionCallOutput))


class RpcChain:
    """A JSON-RPC node through web3.py; every transaction is signed here.

    ``funder``: a key that pays for ``new_account`` where the node has neither
    ``anvil_setBalance`` nor an unlocked account (as a public provider, or a node behind a
    strict proxy). ``fast``: skip the dry run and the gas estimate of every transaction (a
    fixed gas limit instead); for benchmarks, where a revert is a bug anyway. ``max_fee``:
    the most any version of a transaction offers per gas (wei); None: ``MAX_FEE_FACTOR``
    times its first send's.

    ``on_sign``: None, or a function called with each signed transaction's ``Pending``
    (hash, nonce and fees known) just before it is broadcast: a participant's outbox
    (``contracts.outbox``) writes it to disk there, so that a process killed between
    the broadcast and the receipt is restarted knowing what it has in flight.
    """

    kind = "rpc"

    def __init__(self, url: str, *, timeout: float = 60.0, fast: bool = False,
                 funder: bytes | str | None = None, max_fee: int | None = None) -> None:
        from eth_account import Account
        from web3 import Web3
        from web3.middleware import ExtraDataToPOAMiddleware

        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        self.w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)  # clique, BSC, Polygon PoS
        self.url = url
        try:
            self.chain_id = self.w3.eth.chain_id
        except Exception as exc:  # noqa: BLE001 (sorted below: a node's failure is one line)
            err = node_error(exc, url)
            if err is None:
                raise
            if "cannot be reached" in err.message:
                raise ValueError(f"rpc: no JSON-RPC node answers at {url}") from None
            raise err from None
        self.Account = Account
        self.rpc = JsonRpc(url, timeout=timeout)
        self.art = compiled()
        assert self.art.training is not None
        self.decoder = EventDecoder.of_deployment(self.art)
        self.contract: Any = None
        self.training: Any = None  # the HCFLTraining contract HCFL created
        self._routed = training_functions(self.art)
        self.keys: dict[str, Any] = {}
        self.nonces: dict[str, int] = {}
        self.funder = Account.from_key(funder) if funder is not None else None
        self.fast = fast
        if max_fee is not None and max_fee < 1:
            raise ValueError(f"--max-fee: must be at least 1 wei per gas, got {max_fee}")
        self.max_fee = max_fee
        self.deploy_receipt: dict[str, Any] | None = None
        self._n = 0
        self.block_gas_limit = int(self.w3.eth.get_block("latest")["gasLimit"])
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
        self.nonces[acct.address] = self.transaction_count(acct.address, "pending")
        return acct.address

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(address)

    def transaction_count(self, address: str, block: str = "latest") -> int:
        """``address``'s nonce as of ``block`` (``"latest"``: mined; ``"pending"``: in the pool too)."""
        return int(self.w3.eth.get_transaction_count(to_checksum_address(address), block))

    def code_hash(self, address: str) -> bytes:
        """keccak of the runtime code at ``address`` (``keccak(b"")`` where there is none)."""
        return keccak(bytes(self.w3.eth.get_code(to_checksum_address(address))))

    # -- time -------------------------------------------------------------------------
    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def head_block(self) -> int:
        """The number of the node's latest block."""
        return int(self.w3.eth.block_number)

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

    # -- fees and gas -----------------------------------------------------------------
    def fees(self) -> dict[str, int]:
        """The fee fields of a first send: EIP-1559 where the chain has a base fee, else a
        legacy gas price, capped by ``max_fee``; read again at most every ``FEE_REFRESH_S``
        (two node calls a transaction would halve the rate of a many-participant round)."""
        now = time.monotonic()
        if self._fee_cache is None or now - self._fee_cache[0] > FEE_REFRESH_S:
            self._fee_cache = (now, self._read_fees())
        return dict(self._fee_cache[1])

    def _read_fees(self) -> dict[str, int]:
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            price = max(self.w3.eth.gas_price, 1) * 2
            return {"gasPrice": min(price, self.max_fee) if self.max_fee else price}
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # noqa: BLE001 (a node without eth_maxPriorityFeePerGas)
            tip = 10**9
        cap = 2 * int(base) + tip
        if self.max_fee is not None:
            if self.max_fee < int(base):
                raise ValueError(f"--max-fee: {self.max_fee} wei per gas is below the chain's base fee {int(base)}")
            cap = min(cap, self.max_fee)
        return {"maxFeePerGas": cap, "maxPriorityFeePerGas": min(tip, cap)}

    def _target(self, fn: str) -> Any:
        return self.training if fn in self._routed else self.contract

    def calldata(self, fn: str, args: list[Any]) -> str:
        """The calldata of the deployment's function ``fn`` with ``args``."""
        return getattr(self._target(fn).functions, fn)(*args)._encode_transaction_data()

    def call_fields(self, fn: str, args: list[Any]) -> dict[str, str]:
        """``to`` and ``data`` of a call of ``fn`` (to HCFL, or to HCFLTraining for its own
        functions), for a caller that builds the transaction itself (a simulation)."""
        return {"to": self._target(fn).address, "data": self.calldata(fn, args)}

    def estimate(self, sender: str, fn: str, args: list[Any], value: int = 0) -> dict[str, int]:
        """What ``submit`` would send, without sending: the node's gas estimate, the gas
        limit with its margin and the fee fields (``Reverted`` if the call would fail)."""
        tx = {"from": sender, **self.call_fields(fn, args), "value": value}
        try:  # the estimate runs the call: a revert comes back with its reason
            estimate = int(self.w3.eth.estimate_gas(tx))
        except Exception as exc:
            if not _refusal(exc):
                raise
            raise Reverted(fn, revert_reason(exc)) from None
        return {"estimate": estimate, "gas": gas_limit(estimate, self.block_gas_limit), **self.fees()}

    def estimate_creation(self, sender: str, args: list[Any]) -> int:
        """The node's gas estimate of deploying the contract with ``args`` (``Reverted``
        when the constructor refuses them)."""
        try:
            return int(self.w3.eth.estimate_gas({"from": sender, "data": self.creation_data(args)}))
        except Exception as exc:
            if not _refusal(exc):
                raise
            raise Reverted("deploy", revert_reason(exc)) from None

    def simulate(self, sender: str, calls: Sequence[tuple[str, list[Any], int]]) -> list[int] | None:
        """The gas each of ``calls`` (function, arguments, value) uses when all run in order
        in one simulated block (``eth_simulateV1``), ``Reverted`` for one that fails; None
        where the node cannot simulate."""
        txs = [{"from": sender, "value": hex(v), **self.call_fields(f, a)} for f, a, v in calls]
        try:
            blocks = self.rpc.call("eth_simulateV1", [{"blockStateCalls": [{"calls": txs}]}, "latest"])
            results = blocks[0]["calls"]
        except (RpcError, KeyError, IndexError, TypeError):
            return None
        used = []
        for (f, _, _), r in zip(calls, results):
            if int(r["status"], 16) != 1:
                raw = bytes.fromhex(r.get("returnData", "0x")[2:])
                if raw[:4] == ERROR_SELECTOR:
                    from eth_abi import decode

                    raise Reverted(f, str(decode(["string"], raw[4:])[0]))
                raise Reverted(f, r.get("error", {}).get("message", "reverted in the simulation"))
            used.append(int(r["gasUsed"], 16))
        return used

    # -- transactions -----------------------------------------------------------------
    def _sign_and_send(self, sender: str, tx: dict[str, Any], fn: str) -> Pending:
        if sender not in self.keys:
            raise ValueError(f"sender: no key for {sender} in this client")
        tx = dict(tx)
        tx.update({"from": sender, "nonce": self.nonces[sender], "chainId": self.chain_id, **self.fees()})
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

    def _resend(self, pending: Pending, cap: int) -> Pending | None:
        """``pending`` again at the same nonce with fees a quarter higher (it replaces the
        first in the node's pool, so at most one of them is ever mined); None when ``cap``
        leaves no room to raise them."""
        assert pending.tx is not None
        try:
            fresh: dict[str, int] | None = self.fees()
        except ValueError:  # the base fee rose past ``max_fee``: the cap decides alone
            fresh = None
        fees = resend_fees(pending.tx, cap, fresh)
        if fees is None:
            return None
        return self._broadcast(Pending(pending.fn, "", pending.sender, pending.gas_limit, {**pending.tx, **fees}))

    def submit(self, sender: str, fn: str, args: list[Any], value: int = 0, gas: int | None = None) -> Pending:
        """Estimate (a revert raises ``Reverted`` and nothing is sent), then send.

        ``gas``: a gas limit from ``estimate`` just before, which ran the call already;
        ``fast`` clients send with a fixed limit and no estimate."""
        if gas is None and not self.fast:
            gas = self.estimate(sender, fn, args, value)["gas"]
        tx: dict[str, Any] = {**self.call_fields(fn, args), "value": value}
        if gas is not None:
            tx["gas"] = gas
        return self._sign_and_send(sender, tx, fn)

    def estimate_transfer(self, sender: str, to: str, value: int) -> int:
        """The gas limit of a plain transfer of ``value`` wei to ``to`` (21,000 to an
        account without code; the estimate and its margin otherwise)."""
        estimate = int(self.w3.eth.estimate_gas({"from": sender, "to": to_checksum_address(to), "value": value}))
        return estimate if estimate == TRANSFER_GAS else gas_limit(estimate, self.block_gas_limit)

    def send_value(self, sender: str, to: str, value: int) -> Pending:
        """Sign and send a plain transfer of ``value`` wei from ``sender`` to ``to``."""
        gas = self.estimate_transfer(sender, to, value)
        return self._sign_and_send(sender, {"to": to_checksum_address(to), "value": value, "gas": gas}, "transfer")

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The node's receipt of ``tx_hash`` (hex fields, as sent), None while not mined."""
        return self.rpc.call("eth_getTransactionReceipt", [tx_hash])

    def sent_transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction ``tx_hash`` as the node has it (its ``input`` included)."""
        return self.rpc.call("eth_getTransactionByHash", [tx_hash])

    def wait(self, pending: Pending, timeout: float = RECEIPT_TIMEOUT_S, resend_after: float | None = None,
             earlier: Sequence[Pending] = ()) -> Tx:
        """The mined transaction (``Reverted`` if it failed on chain).

        ``resend_after``: when it is not mined within that many seconds, send it again at
        the same nonce with higher fees (at most ``max_fee`` per gas), and again after each
        further such wait, until ``timeout``; whichever of the versions is mined is the
        result. ``earlier``: versions of ``pending`` at the same nonce sent before it (by a
        run that died), any of which may be the one mined.
        """
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
        assert versions[0].tx is not None
        cap = self.max_fee if self.max_fee is not None else MAX_FEE_FACTOR * offered_fee(versions[0].tx)
        end = time.monotonic() + timeout
        resend_at = time.monotonic() + (resend_after if resend_after is not None else float("inf"))
        while True:
            for v in versions:
                receipt = self.receipt(v.hash)
                if receipt is not None:
                    return receipt, v
            now = time.monotonic()
            if now > end:
                raise NotMined(f"{pending.fn}: not mined within {timeout:.0f} s (transaction {versions[-1].hash}"
                                   f", offering {offered_fee(versions[-1].tx or {})} wei per gas, at most {cap})")
            if now >= resend_at:
                try:
                    again = self._resend(versions[-1], cap)
                except Exception as exc:  # "nonce too low": one version was mined meanwhile
                    if "nonce" not in str(exc).lower():
                        raise
                else:
                    if again is not None:
                        versions.append(again)
                resend_at = now + (resend_after if resend_after is not None else float("inf"))
            time.sleep(0.5)  # a block takes seconds on a real chain; polling faster only loads the node

    def transact(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Tx:
        return self.wait(self.submit(sender, fn, args, value))

    def creation_data(self, args: list[Any]) -> str:
        """The deployment transaction's data: the creation code with ``args`` encoded after it."""
        factory = self.w3.eth.contract(abi=self.art.abi, bytecode=self.art.bytecode)
        return factory.constructor(*args).data_in_transaction

    def send_creation(self, args: list[Any], sender: str) -> Pending:
        """Sign and send the deployment with ``args`` (estimated first: ``Reverted`` when
        the constructor refuses them); ``wait_for_creation`` gives its address."""
        gas = gas_limit(self.estimate_creation(sender, args), self.block_gas_limit)  # estimated even when ``fast``
        return self._sign_and_send(sender, {"data": self.creation_data(args), "value": 0, "gas": gas}, "deploy")

    def wait_for_creation(self, pending: Pending, resend_after: float | None = None) -> str:
        """The address of the contract that ``pending`` (``send_creation``) created, once mined
        (resent at the same nonce like any transaction); attached to it."""
        if resend_after is None:
            receipt = wait_for_receipts(self.rpc, [pending.hash], raise_on_revert=False)[0]
        else:
            receipt, pending = self._wait_resending(pending, RECEIPT_TIMEOUT_S, resend_after)
        if int(receipt["status"], 16) != 1:
            raise Reverted("deploy", f"constructor reverted (transaction {pending.hash})")
        self.deploy_receipt = receipt  # block and transaction, for a deployment file
        self.attach(receipt["contractAddress"])
        return self.contract.address

    def deploy(self, args: list[Any], sender: str) -> str:
        return self.wait_for_creation(self.send_creation(args, sender))

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

    @property
    def addresses(self) -> list[str]:
        """Every contract of the deployment: HCFL, then its HCFLTraining."""
        return [self.contract.address, self.training.address]

    def call(self, fn: str, args: list[Any]) -> Any:
        try:
            return normal(getattr(self._target(fn).functions, fn)(*args).call())
        except Exception as exc:
            if not _refusal(exc):
                raise
            raise Reverted(fn, revert_reason(exc)) from None

    def chain_events(self, from_block: int = 0) -> list[Event]:
        """Every event of both contracts in the node's logs (``eth_getLogs`` on both
        addresses, put in chain order: block, then log index): what an auditor who sent
        none of the transactions rebuilds the rounds from."""
        logs = self.rpc.call("eth_getLogs", [{"address": self.addresses, "fromBlock": hex(from_block),
                                               "toBlock": "latest"}])
        logs.sort(key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
        return [ev for ev in map(self.decoder.decode, logs) if ev is not None]
