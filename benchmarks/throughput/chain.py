"""The node a run talks to: which kind it is, and the two things asked of it outside a run.

``ON_DEMAND_KIND`` marks anvil started with ``--no-mining``, whose blocks the load engine
requests itself (``benchmarks._load_miner.Miner``); every module that treats that node apart
reads it from here.
"""

from __future__ import annotations

import time

from contracts import nodes

ON_DEMAND_KIND = "anvil-ondemand"  # anvil --no-mining, a block requested whenever txs wait


def node_label(kind: str, block_time: float | None) -> str:
    """How tables, the plot and the summary name a node."""
    if kind == ON_DEMAND_KIND:
        return "anvil on-demand"
    return f"{kind} {'automine' if not block_time else f'{block_time:g} s blocks'}"


def block_gas_limit(url: str) -> int:
    with nodes.JsonRpc(url) as rpc:
        return int(rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)


def empty_block_ms(node: nodes.Node, blocks: int = 3) -> float | None:
    """Mean ms that an on-demand node takes to mine an empty block (None elsewhere: a node
    with its own block times is not asked for extra blocks)."""
    if node.kind != ON_DEMAND_KIND:
        return None
    with nodes.JsonRpc(node.url) as rpc:
        t = time.perf_counter()
        for _ in range(blocks):
            rpc.call("evm_mine")
        return (time.perf_counter() - t) / blocks * 1000
