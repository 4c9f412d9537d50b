"""Gas on a real chain (anvil's receipts): issue 3's targets at M = 10 for every participant,
no growth with N, and one profile settled over JSON-RPC agreeing with the reference.
Needs anvil (``scripts/setup.sh`` installs it): the ``anvil`` marker of tests/conftest.py."""

from __future__ import annotations

import json

import pytest

from benchmarks.gas import PER_PARTICIPANT_TARGET, TARGETS, per_participant, run_baseline, run_round
from contracts.nodes import start_node
from contracts import settle_on_chain
from mechanism import settle

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def anvil_url():
    with start_node("anvil") as node:
        yield node.url


@pytest.fixture(scope="module")
def rounds(anvil_url):
    return {n: run_round(anvil_url, n, 10) for n in (4, 20)}


def test_every_participant_meets_the_gas_targets_at_ten_proposals(rounds):
    for fn, ceiling in TARGETS.items():
        assert rounds[20].per_function[fn][1] <= ceiling, fn


def test_a_participants_own_transactions_of_a_round_cost_at_most_300k_gas_at_ten_proposals(rounds):
    # register + commit + reveal + settle_and_withdraw, each at its dearest call of the round
    assert per_participant(rounds[20]) <= PER_PARTICIPANT_TARGET
    assert rounds[20].per_function["settle_and_withdraw"][2] > 0


def test_no_participant_transaction_costs_more_with_more_participants(rounds):
    # the claims differ between the profiles, so calldata may differ by a few hundred gas
    for fn in ("register", "commit", "reveal", "settle", "withdraw", "vote"):
        assert rounds[20].per_function[fn][1] <= rounds[4].per_function[fn][1] * 1.01, fn


@pytest.mark.slow  # two rounds of 132 and 200 participants on anvil (~80 s); benchmarks.gas prints the same rows
def test_the_training_report_costs_no_more_per_transaction_with_more_stations(anvil_url):
    # 66 stations report in chunks of 64 + 2, 100 in 64 + 36: the costliest transaction
    # is a full chunk either way
    def report_gas(n: int) -> int:
        per = run_round(anvil_url, n, 1).per_function
        return max(per[fn][1] for fn in ("report_training", "report_contributions"))

    few, many = report_gas(132), report_gas(200)
    assert many <= few * 1.01
    assert few < 200_000


def test_settle_on_chain_over_json_rpc_matches_the_reference(anvil_url):
    p = dict(
        budgets=[100, 250, 40],
        owner_weights=[1, 2, 3],
        station_weights=[2, 1],
        owner_values=[[50, 200, 10], [80, 10, 0], [60, 120, 30]],
        station_costs=[[30, 100, 5], [20, 90, 1]],
    )
    ref, out = settle(**p), settle_on_chain(**p, rpc=anvil_url)
    for f in ("winner", "welfare", "owner_tax", "station_tax", "owner_pays", "station_receives", "surplus"):
        assert getattr(out, f) == getattr(ref, f), f
    assert min(out.gas["reveal"]) > 21_000  # receipts' gas, base cost included


def test_events_read_back_from_the_nodes_logs_rebuild_the_round(anvil_url):
    from contracts import Deployment

    d = Deployment.deploy(anvil_url, deposit_per_weight=100)
    o, s = d.new_account(), d.new_account()
    d.register(o, "owner", weight=1, deposit=500)
    d.register(s, "station", weight=1, deposit=100)
    d.next_phase()
    d.propose(o, budget=100, bond=1)
    d.next_phase()
    d.commit(o, [300])
    d.commit(s, [50])
    d.next_phase()
    d.reveal(o)
    d.reveal(s)
    d.close()
    d.settle(o)
    d.settle(s)
    other = Deployment.attach(d.address, anvil_url)
    logged = other.chain_events()
    assert [e.name for e in logged][:2] == ["PhaseChanged", "RoundStarted"]  # the constructor's
    assert [e for e in logged if e.name != "PhaseChanged"][1:] == [
        e for e in d.events() if e.name != "PhaseChanged"
    ]
    assert next(e for e in logged if e.name == "Closed").args["welfare"] == [250]


def test_the_plain_sealed_bid_baseline_runs_on_the_same_node_and_costs_a_bidder_less_than_a_participant(
        anvil_url, rounds):
    # last in this module: the baseline moves the shared node's clock
    base = run_baseline(anvil_url, bidders=4)
    assert {fn: calls for fn, (_, _, calls) in base.per_function.items()} == {"commit": 4, "reveal": 4, "withdraw": 4}
    assert all(lo > 21_000 for lo, _, _ in base.per_function.values())
    assert 100_000 < base.per_bidder < per_participant(rounds[20])


def test_the_benchmark_prints_its_table_the_baseline_and_the_code_size(tmp_path, capsys):
    from benchmarks.gas import main

    out = tmp_path / "gas.json"
    assert main(["--grid", "4:2", "--json", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "HCFL gas per external function" in shown and "Baseline: a plain sealed-bid auction" in shown
    assert "per bidder" in shown
    assert "room under EIP-170" in shown and "HCFLTraining" in shown
    saved = json.loads(out.read_text())
    stored = saved["rounds"][0]["code_bytes"]
    assert saved["baseline"]["per_bidder"] > 0 and set(stored) == {"HCFL", "HCFLTraining"}
    assert max(stored.values()) <= 24_576 - 2_048


def test_every_contract_a_deployment_creates_keeps_two_kib_of_room_under_eip_170_on_a_node(rounds):
    from benchmarks.gas import CONTRACTS
    from contracts.build import EIP170_LIMIT, EIP170_ROOM

    stored = rounds[20].code_bytes
    assert stored is not None and set(stored) == set(CONTRACTS)
    for name, size in stored.items():
        assert 0 < size <= EIP170_LIMIT - EIP170_ROOM, name


def test_both_contracts_events_come_back_from_the_logs_in_chain_order(anvil_url):
    """On a node: HCFLTraining's functions go to it, and ``chain_events`` (one ``eth_getLogs``
    over both addresses) gives the same stream, in the same order, as the receipts did."""
    from contracts import Deployment

    d = Deployment.deploy(anvil_url, deposit_per_weight=100)
    owners = d.new_accounts([10**19] * 2)
    station = d.new_account(10**19)
    for o in owners:
        d.register(o, "owner", weight=1, deposit=1000)
    d.register(station, "station", deposit=1000)
    d.next_phase()
    d.propose(owners[0], budget=100, bond=1)
    d.next_phase()
    for a, c in ((owners[0], 300), (owners[1], 200), (station, 10)):
        d.commit(a, [c])
    d.next_phase()
    for a in (*owners, station):
        d.reveal(a)
    d.close()
    fields = d.chain.call_fields("report_training", [1, b"\x01" * 32, "", 9000, [1]])
    assert fields["to"] == d.chain.call("TRAINING", []) != d.address
    assert d.chain.call_fields("close", [1])["to"] == d.address
    d.report_training(b"\x01" * 32, 9000, [1])
    d.vote(owners[1], True)
    d.finalize()
    logged = [e.name for e in d.chain_events()]
    # the driver saw every transaction's receipt but the constructor's
    assert logged == ["PhaseChanged", "RoundStarted", *[e.name for e in d.events()]]
    i = logged.index("TrainingReported")
    assert logged[i:i + 3] == ["TrainingReported", "PhaseChanged", "Voted"] and logged[-1] == "Finalized"
