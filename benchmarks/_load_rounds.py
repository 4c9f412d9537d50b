"""Whole auction rounds of the HCFL contract as pre-signed transactions (SPEC section 5).

A round on one fresh deployment, every transaction signed before the timed window:

    register x n  ->  advance  ->  propose x M  ->  advance  ->  commit x n  ->  advance
    ->  reveal x n  ->  close  ->  settle x n  ->  withdraw x n

Each participant is its own sender (register, [propose], commit, reveal, settle itself,
withdraw: consecutive nonces, so its transactions can only run in that order); a keeper
account per deployment sends the phase changes. Contract addresses follow from the
deployer's nonces (CREATE), so commitments, which bind the contract's address, are signed
before anything is deployed. Calldata is encoded from the ABI of ``contracts.compiled()``
and commitments come from ``contracts.commitment``; nothing of ``contracts/`` is changed.

Deadlines: the Register phase of deployment ``c`` is given a length such that it ends at a
planned time (rounds start one after another, ``spacing`` seconds apart, which sets the
offered rate); the other phases last ``phase_seconds`` from the block that enters them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types

from benchmarks._load_flows import Flow, PTx, Stage
from benchmarks._load_sign import Signer, TxFields
from contracts.constants import MAX_M, ROLE_OWNER, ROLE_STATION

OPEN = "0x0000000000000000000000000000000000000000"  # no organizer
NO_KEY = b"\x00" * 32

ETHER = 10**18
DEPOSIT = ETHER  # every participant's deposit
BUDGET = 10**16  # every proposal's budget (far below any owner's deposit bound)
BOND = 10**15
MAX_FEE = 10**15  # wei per gas: above any base fee that full blocks reach in a sweep
TIP = 10**9
TRAIN_VOTE_SECONDS = 3600  # the round ends before Train, so these never run out

# Gas limits of the first (calibration) round: far above what any call uses.
GENEROUS_GAS = 1_500_000


@dataclass(frozen=True)
class RoundShape:
    """Participants and proposals of one round."""

    owners: int
    stations: int
    proposals: int

    def __post_init__(self) -> None:
        if self.owners < 1:
            raise ValueError(f"owners: expected >= 1, got {self.owners}")
        if self.stations < 1:
            raise ValueError(f"stations: expected >= 1, got {self.stations}")
        if not 1 <= self.proposals <= 32:
            raise ValueError(f"proposals: expected 1..32 (the contract's MAX_M), "
                             f"got {self.proposals}")

    @property
    def participants(self) -> int:
        return self.owners + self.stations

    @property
    def txs(self) -> int:
        """Transactions of one round: 5 per participant, 1 per proposal, 4 phase changes."""
        return 5 * self.participants + self.proposals + 4


class Abi:
    """Calldata for the contract's functions and constructor, from its ABI.

    Why not web3's ``contract.encode_abi``: it re-resolves the function and validates the
    arguments on every call, ~500 encodings/s here against 24,000-44,000/s for this table of
    selectors over ``eth_abi.encode``, and the signing path (~4,500 signatures/s on this
    machine) must not wait for its calldata (measured with 5 round calls, 15,000 each).
    """

    def __init__(self, abi: list[dict]) -> None:
        self.fns: dict[str, tuple[bytes, list[str]]] = {
            item["name"]: (function_abi_to_4byte_selector(item), get_abi_input_types(item))
            for item in abi if item["type"] == "function"}
        ctor = next((i for i in abi if i["type"] == "constructor"), None)
        self.constructor: list[str] = get_abi_input_types(ctor) if ctor else []

    def calldata(self, fn: str, args: list) -> bytes:
        selector, types = self.fns[fn]
        return selector + abi_encode(types, args)

    def constructor_args(self, args: list) -> bytes:
        return abi_encode(self.constructor, args)


def constructor_args(register_seconds: int, phase_seconds: int) -> list:
    """The benchmark's deployment: an open one (no organizer, so every weight is 1 and no
    ticket is checked) whose deposit per weight admits the budget from a single owner and
    whose owners may post every proposal, without a station bonus (its rounds never train)."""
    return [[register_seconds, phase_seconds, phase_seconds, phase_seconds, TRAIN_VOTE_SECONDS,
             TRAIN_VOTE_SECONDS], 0, 1, OPEN, BUDGET, MAX_M, 0]


def create_address(sender: str, nonce: int) -> str:
    """The address a CREATE from ``sender`` at ``nonce`` deploys to."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


