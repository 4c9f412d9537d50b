"""Deploying one contract per round, timed so that each round's Register phase ends when
the plan (``benchmarks.throughput.plan``) says.
"""

from __future__ import annotations

import math
import time

from benchmarks._load_rounds import Abi, RoundPlanner, constructor_args
from benchmarks._load_sign import Signer
from benchmarks.throughput.chain import ON_DEMAND_KIND
from contracts import nodes


def estimate_deploy_gas(url: str, abi: list[dict], bytecode: bytes) -> int:
    """Gas limit of one deployment: the node's estimate with a fifth to spare."""
    data = bytecode + Abi(abi).constructor_args(constructor_args(3600, 2))
    with nodes.JsonRpc(url) as rpc:
        est = int(rpc.call("eth_estimateGas", [{"data": "0x" + data.hex()}]), 16)
    return int(est * 1.2)


def deploy_rounds(node: nodes.Node, planner: RoundPlanner, deployer: Signer,
                  deadlines: list[int], phase: int, deploy_gas: int, gas_limit: int) -> list[int]:
    """Deploy one contract per round, block by block, each signed just before its block
    with the Register length that ends it at ``deadlines[c]``; the Register deadline
    that each actually got (chain time).

    Why block by block: a round's later phases all start on its Register deadline plus
    whole phase lengths, so rounds whose deadlines bunch up or leave a second empty
    send in bursts and gaps that recur every phase. Signed all at once, the contracts
    mined over several blocks (seconds apart with 1 s blocks, or waiting for the
    client's kicks) got their deadlines shifted by their block's timestamp.
    """
    bt = node.block_time
    on_demand = node.kind == ON_DEMAND_KIND
    per_block = max(1, gas_limit // max(1, deploy_gas))
    out: list[int] = []
    with nodes.JsonRpc(node.url) as rpc:
        head = rpc.call("eth_getBlockByNumber", ["latest", False])
        fresh = False  # `head` was seen just now
        while len(out) < len(deadlines):
            if bt:
                # interval mining: send right after a block, for the next one
                if not fresh:
                    head = _next_block(rpc, int(head["number"], 16))
                expected = int(head["timestamp"], 16) + math.ceil(bt)
            else:
                if time.time() % 1.0 > 0.8:  # not across a second: wait for the next
                    time.sleep(1.0 - time.time() % 1.0 + 0.01)
                expected = int(time.time())
            first = len(out)
            batch = planner.deployments(deployer, [
                d - expected for d in deadlines[first:first + per_block]], phase,
                deploy_gas, first_nonce=first)
            answers = rpc.batch([("eth_sendRawTransaction", [p.raw]) for p in batch])
            bad = [a["error"] for a in answers if "error" in a]
            if bad:
                raise RuntimeError(f"deployment refused: {bad[0]}")
            if on_demand:
                rpc.call("evm_mine")
            receipts = _wait_kicking(rpc, [p.hash for p in batch], automine=bt is None)
            if any(int(r["status"], 16) != 1 for r in receipts):
                raise RuntimeError("a deployment reverted")
            blocks = {n: rpc.call("eth_getBlockByNumber", [n, False])
                      for n in dict.fromkeys(r["blockNumber"] for r in receipts)}
            head, fresh = blocks[receipts[-1]["blockNumber"]], True
            out += [d - expected + int(blocks[r["blockNumber"]]["timestamp"], 16)
                    for d, r in zip(deadlines[first:], receipts)]
    return out


def _next_block(rpc: nodes.JsonRpc, after: int, timeout: float = 60.0) -> dict:
    """The first block after number ``after`` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = rpc.call("eth_getBlockByNumber", ["latest", False])
        if int(head["number"], 16) > after:
            return head
        time.sleep(0.01)
    raise TimeoutError(f"no block after {after} in {timeout} s")


def _wait_kicking(rpc: nodes.JsonRpc, hashes: list[str], automine: bool,
                  timeout: float = 120.0) -> list[dict]:
    """Receipts of ``hashes``; on automine, ``evm_mine`` whatever the node leaves waiting."""
    deadline = time.monotonic() + timeout
    got: dict[str, dict] = {}
    last = time.monotonic()
    while len(got) < len(hashes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(hashes) - len(got)} deployments not mined in {timeout} s")
        todo = [h for h in hashes if h not in got]
        for i in range(0, len(todo), 500):
            part = todo[i:i + 500]
            for h, a in zip(part, rpc.batch([("eth_getTransactionReceipt", [h]) for h in part])):
                if a.get("result"):
                    got[h] = a["result"]
                    last = time.monotonic()
        if len(got) < len(hashes):
            if automine and time.monotonic() - last > 0.25:
                rpc.call("evm_mine")
                last = time.monotonic()
            time.sleep(0.02)
    return [got[h] for h in hashes]
