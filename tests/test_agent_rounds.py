"""An agent across rounds, without a node: what an owner still proposes (its config's list and
a folder it reads each round, a trained one never again), its record per round, its claims
cut on the round's subsidy, and the reconciliation of every round of a deployment played on
titanoboa (round 1's tax and slashed bond are round 2's subsidy, to the wei)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from contracts.auction import Report, RoundPlan, finish_round, run_auction
from contracts.constants import ROLE_OWNER
from contracts.records import ParticipantRecord, Proposed, Registered, RoundStarted
from contracts.round_view import Member, RoundView, fold_rounds, pool_ledger
from hcfl_cli.agent_config import config_from_dict
from hcfl_cli.agent_proposals import document_path, plan_of, proposed_in, trained_in, wanted
from hcfl_cli.agent_record import Results, RoundRecord, resources
from hcfl_cli.audit import reference_of
from hcfl_cli.bidding import claim_limit, owner_shares
from hcfl_cli.reconcile import reconcile_rounds, released_bonds
from mechanism import cost_shares

ME = "0x" + "ab" * 20
PROPOSAL = {"labels": [1, 2], "accuracy_bps": 7000, "budget": 100, "bond": 10}


def _owner(tmp_path: Path, **data: object):  # type: ignore[no-untyped-def]
    base = {"role": "owner", "deposit": 10, "valuation": {"value_per_label": [1] * 10}}
    return config_from_dict({**base, **data}, tmp_path / "agent.toml")


def test_an_owner_lists_its_proposals_in_its_config_and_a_folder_it_reads_every_round(tmp_path: Path) -> None:
    cfg = _owner(tmp_path, proposals=[{**PROPOSAL, "name": "first"}, {**PROPOSAL, "name": "second", "labels": [3]}],
                 proposals_dir="more")
    said: list[str] = []
    assert [p.name for p in wanted(cfg.proposals, cfg.proposals_dir, (), said.append)] == ["first", "second"]
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "late.toml").write_text('labels = [4, 5]\naccuracy_bps = 6000\nbudget = 7\nbond = 1\n')
    (tmp_path / "more" / "broken.toml").write_text("labels = [\n")
    got = wanted(cfg.proposals, cfg.proposals_dir, {"first"}, said.append)
    assert [(p.name, p.labels) for p in got] == [("second", (3,)), ("late", (4, 5))]  # trained: never again
    assert len(said) == 1 and "broken.toml left out" in said[0]  # taken at a later round once it reads


def test_a_single_proposal_table_still_reads_and_names_are_checked(tmp_path: Path) -> None:
    assert [p.name for p in _owner(tmp_path, proposal=PROPOSAL).proposals] == ["proposal"]
    with pytest.raises(ValueError, match="^proposals: two proposals share a name"):
        _owner(tmp_path, proposals=[{**PROPOSAL, "name": "a"}, {**PROPOSAL, "name": "a"}])
    with pytest.raises(ValueError, match=r"^proposals\[0\][.]name:"):
        _owner(tmp_path, proposals=[{**PROPOSAL, "name": "../x"}])
    with pytest.raises(ValueError, match="^proposals_dir: only an owner"):
        config_from_dict({"role": "station", "deposit": 1, "proposals_dir": "p"}, tmp_path / "s.toml")


def _proposed(round_id: int, index: int, doc: bytes, proposer: str = ME) -> Proposed:
    return Proposed(round_id, index, proposer, 100, 10, hashlib.sha256(doc).digest(), "", 7000, 1, 6, 0)


def test_what_won_and_was_trained_is_read_from_the_chain_and_the_owners_own_documents(tmp_path: Path) -> None:
    from contracts.records import Closed, TrainingReported

    for name, doc in (("p1", b"one"), ("p2", b"two")):
        path = document_path(tmp_path, 3, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc)
    other = "0x" + "cd" * 20
    proposals = (_proposed(3, 0, b"two"), _proposed(3, 1, b"someone else's", other), _proposed(3, 2, b"one"))
    closed = Closed(3, True, 2, [0, 0, 0], 0)
    report = TrainingReported(3, b"\x01" * 32, "file:///m", 9000, 0, [])
    view = RoundView(3, proposals=proposals, closed=closed)
    assert plan_of(tmp_path, 3, hashlib.sha256(b"one").digest()) == "p1"
    assert proposed_in(view, ME, tmp_path) == ["p2", "p1"]
    assert trained_in(view, ME, tmp_path) is None  # won, but nothing was reported: proposed again
    assert trained_in(replace(view, report=report), ME, tmp_path) == "p1"
    assert trained_in(replace(view, report=report), other, tmp_path) is None


def test_an_owners_claims_are_cut_on_its_share_of_the_budget_less_the_rounds_subsidy() -> None:
    owners = tuple(Member(Registered(2, f"0x{i + 1:040x}", ROLE_OWNER, i, w, 1000, 1, b"\x00" * 32, b""))
                   for i, w in enumerate([1, 2]))
    me = ParticipantRecord(ROLE_OWNER, 0, 1, 2, 500, b"")
    plain = RoundView(2, members=owners, proposals=(_proposed(2, 0, b"x"),), me=me)
    subsidised = RoundView(2, started=RoundStarted(2, 0, 40), members=owners, proposals=plain.proposals, me=me)
    assert owner_shares(plain, 1) == [cost_shares(100, [1, 2])[1]] == [67]
    assert owner_shares(subsidised, 1) == [cost_shares(60, [1, 2])[1]] == [40]  # the contract's bound, too
    assert claim_limit(subsidised, me, "owner") - claim_limit(plain, me, "owner") == 27


def test_an_agents_record_keeps_earlier_rounds_of_the_same_deployment_only(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    r = Results("owner0", "owner", ME, "0xdep")
    r.round(1).claims = ["5"]
    r.rounds[2] = RoundRecord(2, registered=True, punish=True)
    r.save(path)
    again = Results.load(path, "owner0", "owner", ME, "0xdep")
    assert again.rounds[1].claims == ["5"] and again.rounds[2].punish is True and r.max_rss_kb > 0
    assert Results.load(path, "owner0", "owner", ME, "0xother").rounds == {}
    now = resources()
    assert now["rss_kb"] > 0 and now["open_fds"] > 0 and now["threads"] >= 1


PROFILE = dict(budgets=[100, 80], owner_weights=[1, 2], station_weights=[1, 3],
               owner_values=[[90, 10], [60, 70]], station_costs=[[20, 30], [25, 5]])


def test_every_round_of_a_deployment_reconciles_to_the_wei_with_the_subsidy_the_round_before_left() -> None:
    plan = RoundPlan.from_profile(**PROFILE, bond=7)
    d = plan.deploy()
    first = run_auction(d, plan)
    finish_round(d, first, plan, report=Report(b"\x02" * 32, 9000, [3, 4], "file:///m.pt"), punish=lambda _o: True)
    d.start_round()
    second_plan = RoundPlan.from_profile(**PROFILE, bond=7, subsidy=d.round(2, live=False).subsidy)
    second = run_auction(d, second_plan)
    finish_round(d, second, second_plan, report=Report(b"\x03" * 32, 9000, [1, 1], "file:///n.pt"),
                 punish=lambda _o: False, withdraw=False)
    d.withdraw(second.owners[0])  # one payout of round 2 is taken out, the others stay owed
    views = list(fold_rounds(d.chain_events()).values())
    assert [v.round_id for v in views] == [1, 2] and views[1].subsidy == views[0].pool > 0
    refs = [reference_of(v) for v in views]
    forgetful = reference_of(replace(views[1], started=None))  # round 2 without its subsidy
    assert refs[1].owner_pays != forgetful.owner_pays
    released = [released_bonds(d, v) for v in views]
    ledger = pool_ledger(d.chain_events())
    rec = reconcile_rounds(views, refs, penalty=d.no_show_penalty(), released=released, ledger=ledger,
                           pool=d.pool(), balance=d.contract_balance())
    assert rec.ok
    assert rec.rounds[0].pool == views[1].subsidy and rec.rounds[1].pool == d.pool()
    owed = sum(line.expected for line in rec.rounds[1].rows if line.withdrawn is None)
    assert owed > 0 and rec.expected_balance == d.pool() + owed
    # a reference that forgets round 2's subsidy is caught
    assert not reconcile_rounds(views, [refs[0], forgetful], penalty=d.no_show_penalty(), released=released,
                                ledger=ledger, pool=d.pool(), balance=d.contract_balance()).ok


def test_a_bonus_credited_after_the_next_round_started_counts_to_its_own_round_in_the_pools_ledger() -> None:
    plan = RoundPlan.from_profile(**PROFILE, bond=7, bonus_bps=2500)
    d = plan.deploy()
    first = run_auction(d, plan)
    d.report_training(b"\x02" * 32, 9000, [3, 4], "file:///m.pt")  # the bonus split leaves 1 wei of rounding
    while d.phase() != "Finalized":
        d.next_phase()
    d.start_round()  # round 2 takes the pool before the stations credit their bonus
    for s in first.stations:
        d.credit_bonus(s, round_id=1)
    ledger = pool_ledger(d.chain_events())
    view = fold_rounds(d.chain_events())[1]
    ref = reference_of(view, 2500, view.contributions)
    left = ref.bonus_pool - sum(ref.station_bonus or [])
    assert left > 0 and not ledger.mismatches and ledger.pool == d.pool() == left
    assert ledger.inflows[1] == fold_rounds(d.chain_events())[2].subsidy + left
