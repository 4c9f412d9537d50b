"""benchmarks.throughput: the quick run on anvil, its outputs, and its building blocks."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from benchmarks.throughput import cli, report
from benchmarks.throughput.runner import gas_limit_for
from contracts import nodes
from benchmarks._load_flows import percentile
from benchmarks._load_rounds import RoundPlanner, RoundShape, create_address, shape_for_rate
from benchmarks._load_sign import Signer, TxFields

ROOT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.slow  # ~50 s of load on anvil; the planning and admission logic have quick tests of their own
@pytest.mark.anvil
def test_the_quick_run_confirms_rounds_and_transfers_with_no_failed_transaction(
        tmp_path, capsys) -> None:
    assert cli.main(["--quick", "--no-boa", "--out", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "HCFL contract throughput" in shown and "anvil on-demand" in shown
    with open(tmp_path / "throughput.csv") as f:
        reader = csv.reader(f)
        assert next(reader) == report.CSV_COLUMNS
        rows = [dict(zip(report.CSV_COLUMNS, r)) for r in reader]
    assert rows, "one row per rate"
    for row in rows:
        assert float(row["confirmed_tps"]) > 0
        assert float(row["offered_tps"]) > 0
        assert int(row["failed"]) == 0
        assert int(row["tx_per_block_max"]) >= 1
        assert 0 < float(row["latency_p50_s"]) <= float(row["latency_p99_s"])
    with open(tmp_path / "throughput_transfers.csv") as f:
        transfers = list(csv.DictReader(f))
    assert transfers and all(float(r["confirmed_tps"]) > 0 and r["failed"] == "0"
                             for r in transfers)
    assert (tmp_path / "throughput.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "throughput.json").read_text())
    assert all(r["empty_block_ms"] > 0 for r in saved["rows"]), "timed on the on-demand node"


SMOKE = ["--rates", "100", "--transfer-rates", "400", "--block-time", "0", "--window", "2",
         "--warmup", "0", "--no-scale", "--no-boa"]


@pytest.mark.anvil
def test_the_command_calibrates_its_gas_then_completes_whole_rounds_with_no_failed_transaction(
        tmp_path) -> None:
    # CI's smoke of the full run's path (~45 s, mostly waiting out phase deadlines): the
    # calibration round on its own node, then rounds signed with the calibrated gas limits
    # (limits from the mean gasUsed ran every round's first proposal out of gas), then
    # transfers; one rate, a 2 s window, no warm-up
    done = subprocess.run([sys.executable, "-m", "benchmarks.throughput", *SMOKE, "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    saved = json.loads((tmp_path / "throughput.json").read_text())
    assert set(saved["calibration_gas"]["anvil on-demand"]) >= {
        "register", "propose", "commit", "reveal", "advance", "close", "settle", "withdraw"}
    rounds, transfers = saved["rows"]
    assert rounds["workload"] == "rounds" and transfers["workload"] == "transfers"
    assert rounds["failed"] == 0 and transfers["failed"] == 0, (rounds["errors"],
                                                                transfers["errors"])
    assert rounds["rounds_done"] >= 1
    assert rounds["rounds_done"] == rounds["rounds"] - rounds["rounds_skipped"]
    assert rounds["confirmed"] == rounds["sent"] and transfers["confirmed"] == transfers["sent"]
    with open(tmp_path / "throughput.csv") as f:
        assert [r["failed"] for r in csv.DictReader(f)] == ["0"]
    assert "HCFL contract throughput" in done.stdout


@pytest.mark.anvil
def test_a_failing_benchmark_leaves_no_node_behind(tmp_path, monkeypatch) -> None:
    started: list[int] = []
    real_start = nodes.start_node

    def recording_start(*args, **kwargs):
        cm = real_start(*args, **kwargs)

        class Wrap:
            def __enter__(self):
                node = cm.__enter__()
                started.append(node.pid)
                return node

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrap()

    def broken_sweep(*args, **kwargs):
        raise RuntimeError("load generator broke")

    monkeypatch.setattr(nodes, "start_node", recording_start)
    monkeypatch.setattr(cli, "sweep", broken_sweep)
    with pytest.raises(RuntimeError, match="load generator broke"):
        cli.main(["--quick", "--no-boa", "--out", str(tmp_path)])
    assert len(started) == 1 and started[0] is not None
    assert not alive(started[0])


def test_the_fast_signer_produces_eth_accounts_exact_bytes() -> None:
    key = bytes(range(1, 33))
    fields = TxFields(chain_id=31337, nonce=7, max_priority_fee=10**9, max_fee=10**15,
                      gas=90_000, to=bytes.fromhex("11" * 20), value=5, data=b"\x00\x01abc")
    mine = Signer(key).sign(fields)
    ref = Account.from_key(key).sign_transaction({
        "chainId": 31337, "nonce": 7, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 10**15,
        "gas": 90_000, "to": "0x" + "11" * 20, "value": 5, "data": "0x0001616263", "type": 2})
    assert mine.raw == "0x" + ref.raw_transaction.hex()
    assert mine.hash == "0x" + ref.hash.hex()
    assert Signer(key).address == Account.from_key(key).address


def test_a_calibrated_gas_limit_covers_the_gas_before_the_largest_refund_eip_3529_allows() -> None:
    for used in (21_000, 141_829, 218_343, 1_000_003):
        # the refund is at most a fifth of the gas before it: that gas is at most used * 5/4
        assert gas_limit_for(used) >= used * 5 / 4 + 2_300


def test_create_addresses_follow_the_deployers_nonce() -> None:
    # the first contract anvil's first dev account deploys (a well-known address)
    assert create_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 0) \
        == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_no_round_stage_but_propose_sends_two_transactions_from_one_sender() -> None:
    # a node that fills blocks to the gas limit drops a sender's next transaction when the one
    # before it did not fit: so withdraw waits for settle to be mined, in a stage of its own
    from contracts import compiled

    art = compiled()
    planner = RoundPlanner(chain_id=31337, abi=art.abi, bytecode=art.bytecode, seed="stages")
    contract = create_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 0)
    flow = planner.round(contract, RoundShape(owners=2, stations=3, proposals=3),
                         phase_seconds=4, spread=0.5, rng=random.Random(1))
    fns = [sorted({p.fn for p in st.txs}) for st in flow.stages]
    assert fns[-2:] == [["settle"], ["withdraw"]]
    for stage, names in zip(flow.stages, fns):
        senders = [Account.recover_transaction(p.raw) for p in stage.txs]
        if names != ["propose"]:  # 2 owners, 3 proposals: one owner proposes twice
            assert len(set(senders)) == len(senders), names


def test_round_shapes_grow_with_the_rate_and_reject_impossible_rounds() -> None:
    small, big = shape_for_rate(1), shape_for_rate(4000)
    assert small.participants == 2 and big.participants == 64
    assert big.txs == 5 * 64 + big.proposals + 4
    with pytest.raises(ValueError, match="proposals"):
        RoundShape(owners=1, stations=1, proposals=33)
    with pytest.raises(ValueError, match="owners"):
        RoundShape(owners=0, stations=1, proposals=1)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


@pytest.mark.parametrize("argv, message", [
    (["--rates", "0,5"], "positive rates"),
    (["--window", "-1"], "--window"),
    (["--block-time", "-1"], "--block-time"),
])
def test_bad_options_end_in_a_one_line_error(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
