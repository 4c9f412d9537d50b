"""The agent's parts without a chain or torch: its vote (judging against the promise, the
measurement injected as a callable) and its bid (its valuation, injected too, cut to what its
deposit covers on mechanism's shares)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.constants import ROLE_OWNER, ROLE_STATION
from contracts.records import ParticipantRecord, Proposed, Registered, TrainingReported
from contracts.round_view import Member, RoundView
from hcfl_cli.bidding import bid, claim_limit
from hcfl_cli.documents import DocumentError
from hcfl_cli.judging import judge_report
from mechanism import cost_shares, station_bonus_hold

MODEL = Path("model.pt")


def _report(accuracy_bps: int) -> TrainingReported:
    return TrainingReported(1, b"\x01" * 32, "file:///model.pt", accuracy_bps, 2, [1, 1])


def _judge(accuracy: float, seen: list | None = None):  # type: ignore[no-untyped-def]
    def judge(model: Path, data: Path, labels: tuple[int, ...]) -> float:
        if seen is not None:
            seen.append((model, data, labels))
        return accuracy
    return judge


def test_an_owner_votes_on_the_promised_accuracy_when_an_honest_winner_reports_less_than_it_promised() -> None:
    seen: list = []
    # promised 80 %, honestly reported 70 %, measured 75 %: below the promise, above the report
    v = judge_report(promised_bps=8000, report=_report(7000), fetch_model=lambda: MODEL, judge=_judge(0.75, seen),
                     data=Path("heldout"), labels=(1, 3))
    assert v.punish is True and v.measured == 0.75
    assert "below the promised 80.00%" in v.why and "reported 70.00%" in v.why
    assert seen == [(MODEL, Path("heldout"), (1, 3))]


def test_an_owner_keeps_a_model_that_meets_the_promise_whatever_the_winner_reported() -> None:
    low = judge_report(promised_bps=7000, report=_report(6000), fetch_model=lambda: MODEL, judge=_judge(0.75),
                       data=Path("d"), labels=(0,))
    high = judge_report(promised_bps=7000, report=_report(9999), fetch_model=lambda: MODEL, judge=_judge(0.6),
                        data=Path("d"), labels=(0,))
    assert low.punish is False and high.punish is True


def test_an_owner_punishes_a_missing_a_refused_or_an_unreadable_model() -> None:
    def refused() -> Path:
        raise DocumentError("the model: sha256 differs: refused")

    def unreadable(model: Path, data: Path, labels: tuple[int, ...]) -> float:
        raise ValueError("not a model file")

    assert judge_report(promised_bps=1, report=None, fetch_model=lambda: MODEL, judge=_judge(1.0), data=Path("d"),
                        labels=(0,)).punish
    r = judge_report(promised_bps=1, report=_report(1), fetch_model=refused, judge=_judge(1.0), data=Path("d"),
                     labels=(0,))
    assert r.punish and r.refused and r.measured is None
    u = judge_report(promised_bps=1, report=_report(1), fetch_model=lambda: MODEL, judge=unreadable, data=Path("d"),
                     labels=(0,))
    assert u.punish and "does not load" in u.why


def _member(role: int, index: int, weight: int, address: str) -> Member:
    return Member(Registered(1, address, role, index, weight, 1000, 1, b"\x00" * 32, b""))


def _view(me: ParticipantRecord, budgets: list[int]) -> RoundView:
    owners = [_member(ROLE_OWNER, i, w, f"0x{i + 1:040x}") for i, w in enumerate([1, 2, 3])]
    stations = [_member(ROLE_STATION, j, w, f"0x{j + 10:040x}") for j, w in enumerate([1, 3])]
    proposals = tuple(Proposed(1, k, f"0x{1:040x}", c, 1, b"\x00" * 32, "", 5000, 1, 1, 0) for k, c in enumerate(budgets))
    return RoundView(1, members=(*owners, *stations), proposals=proposals, phase="Commit", me=me)


class _Cfg:
    def __init__(self, role: str) -> None:
        self.role = role


def test_an_owners_claims_are_cut_to_its_deposit_less_its_largest_cost_share_from_mechanism() -> None:
    me = ParticipantRecord(ROLE_OWNER, 0, 1, 2, 1000, b"")
    view = _view(me, [600, 599])
    share = max(cost_shares(c, [1, 2, 3])[1] for c in (600, 599))
    assert share == 200 and claim_limit(view, me, "owner") == 800
    b = bid(_Cfg("owner"), view, ["doc0", "doc1"], [Path("0"), Path("1")], value=lambda cfg, docs, paths: [900, 5])
    assert b.valued == (900, 5) and b.claims == (800, 5) and b.cut


def test_a_station_keeps_room_for_its_bonus_and_prices_an_unreadable_document_at_its_limit() -> None:
    me = ParticipantRecord(ROLE_STATION, 0, 1, 3, 500, b"")
    view = _view(me, [1000])
    hold = station_bonus_hold(1000, 2500, 3, 4)
    assert hold > 0 and claim_limit(view, me, "station", bonus_bps=2500) == 500 - hold
    b = bid(_Cfg("station"), view, [None], [None], value=lambda cfg, docs, paths: [], bonus_bps=2500)
    assert b.claims == (500 - hold,) and b.unreadable == (0,)


@pytest.mark.parametrize("role", ["owner", "station"])
def test_a_valuation_is_asked_only_for_the_documents_that_could_be_read(role: str) -> None:
    me = ParticipantRecord(ROLE_OWNER if role == "owner" else ROLE_STATION, 0, 0, 1, 10**6, b"")
    asked: list = []

    def value(cfg, docs, paths):  # type: ignore[no-untyped-def]
        asked.append(list(docs))
        return [7] * len(docs)

    bid(_Cfg(role), _view(me, [10, 20, 30]), ["a", None, "c"], [Path("a"), None, Path("c")], value=value)
    assert asked == [["a", "c"]]