class RoundPlanner:
    """Signs deployments and rounds for one run (fresh keys per run: every nonce starts at 0)."""

    def __init__(self, *, chain_id: int, abi: list[dict], bytecode: bytes, seed: str,
                 gas: dict[str, int] | None = None) -> None:
        self.chain_id = chain_id
        self.abi = Abi(abi)
        self.bytecode = bytecode
        self.seed = seed
        self.gas = gas or {}
        self._keys = 0
        self.signers: list[Signer] = []

    def new_signer(self) -> Signer:
        key = keccak(f"{self.seed}/{self._keys}".encode())
        self._keys += 1
        s = Signer(key)
        self.signers.append(s)
        return s

    def _sign(self, signer: Signer, nonce: int, to: str | None, data: bytes, value: int,
              fn: str) -> PTx:
        gas = self.gas.get(fn, GENEROUS_GAS)
        st = signer.sign(TxFields(self.chain_id, nonce, TIP, MAX_FEE, gas,
                                  bytes.fromhex(to[2:]) if to else b"", value, data))
        return PTx(raw=st.raw, hash=st.hash, fn=fn)

    def deployments(self, deployer: Signer, register_seconds: Sequence[int],
                    phase_seconds: int, deploy_gas: int, first_nonce: int = 0) -> list[PTx]:
        """One deployment per entry of ``register_seconds`` (its Register phase's length)
        from ``deployer``, at consecutive nonces from ``first_nonce``."""
        out = []
        for nonce, reg in enumerate(register_seconds, start=first_nonce):
            if reg < 1:
                raise RuntimeError(f"setup overran: a Register phase of {reg} s")
            data = self.bytecode + self.abi.constructor_args(constructor_args(reg, phase_seconds))
            st = deployer.sign(TxFields(self.chain_id, nonce, TIP, MAX_FEE, deploy_gas, b"",
                                        0, data))
            out.append(PTx(raw=st.raw, hash=st.hash, fn="deploy"))
        return out

    def round(self, contract: str, shape: RoundShape, *, phase_seconds: int, spread: float,
              rng: random.Random) -> Flow:
        """One whole round on ``contract`` (its round 1) as a flow of stages."""
        from contracts import commitment

        rid = 1
        keeper = self.new_signer()
        owners = [self.new_signer() for _ in range(shape.owners)]
        stations = [self.new_signer() for _ in range(shape.stations)]
        people = owners + stations
        nonce = {s.address: 0 for s in people}

        def tx(s: Signer, fn: str, args: list, value: int = 0) -> PTx:
            p = self._sign(s, nonce[s.address], contract, self.abi.calldata(fn, args), value, fn)
            nonce[s.address] += 1
            return p

        register = [tx(s, "register", [rid, ROLE_OWNER if s in owners else ROLE_STATION, 1, 0, NO_KEY, 0, 0,
                                       b"", b""], DEPOSIT) for s in people]
        propose = [tx(owners[m % len(owners)], "propose",
                      [rid, BUDGET, keccak(f"model {m}".encode()), f"file:///models/{m}.json", 9000, 10,
                       2**10 - 1, 11_000_000], BOND) for m in range(shape.proposals)]
        claims: dict[str, list[int]] = {}
        salts: dict[str, bytes] = {}
        for s in people:
            # owners value a proposal up to twice its budget, stations' costs are smaller:
            # welfare is positive and some proposal wins
            top = 2 * BUDGET if s in owners else BUDGET // (2 * len(stations))
            claims[s.address] = [rng.randint(0, top) for _ in range(shape.proposals)]
            salts[s.address] = rng.randbytes(32)
        commit = [tx(s, "commit", [rid, commitment(contract, rid, s.address, claims[s.address],
                                                   salts[s.address])]) for s in people]
        reveal = [tx(s, "reveal", [rid, claims[s.address], salts[s.address]]) for s in people]
        settle = [tx(s, "settle", [rid, s.address, claims[s.address], salts[s.address]])
                  for s in people]
        withdraw = [tx(s, "withdraw", [rid]) for s in people]
        k = iter(range(4))

        def phase_change(fn: str) -> PTx:
            return self._sign(keeper, next(k), contract, self.abi.calldata(fn, [rid]), 0, fn)

        stages = [
            Stage(register, spread=spread),
            Stage([phase_change("advance")], after_deadline=True, phase_seconds=phase_seconds),
            Stage(propose, spread=spread),
            Stage([phase_change("advance")], after_deadline=True, phase_seconds=phase_seconds),
            Stage(commit, spread=spread),
            Stage([phase_change("advance")], after_deadline=True, phase_seconds=phase_seconds),
            Stage(reveal, spread=spread),
            Stage([phase_change("close")], after_deadline=True),
            Stage(settle, spread=spread),
            # only once settled: a node that fills blocks to the gas limit (anvil with block
            # times) drops a sender's next transaction when the one before it did not fit
            Stage(withdraw, spread=spread),
        ]
        return Flow(stages=stages)

    @property
    def addresses(self) -> list[str]:
        return [s.address for s in self.signers]


def shape_for_rate(rate: float, proposals: int = 4) -> RoundShape:
    """Round size grown with the rate: a few participants at a few tx/s (so that one round's
    bursts stay near the rate), up to 64 at thousands (so that a run needs ~100 deployments,
    not thousands). A quarter of the participants are owners."""
    n = int(min(64, max(2, round(rate / 16))))
    owners = max(1, n // 4)
    return RoundShape(owners=owners, stations=n - owners,
                      proposals=max(1, min(proposals, 32, n)))
