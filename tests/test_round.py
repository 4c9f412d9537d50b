"""``hcfl round`` end to end (embedded chain and anvil) and the auditor's planted differences."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from contracts.nodes import start_node
from contracts.chain import Event
from hcfl_cli.audit import audit_events, fetch_events, rebuild
from hcfl_cli.main import main
from hcfl_cli.round import RoundRecord, play_round
from hcfl_cli.scenario import sample_scenario

SMALL_TRAINING = {"global_rounds": 1, "contribution": "loo", "clients_per_station": 1}


@pytest.fixture(scope="module")
def small_round() -> RoundRecord:
    return play_round(sample_scenario(1, owners=4, stations=3, proposals=3), train_overrides=SMALL_TRAINING)


def test_a_round_on_the_embedded_chain_pays_everyone_what_the_reference_says(small_round: RoundRecord) -> None:
    rec = small_round
    assert rec.chain["winner"] == rec.reference.winner is not None
    assert rec.reconciliation.ok, rec.reconciliation
    assert len([r for r in rec.reconciliation.rows if r[0].startswith(("owner", "station"))]) == 7
    assert all(a.ok for a in rec.audit)
    assert rec.training is not None and len(rec.training.contributions) == 3
    # the vote follows the promise: every other owner votes to punish iff the accuracy missed it
    promised = rec.scenario.proposals[rec.reference.winner].expected_accuracy_bps
    assert all(p == (rec.accuracy_bps < promised) for _, p in rec.votes)
    assert rec.slashed == (rec.accuracy_bps < promised)


def test_the_logs_alone_give_back_every_reported_contribution(small_round: RoundRecord) -> None:
    (log,) = rebuild(_events_of(small_round))
    assert log.contributions == list(small_round.training.contributions)


def test_a_report_with_a_missing_chunk_gives_no_contributions() -> None:
    report = Event("TrainingReported", {"round_id": 1, "model_hash": b"", "model_uri": "", "accuracy_bps": 1,
                                        "stations": 130, "contributions": [1] * 64})
    tail = Event("ContributionsReported", {"round_id": 1, "first": 128, "contributions": [2, 3]})
    middle = Event("ContributionsReported", {"round_id": 1, "first": 64, "contributions": [4] * 64})
    assert rebuild([report, tail])[0].contributions is None
    assert rebuild([report, tail, middle])[0].contributions == [1] * 64 + [4] * 64 + [2, 3]


def test_the_auditor_finds_a_tampered_tax_in_the_logs(small_round: RoundRecord) -> None:
    events = _events_of(small_round)
    first = next(k for k, e in enumerate(events) if e.name == "Settled")
    tampered = list(events)
    tampered[first] = Event("Settled", {**events[first].args, "tax": int(events[first].args["tax"]) + 1})
    audits = audit_events(tampered)
    assert not audits[0].ok
    assert any("tax: chain" in d for d in audits[0].differences)


def test_the_auditor_finds_a_wrong_reference_input(small_round: RoundRecord) -> None:
    events = _events_of(small_round)
    # A revealed claim altered after the fact: the recomputed winner or taxes no longer match.
    changed = [Event(e.name, {**e.args, "claims": [c * 3 + 10**12 for c in e.args["claims"]]})
               if e.name == "Revealed" else e for e in events]
    assert not audit_events(changed)[0].ok


def _events_of(rec: RoundRecord) -> list[Event]:
    assert rec.events, "the record keeps the deployment's logs"
    return list(rec.events)


def test_hcfl_round_prints_the_round_and_writes_its_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({
        "owners": [{"weight": 1, "values": [30, 5]}, {"weight": 2, "values": [8, 20]}],
        "stations": [{"weight": 1, "costs": [5, 5]}, {"weight": 1, "costs": [9, 1]}],
        "proposals": [{"owner": 0, "labels": [0, 1], "budget": 10}, {"owner": 1, "labels": [2, 3], "budget": 12}],
    }))
    assert main(["round", "--scenario", str(scenario), "--train-rounds", "1", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "no difference" in out and "to the wei: yes" in out
    record = json.loads((tmp_path / "out" / "round.json").read_text())
    assert record["reconciliation"]["ok"] is True
    assert record["reference"]["winner"] == 0
    assert (tmp_path / "out" / "result.json").exists()


def test_a_bad_scenario_file_ends_with_one_line_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"owners": [{"values": [1]}], "stations": [{"costs": [1]}],
                               "proposals": [{"owner": 3, "labels": [0], "budget": 1}]}))
    assert main(["round", "--scenario", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "proposals[0].owner" in err[0]


@pytest.mark.anvil
def test_a_round_against_anvil_started_by_the_test_reconciles_and_audits_from_its_logs() -> None:
    with start_node("anvil") as node:
        rec = play_round(sample_scenario(2, owners=3, stations=2, proposals=2), rpc=node.url,
                         train_overrides=SMALL_TRAINING)
        assert rec.chain_kind == "rpc"
        assert rec.reconciliation.ok, rec.reconciliation
        audits = audit_events(fetch_events(node.url, rec.address))
        assert [a.ok for a in audits] == [True]
        assert dataclasses.asdict(audits[0].reference) == dataclasses.asdict(rec.reference)


def _write(tmp_path: Path, scenario: dict) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    return path


def test_a_round_that_no_proposal_wins_refunds_everyone_and_exits_cleanly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the only owner values the only proposal at 0: welfare is negative, nothing is trained
    path = _write(tmp_path, {
        "owners": [{"weight": 1, "values": [0]}],
        "stations": [{"weight": 1, "costs": [5]}],
        "proposals": [{"owner": 0, "labels": [0, 1], "budget": 10}],
    })
    assert main(["round", "--scenario", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "no difference" in out and "to the wei: yes" in out
    record = json.loads((tmp_path / "out" / "round.json").read_text())
    assert record["reference"]["winner"] is None and record["chain_outcome"]["winner"] is None
    assert record["training"] is None and record["votes"] == []
    rows = {r["who"]: r for r in record["reconciliation"]["rows"]}
    assert rows["bond 0"]["withdrawn"] == rows["bond 0"]["expected"] > 0
    assert record["audit"] == [{"round": 1, "ok": True, "differences": []}]


def test_a_budget_under_ten_gwei_gets_a_default_bond_the_contract_takes(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        "owners": [{"weight": 1, "values": [30]}, {"weight": 1, "values": [20]}],
        "stations": [{"weight": 1, "costs": [1]}],
        "proposals": [{"owner": 0, "labels": [0], "budget": 5}],
    })
    from hcfl_cli.scenario import LEAST_BOND, load_scenario

    sc = load_scenario(path)
    assert sc.proposals[0].bond == LEAST_BOND
    rec = play_round(sc, train_overrides=SMALL_TRAINING)
    assert rec.reconciliation.ok and all(a.ok for a in rec.audit)


def test_a_bond_under_the_contracts_least_bond_is_one_line_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {
        "owners": [{"values": [30]}], "stations": [{"costs": [1]}],
        "proposals": [{"owner": 0, "labels": [0], "budget": 5, "bond": 0}],
    })
    assert main(["round", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "proposals[0].bond" in err[0] and "least bond" in err[0]


def test_the_auditor_reports_a_round_never_closed_as_not_auditable() -> None:
    from contracts import Deployment

    d = Deployment.deploy(None)
    o, s = d.new_account(), d.new_account()
    d.register(o, "owner", weight=1, deposit=10**9)
    d.register(s, "station", weight=1, deposit=10**9)
    d.next_phase()
    d.propose(o, budget=10, bond=1)
    (audit,) = audit_events(d.events())
    assert not audit.auditable and not audit.ok and "never closed" in (audit.unauditable or "")


def test_the_auditor_finds_a_tampered_payout(small_round: RoundRecord) -> None:
    events = _events_of(small_round)
    first = next(k for k, e in enumerate(events) if e.name == "Settled")
    tampered = list(events)
    tampered[first] = Event("Settled", {**events[first].args, "payout": int(events[first].args["payout"]) - 1})
    (audit,) = audit_events(tampered)
    assert any("payout: chain" in d for d in audit.differences)


def test_the_auditor_compares_the_reported_contributions(small_round: RoundRecord) -> None:
    events = _events_of(small_round)
    reported = list(small_round.training.contributions)
    assert audit_events(events, expected_contributions={1: reported})[0].ok
    wrong = [c + 1 for c in reported]
    (audit,) = audit_events(events, expected_contributions={1: wrong})
    assert any(d.startswith("contributions: chain") for d in audit.differences)
    (audit,) = audit_events(events, contribution_hashes={1: b"\x00" * 32})
    assert any("stored hash" in d for d in audit.differences)


@pytest.mark.anvil
def test_hcfl_audit_checks_the_contributions_against_the_hash_stored_on_chain(
        capsys: pytest.CaptureFixture[str]) -> None:
    with start_node("anvil") as node:
        rec = play_round(sample_scenario(3, owners=3, stations=2, proposals=2), rpc=node.url,
                         train_overrides=SMALL_TRAINING)
        assert main(["audit", "--rpc", node.url, "--address", rec.address]) == 0
    assert "matches the reference" in capsys.readouterr().out


def test_a_round_with_a_station_bonus_pays_it_by_contribution_and_reconciles_to_the_wei() -> None:
    rec = play_round(sample_scenario(1, owners=3, stations=3, proposals=2), train_overrides=SMALL_TRAINING,
                     bonus_bps=5000)
    assert rec.reconciliation.ok, rec.reconciliation
    assert all(a.ok for a in rec.audit), [a.differences for a in rec.audit]
    assert rec.reference.winner is not None and rec.reference.bonus_pool > 0
    assert rec.reference.station_bonus == [e.record.bonus for e in rec.events if e.name == "BonusCredited"]
    # the auditor checks each credited bonus against the reference's split of the reported contributions
    events = _events_of(rec)
    first = next(k for k, e in enumerate(events) if e.name == "BonusCredited")
    tampered = list(events)
    tampered[first] = Event("BonusCredited", {**events[first].args, "bonus": int(events[first].args["bonus"]) + 1})
    (audit,) = audit_events(tampered, bonus_bps=5000)
    assert any(d.startswith(f"station {int(events[first].args['index'])} bonus: chain") for d in audit.differences)
