"""benchmarks._load_admission.admits: the admission control of new rounds, with no node.

Bins are 0.1 s; a node that confirms 1,000 tx/s drains 100 a bin, and with 0.8 s of queue
allowed (the benchmark's horizon at automine) holds at most 800 waiting."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from benchmarks._load_admission import Ledger, admits, stage_load, time_bin
from benchmarks._load_flows import Flow, PTx, Stage
from benchmarks._load_rounds import RoundPlanner, create_address, shape_for_rate
from benchmarks.throughput.plan import Settings, plan_rounds, stage_times

CAP = dict(capacity_tps=1000.0, max_delay_s=0.8, bin_s=0.1)


def test_an_idle_node_admits_a_round() -> None:
    assert admits(backlog=0, committed={}, new={0: 64, 40: 64, 80: 64}, now_bin=0, **CAP)


def test_later_stages_of_started_rounds_refuse_a_round_that_the_unmined_count_would_let_in(
        ) -> None:
    # nothing waits now (the old cap on unmined transactions admits), but 4 s from now the
    # started rounds commit 900 in one bin: the new round's 64 commits there overflow
    committed = {40: 900}
    new = {0: 64, 40: 64}
    assert admits(backlog=0, committed={}, new=new, now_bin=0, **CAP)
    assert not admits(backlog=0, committed=committed, new=new, now_bin=0, **CAP)
    # the same round, its commits a bin after the burst has drained, fits
    assert admits(backlog=0, committed=committed, new={0: 64, 60: 64}, now_bin=0, **CAP)


def test_a_backlog_and_late_stages_count_as_due_now() -> None:
    new = {5: 64}
    # 900 waiting drain to 800 in bin 0: 64 more there would wait past 0.8 s
    assert not admits(backlog=900, committed={}, new={0: 64}, now_bin=0, **CAP)
    assert admits(backlog=900, committed={}, new=new, now_bin=0, **CAP)  # 300 left by bin 5
    # a stage planned for bin 2 but not sent by bin 10 is due now, like the backlog
    assert not admits(backlog=0, committed={2: 900}, new={10: 64}, now_bin=10, **CAP)
    assert admits(backlog=0, committed={2: 900}, new={20: 64}, now_bin=10, **CAP)


def test_an_overload_that_the_new_round_does_not_add_to_is_not_held_against_it() -> None:
    # the started rounds alone overflow bin 30, the queue is empty again by bin 50
    assert admits(backlog=0, committed={30: 1500}, new={50: 64}, now_bin=0, **CAP)
    assert not admits(backlog=0, committed={30: 1500}, new={31: 64}, now_bin=0, **CAP)


def test_a_faster_node_or_a_longer_horizon_admits_what_a_slower_one_refuses() -> None:
    committed, new = {40: 900}, {40: 64}
    assert not admits(backlog=0, committed=committed, new=new, now_bin=0, **CAP)
    assert admits(backlog=0, committed=committed, new=new, now_bin=0,
                  **(CAP | {"capacity_tps": 2000.0}))
    assert admits(backlog=0, committed=committed, new=new, now_bin=0,
                  **(CAP | {"max_delay_s": 1.0}))


@pytest.mark.parametrize("field, bad", [("capacity_tps", 0.0), ("bin_s", 0.0)])
def test_impossible_inputs_are_refused_naming_the_field(field, bad) -> None:
    with pytest.raises(ValueError, match=field):
        admits(backlog=0, committed={}, new={}, now_bin=0, **(CAP | {field: bad}))


def test_a_stage_load_spreads_its_transactions_over_its_bins_as_the_engine_sends_them(
        ) -> None:
    txs = [PTx(raw="", hash=f"0x{k}", fn="commit") for k in range(10)]
    assert stage_load(Stage(txs, spread=0.5, planned=3.01)) == Counter(
        {30: 2, 31: 2, 32: 2, 33: 2, 34: 2})
    assert stage_load(Stage(txs[:1], planned=3.05)) == Counter({30: 1})
    assert stage_load(Stage(txs)) == Counter()  # unplanned: not counted


def test_past_saturation_rounds_at_the_plans_spacing_are_admitted_only_up_to_capacity(
        ) -> None:
    """The plan of 4,000 round tx/s against a node of 2,800: rounds start every 82 ms, and
    each one admitted adds its stages to the ledger. Once the pipeline of rounds is full,
    the admitted rounds offer what the node confirms, no more, and no bin's queue waits past
    the horizon (so no stage misses its deadline); every round would pass a cap that counts
    only what waits at the moment it starts, as nothing does."""
    from contracts import compiled

    art = compiled()
    plan = plan_rounds(4000, shape_for_rate(4000), None, Settings(), rounds=400)
    planner = RoundPlanner(chain_id=31337, abi=art.abi, bytecode=art.bytecode, seed="adm")
    template = planner.round(create_address("0x" + "11" * 20, 0), plan.shape,
                             phase_seconds=plan.phase_s, spread=plan.spread_s,
                             rng=random.Random(1))
    offsets = stage_times(template.stages, plan)
    capacity, bin_s, horizon = 2800.0, 0.1, plan.queue_horizon_s
    committed: Counter[int] = Counter()  # not yet due
    offered: Counter[int] = Counter()  # every admitted transaction, by bin
    queue, last_bin = 0.0, 0
    for c in range(plan.rounds):
        start = c * plan.spacing_s
        load: Counter[int] = Counter()
        for st, t in zip(template.stages, offsets):
            load.update(stage_load(Stage(st.txs, spread=st.spread,
                                         planned=start + plan.register_window_s + t)))
        now_bin = time_bin(start)
        for b in range(last_bin, now_bin):  # the node works through what came due
            queue = max(0.0, queue + committed.pop(b, 0) - capacity * bin_s)
            assert queue <= capacity * horizon + 1e-6
        last_bin = now_bin
        if admits(capacity_tps=capacity, backlog=round(queue), committed=committed, new=load,
                  now_bin=now_bin, bin_s=bin_s, max_delay_s=horizon):
            committed.update(load)
            offered.update(load)
    # the pipeline is full from one round's span after the first start to the last start
    full = range(time_bin(plan.duration_s + plan.slack_s), time_bin(plan.rounds * plan.spacing_s))
    rate = sum(offered[b] for b in full) / (len(full) * bin_s)
    assert 0.8 * capacity < rate <= capacity


def test_the_ledger_holds_a_flows_later_stages_until_each_is_scheduled() -> None:
    def flow(at: float) -> Flow:
        return Flow(stages=[Stage([PTx("", f"0x{at}{k}{j}", "f") for j in range(n)],
                                  planned=at + 4 * k) for k, n in enumerate((3, 1, 2))])

    ledger, a, b = Ledger(), flow(1.0), flow(1.05)
    assert ledger.admit(a, capacity_tps=None, backlog=0, now=0.0, max_delay_s=0.8)
    assert ledger.admit(b, capacity_tps=1000.0, backlog=0, now=0.0, max_delay_s=0.8)
    assert ledger.bins == Counter({50: 2, 90: 4})  # first stages go to the send queue
    a.current = 0
    ledger.scheduled(a)  # a first stage is not in the ledger: nothing to take out
    a.current = 1
    ledger.scheduled(a)
    assert ledger.bins == Counter({50: 1, 90: 4})
    ledger.given_up(a)
    assert ledger.bins == Counter({50: 1, 90: 2}) and not a.counted
    # a node that can take nothing more refuses a third, which stays out of the ledger
    c = flow(1.0)
    assert not ledger.admit(c, capacity_tps=1.0, backlog=100, now=0.0, max_delay_s=0.8)
    assert ledger.bins == Counter({50: 1, 90: 2}) and not c.counted


def test_no_new_round_starts_while_a_transaction_has_waited_longer_than_the_node_may_lag() -> None:
    from types import SimpleNamespace

    from benchmarks._load_run import Run

    run = Run(SimpleNamespace(mine_on_demand=False, behind_s=1.8), [])  # type: ignore[arg-type]
    first, second = PTx(raw="0x", hash="0x1", fn="commit"), PTx(raw="0x", hash="0x2", fn="commit")
    first.sent, second.sent = 100.0, 101.0
    run.in_flight.extend([first, second])
    assert run.oldest_wait(101.5) == 1.5 and not run.behind(101.5)
    assert run.behind(102.0)  # the first has waited 2 s
    first.block = 7  # mined: the second is the oldest now
    assert run.oldest_wait(102.0) == 1.0 and not run.behind(102.0)
    second.block = 7
    assert run.oldest_wait(200.0) == 0.0 and not run.behind(200.0)
