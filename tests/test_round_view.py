"""The typed view of every round of a deployment, folded from its events alone
(``contracts.round_view``): what an agent serving round after round, ``hcfl status`` and a
read-only page of a deployment read."""

from __future__ import annotations

import pytest

from contracts.auction import Report, RoundPlan, finish_round, run_auction
from contracts.chain import Event
from contracts.round_view import MOVERS, fold_round, fold_rounds, read_round, records_of
from mechanism import settle

PROFILE = dict(budgets=[100, 80], owner_weights=[1, 2], station_weights=[1, 3],
               owner_values=[[90, 10], [60, 70]], station_costs=[[20, 30], [25, 5]])


@pytest.fixture(scope="module")
def two_rounds():  # type: ignore[no-untyped-def]
    """Round 1 played to the last withdrawal (report, votes, finalize), then round 2 opened
    with two registrations."""
    plan = RoundPlan.from_profile(**PROFILE, bond=7)
    d = plan.deploy()
    auction = run_auction(d, plan)
    done = finish_round(d, auction, plan, report=Report(b"\x02" * 32, 9000, [3, 4], "file:///m.pt"),
                        punish=lambda owner: True)
    d.start_round()
    late = d.new_accounts([10**18, 10**18])
    d.register(late[0], "owner", weight=2, deposit=500)
    d.register(late[1], "station", deposit=50)
    return d, auction, done, late


def test_every_round_of_a_deployment_folds_from_its_events_alone(two_rounds) -> None:  # type: ignore[no-untyped-def]
    d, auction, done, late = two_rounds
    rounds = fold_rounds(d.chain_events())
    assert sorted(rounds) == [1, 2]
    first, second = rounds[1], rounds[2]
    ref = settle(**PROFILE)
    assert [m.address for m in first.owners] == auction.owners and [m.weight for m in first.stations] == [1, 3]
    assert first.budgets == PROFILE["budgets"] and first.winner == ref.winner == auction.winner
    assert [m.claims for m in first.owners] == PROFILE["owner_values"]
    assert [m.settled.tax for m in (*first.owners, *first.stations)] == ref.owner_tax + ref.station_tax
    assert first.report is not None and first.contributions == [3, 4]
    assert first.votes == {a: True for i, a in enumerate(auction.owners) if i != auction.winner}
    assert first.slashed is done.slashed is True and first.logged_phase == "Finalized"
    assert [m.withdrawn for m in (*first.owners, *first.stations)] == done.withdrawn
    assert first.pool == ref.surplus + 7  # the slashed bond, recycled
    assert [m.address for m in second.members] == late and second.proposals == () and second.closed is None
    assert second.logged_phase == "Register" and second.subsidy == first.pool  # the pool, announced


def test_a_live_read_adds_the_phase_its_deadline_the_time_and_ones_own_record(two_rounds) -> None:  # type: ignore[no-untyped-def]
    d, _, _, late = two_rounds
    d.load_events()
    v = d.round(me=late[0])
    assert (v.round_id, v.phase, v.mover) == (2, "Register", MOVERS["Register"])
    assert v.deadline == d.deadline() and v.now is not None and not v.over
    assert v.me is not None and v.me.role == 1 and v.me.amount == 500
    assert d.round(1, live=False).winner == d.winner(1)


def test_an_event_the_client_does_not_know_is_skipped_and_an_empty_round_is_empty() -> None:
    known = Event("RoundStarted", {"round_id": 7, "deadline": 100, "subsidy": 5})
    unknown = Event("SomethingNew", {"participant": "0x" + "00" * 20, "from_round": 8})
    view = fold_round([unknown, known], 7)
    assert view.started is not None and view.subsidy == 5 and view.logged_phase == "Register"
    assert fold_round([known], 8).members == () and records_of([unknown, known], "RoundStarted", 7)[0].subsidy == 5


def test_a_live_read_reads_the_events_after_the_phase_so_a_vote_phase_holds_its_report() -> None:
    # The report's transaction moves the round to Vote; a view that read the events first and
    # the phase after could see Vote without the report (an owner then voted "no model").
    order: list[str] = []

    class Views:
        chain = type("Chain", (), {"now": staticmethod(lambda: order.append("now") or 5)})

        def phase(self, r: int) -> str:
            order.append("phase")
            return "Vote"

        def deadline(self, r: int) -> int:
            order.append("deadline")
            return 10

    def events() -> list[Event]:
        order.append("events")
        return [Event("TrainingReported", {"round_id": 1, "model_hash": b"\x01" * 32, "model_uri": "", "accuracy_bps": 1,
                                           "stations": 1, "contributions": [1]})]

    v = read_round(Views(), events, 1)
    assert order[-1] == "events" and v.phase == "Vote" and v.report is not None
