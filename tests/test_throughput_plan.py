"""benchmarks.throughput.plan: the timing of a round run, with no node."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks._load_rounds import RoundPlanner, RoundShape, create_address, shape_for_rate
from benchmarks.throughput.plan import Settings, plan_rounds, stage_times

DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_at_4000_tx_s_rounds_of_64_start_every_82_ms_with_4_s_phases() -> None:
    plan = plan_rounds(4000, shape_for_rate(4000), None, Settings())
    assert plan.shape.participants == 64 and plan.shape.txs == 328
    assert plan.spread_s == 0.5  # 128 / 4000 s is shorter: the floor
    assert plan.margin_s == pytest.approx(0.3)
    assert plan.phase_s == 4  # ceil(1 + 0.5 + 0.3 + 1.5)
    assert plan.spacing_s == pytest.approx(328 / 4000)
    assert plan.register_window_s == pytest.approx(2.3)
    assert plan.warmup_s == pytest.approx(plan.duration_s)
    # enough rounds to cover warm-up and window at that spacing
    assert plan.rounds * plan.spacing_s >= plan.warmup_s + plan.window_s


def test_block_times_lengthen_the_margin_the_slack_and_so_the_phases() -> None:
    fast = plan_rounds(300, shape_for_rate(300), None, Settings())
    slow = plan_rounds(300, shape_for_rate(300), 1.0, Settings())
    assert slow.margin_s == pytest.approx(fast.margin_s + 1.0)
    assert slow.slack_s == pytest.approx(fast.slack_s + 1.0)
    assert slow.phase_s == fast.phase_s + 2


def test_low_rates_grow_the_window_to_hold_enough_transactions() -> None:
    settings = Settings(window_s=3.0, min_window_txs=30, max_window_s=30.0)
    assert plan_rounds(2, shape_for_rate(2), None, settings).window_s == 15.0
    assert plan_rounds(0.5, shape_for_rate(0.5), None, settings).window_s == 30.0
    assert plan_rounds(1000, shape_for_rate(1000), None, settings).window_s == 3.0


def test_a_bare_run_has_no_warm_up_and_the_rounds_asked_for() -> None:
    plan = plan_rounds(100, shape_for_rate(100), None, Settings(), measure=False, rounds=1)
    assert plan.warmup_s == 0.0 and plan.rounds == 1


def test_register_deadlines_are_whole_seconds_a_spacing_apart_after_the_window() -> None:
    plan = plan_rounds(1000, RoundShape(owners=1, stations=3, proposals=2), None, Settings())
    deadlines = plan.register_deadlines(100.0)
    assert len(deadlines) == plan.rounds
    assert deadlines[0] == 103  # ceil(100 + 2.3)
    for c, d in enumerate(deadlines):
        assert d >= 100.0 + c * plan.spacing_s + plan.register_window_s > d - 1


def test_a_warm_up_asked_for_replaces_the_round_length_and_sets_the_round_count() -> None:
    settings = Settings(window_s=2.0, min_window_txs=10, warmup_s=0.0)
    plan = plan_rounds(100.0, shape_for_rate(100), None, settings)
    assert plan.warmup_s == 0.0
    assert plan.rounds == math.ceil(2.0 / plan.spacing_s)
    with pytest.raises(ValueError, match="warmup_s"):
        plan_rounds(100.0, shape_for_rate(100), None, Settings(warmup_s=-1.0))


@pytest.mark.parametrize("field, kwargs", [
    ("rate", {"rate": 0}),
    ("block_time", {"block_time": -1.0}),
    ("rounds", {"rounds": 0}),
])
def test_impossible_plans_are_refused_naming_the_field(field, kwargs) -> None:
    args = {"rate": 100.0, "block_time": None, "rounds": None} | kwargs
    with pytest.raises(ValueError, match=field):
        plan_rounds(args["rate"], shape_for_rate(100), args["block_time"], Settings(),
                    rounds=args["rounds"])


def test_stage_times_follow_the_phases_of_a_real_round() -> None:
    from contracts import compiled

    art = compiled()
    planner = RoundPlanner(chain_id=31337, abi=art.abi, bytecode=art.bytecode, seed="plan")
    plan = plan_rounds(4000, shape_for_rate(4000), None, Settings())
    flow = planner.round(create_address(DEPLOYER, 0), RoundShape(owners=1, stations=2,
                         proposals=1), phase_seconds=plan.phase_s, spread=plan.spread_s,
                         rng=random.Random(1))
    times = dict(zip((st.txs[0].fn + str(k) for k, st in enumerate(flow.stages)),
                     stage_times(flow.stages, plan)))
    p, m, s = plan.phase_s, plan.margin_s, plan.spread_s
    assert times == pytest.approx({
        "register0": -plan.register_window_s, "advance1": 0.0, "propose2": m,
        "advance3": p, "commit4": p + m, "advance5": 2 * p, "reveal6": 2 * p + m,
        "close7": 3 * p, "settle8": 3 * p + m, "withdraw9": 3 * p + m + s + m})
    # `duration_s` (warm-up, timeouts) is about a round: short of it by less than the slack
    span = times["withdraw9"] + s - times["register0"]
    assert plan.duration_s < span <= plan.duration_s + plan.slack_s
