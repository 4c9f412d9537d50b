"""Throughput of HCFL's contract on a real Ethereum node, against the paper's figure 6.

Claim measured: how many transactions of whole auction rounds (register, propose, commit,
reveal, close, settle, withdraw) a node confirms per second and per block as the generation
rate grows, next to plain transfers on the same node in the same run. The paper's geth
private chain saturates at about 2 tx/s of generation and 15 transactions per block.

Method (``benchmarks._load``; the timing in ``plan``): for each rate a fresh node (anvil
rebuilds its state root from every account and slot at each block, so a node that earlier
runs filled would be slower for that alone; with ``--rpc`` the runs share the one node),
fresh keys and one fresh deployment per round; every transaction is signed before the timed
window (libsecp256k1, ~10k/s); rounds start one after another so that their transactions
come at the target rate, each stage sent once the previous one is mined and the contract's
phase deadline has passed; a new round is skipped while the node is behind or when, at its
measured capacity, it could not also take the later stages of the rounds already started
(admission control), so no round misses a deadline. Measures come from a
steady-state window after a warm-up: offered and confirmed tx/s, transactions per block
(mean, max, empty blocks included), latency from send to the block being seen (p50, p99),
failed transactions (every transaction of every round that ran must succeed), gas per
function from the receipts. One run per rate on one machine (2 shared cores here): read
the figures as orders of magnitude, not to the percent.

Nodes: anvil from ``scripts/setup.sh`` with automine and with 1 s blocks (``--block-time``),
``geth --dev`` where a geth binary is on PATH (``--node geth``), or any ``--rpc URL``.
Also: the same rounds on titanoboa's embedded EVM (in-process baseline), and the scale of a
single round (participants, proposals) against the block gas limit.

    python -m benchmarks.throughput                  # full sweep, anvil automine and 1 s blocks
    python -m benchmarks.throughput --quick --out out  # one rate, short windows, no calibration
    python -m benchmarks.throughput --rates 100 --transfer-rates 400 --block-time 0 \
        --window 2 --warmup 0 --no-scale --no-boa   # CI smoke: calibration, then whole rounds
    python -m benchmarks.throughput --rpc http://127.0.0.1:8545 --block-time 1

Writes ``DIR/throughput.csv`` (SPEC section 6: one row per rate of round transactions),
``DIR/throughput_transfers.csv`` (same columns, plain transfers), ``DIR/throughput.json``
(everything, gas included) and ``DIR/throughput.png`` (tx per block against generation rate,
the paper's figure 6 marked).

Modules: ``plan`` (the timing plan, pure), ``deploy`` (one contract per round), ``runner``
(runs and sweeps), ``baseline`` (titanoboa), ``report`` (rows, CSV, plot, tables, summary),
``chain`` (the node's kind), ``cli`` (the command line, also ``__main__``).
"""
