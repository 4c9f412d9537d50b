"""``hcfl localnet``: rounds of one deployment among agents that are separate OS processes, each
with its own key, data and HCFL_HOME, all through a node that behaves like a public provider (no
anvil_* or evm_* methods). What the owners vote comes from their own measurement of the
published model; every withdrawal of every round equals the reference to the wei, the
recycled subsidy included; a newcomer joins and a station leaves between rounds; faults (an
agent killed at a bad moment, a model file that is not the reported one) leave rounds that
still end; and nothing started is left running."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.nodes import start_node
from hcfl_cli.localnet import DeployOptions, Localnet, LocalnetOptions, LocalnetOutcome, LocalnetRun, leftover_processes

PHASES = (8, 8, 5, 5, 300, 8)
"""Register (the agents are up and waiting before the deployment), Propose (long enough for the
winner of the round before, still collecting, on a loaded CI machine), Commit, Reveal,
Train (the winner's SuperLink, the stations' SuperNodes and the global rounds on Flower, on
two shared cores; ended by the report), Vote (each owner has loaded torch during Train)."""
QUICK_TRAIN = {"clients_per_station": 2, "kappa1": 1, "kappa2": 1}


@pytest.fixture()
def public_node() -> Iterator[str]:
    """anvil (a block a second) behind the strict proxy: the URL every process uses."""
    from tests.strict_rpc import strict_proxy

    with start_node("anvil", block_time=1) as node, strict_proxy(node.url) as url:
        yield url


def _options(url: str, tmp_path: Path, **kw: Any) -> LocalnetOptions:
    base: dict[str, Any] = {"owners": 3, "stations": 3, "proposals": 2, "phases": PHASES, "global_rounds": 1,
                            "train": QUICK_TRAIN, "rpc": url, "out": tmp_path / "net", "mover_delay_s": 1.0}
    return LocalnetOptions(**{**base, **kw})


def _play_all(net: Localnet, lines: list[str]) -> LocalnetRun:
    assert net.wait(timeout=net.round_budget_s(), show=lines.append), "\n".join(lines[-40:])
    assert not net.failed(), "\n".join(lines[-40:])
    run = net.run_outcome()
    assert [o.round_id for o in run.rounds] == list(range(1, net.opts.rounds + 1))
    return run


def _play(net: Localnet, lines: list[str]) -> LocalnetOutcome:
    return _play_all(net, lines).last


def _winner_name(net: Localnet, timeout: float = 150.0) -> str:
    """The winner's agent, once the round is closed (from the agents' own lines)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in net.owners:
            if "training proposal" in net.log_text(p.name):
                return p.name
        time.sleep(0.3)
    raise AssertionError("no agent started training:\n" + "\n".join(net.log_text(p.name)[-300:] for p in net.parties))


def _intruder(net: Localnet, winner: str, folder: Path):  # type: ignore[no-untyped-def]
    """A SuperNode with a key of its own (no ticket, not registered on chain), dialling the
    winner's SuperLink with the right CA certificate and a station's data."""
    from hfl.flower.secure import make_node_keys, start_supernode

    home = net.party(winner).home
    doc = json.loads(next((home / "public").glob("proposal-round1-*.json")).read_text())
    return start_supernode(doc["superlink"]["fleet_address"], home / "public" / "ca.pem", doc["superlink"]["ca_sha256"],
                           make_node_keys(folder / "keys"), net.stations[0].home / "data", folder / "work",
                           folder / "logs")


def _assert_paid_as_the_reference(out: LocalnetOutcome, absent: tuple[str, ...] = ()) -> None:
    for r in out.rows:
        if r.name in absent:
            continue
        assert r.withdrawn == r.expected, r
    assert out.audit_ok, out.audit_lines
    assert out.reconciled


def _bonus_by_contribution(out: LocalnetOutcome) -> list[int]:
    """SPEC section 9's bonus from the reported contributions, by hand: floor(B * c_j / sum c)."""
    assert out.reported is not None and out.reference is not None
    c = [int(x) for x in out.reported["contributions"]]
    pool = out.reference.bonus_pool
    if sum(c):
        return [pool * x // sum(c) for x in c]
    u = [r.weight for r in sorted((r for r in out.rows if r.role == "station"), key=lambda r: r.index)]
    return [pool * w // sum(u) for w in u]


def _assert_nothing_left(net: Localnet) -> None:
    tag = str(net.folder)
    net.close()
    deadline = time.monotonic() + 10
    while leftover_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftover_processes(tag) == []


@pytest.mark.anvil
def test_two_rounds_on_flower_with_a_newcomer_and_a_leaver_pay_every_round_as_the_reference_subsidy_included(
        public_node: str, tmp_path: Path) -> None:
    from dataclasses import replace

    from contracts.chain import connect
    from contracts.client import DeploymentClient
    from contracts.deployment_file import DeploymentFile
    from contracts.round_view import fold_rounds
    from hcfl_cli.audit import reference_of

    t0 = time.monotonic()
    # Round 1 refuses an unregistered SuperNode and slashes a winner that over-reports: the
    # promise is out of reach of one short global round, the winner reports 99.99% anyway. A
    # quarter of the winner's budget goes to the stations by their measured contributions.
    # owner3 joins at round 2 (admitted while round 1 runs), station2 leaves after round 1.
    opts = _options(public_node, tmp_path, promised_bps=9500, deploy=DeployOptions(extra={"bonus_bps": 2500}),
                    testing={f"owner{i}": {"over_report_bps": 9999} for i in range(3)}, rounds=2, join_at=2,
                    leave_after=1)
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        winner = _winner_name(net)
        assert net.wait(lambda: "SuperLink up" in net.log_text(winner), timeout=150)
        intruder = _intruder(net, winner, tmp_path / "intruder")
        try:
            run = _play_all(net, lines)
        finally:
            intruder.stop()
        assert intruder.live_pids() == []
        assert "Failed to activate SuperNode" in (tmp_path / "intruder" / "logs" / "supernode.log").read_text()
        assert "registered the node keys of stations [0, 1, 2]" in net.log_text(winner)
        first, second = run.rounds
        for s in net.stations:  # every registered station of round 1 trained as a SuperNode of its own
            assert "starting this station's SuperNode" in net.log_text(s.name)
        assert first.winner is not None and first.reported is not None
        assert int(first.reported["accuracy_bps"]) == 9999
        voters = [r for r in first.rows if r.role == "owner" and r.punish is not None]
        assert len(voters) == 2  # every owner but the winner
        for r in voters:
            assert r.measured is not None and r.measured < 0.95 and r.punish is True
        assert first.slashed is True
        for out in run.rounds:
            assert all(r.revealed == r.true_claims for r in out.rows)  # every agent claimed its own valuation
            assert out.reference is not None and out.reference.bonus_pool > 0
            assert out.reference.station_bonus == _bonus_by_contribution(out)
            _assert_paid_as_the_reference(out)  # with the bonus and round 2's subsidy, to the wei
        for s in net.stations:  # each station credited and withdrew its bonus after its settlement
            assert "credit_bonus: mined" in net.log_text(s.name)
        # who took part in which round: the newcomer from round 2, the leaver in round 1 only
        assert {r.name for r in first.rows} == {"owner0", "owner1", "owner2", "station0", "station1", "station2"}
        assert {r.name for r in second.rows} == {"owner0", "owner1", "owner2", "owner3", "station0", "station1"}
        assert "not registered in round 1: watching" in net.log_text("owner3")
        assert "done: took part in 1 rounds" in net.log_text("station2")
        leaver = net.party("station2").address
        d = DeploymentClient.attach(DeploymentFile.read(net.deployment).address, chain=connect(public_node),
                                    sender=leaver)
        assert d.participant(leaver, 1).withdrawn and not d.participant(leaver, 2).role  # nothing of its own left
        # round 1's taxes, dust and slashed bond are round 2's subsidy (all but a station's bonus
        # rounding, which its last credit may add after round 2 started), which lowered its owners' shares
        views = fold_rounds(d.load_events())
        assert second.subsidy == views[2].subsidy > 0 and first.pool - second.subsidy in (0, 1, 2)
        assert second.subsidy_used > 0
        assert second.reference.owner_pays != reference_of(replace(views[2], started=None), 2500,
                                                           views[2].contributions).owner_pays
        assert run.reconciliation.ok and run.ok  # every wei of both rounds accounted for, the pool's flows too
        # proposals over time: the trained proposal is not proposed again, the loser's is
        by_name = {r.address: r.name for r in second.rows}
        trained = (by_name[first.proposals[first.winner]["proposer"]], first.plans[first.winner])
        offered = {(by_name[p["proposer"]], plan) for p, plan in zip(second.proposals, second.plans)}
        assert trained not in offered and trained[1] == "p1" and (trained[0], "p2") in offered
        _assert_nothing_left(net)
    print(f"localnet: two rounds (3 + 3 agents, a newcomer, a leaver) in {time.monotonic() - t0:.1f} s")


@pytest.mark.anvil
@pytest.mark.slow
def test_an_honest_round_keeps_the_winners_bond_and_pays_everyone_as_the_reference(public_node: str,
                                                                                   tmp_path: Path) -> None:
    opts = _options(public_node, tmp_path, promised_bps=5000, global_rounds=2,
                    train={"clients_per_station": 2, "kappa1": 2, "kappa2": 2})
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        out = _play(net, lines)
        voters = [r for r in out.rows if r.role == "owner" and r.punish is not None]
        assert voters and all(r.measured is not None and r.measured >= 0.5 and r.punish is False for r in voters)
        assert out.slashed is False
        _assert_paid_as_the_reference(out)
        assert all(w == e for w, e in out.bonds.values())  # every released bond was withdrawn
        _assert_nothing_left(net)


@pytest.mark.anvil
@pytest.mark.slow
def test_an_owner_killed_between_commit_and_reveal_reveals_once_restarted(public_node: str, tmp_path: Path) -> None:
    lines: list[str] = []
    # a Reveal phase long enough for a restart on a loaded machine (a Python start and a key to decrypt)
    opts = _options(public_node, tmp_path, phases=(*PHASES[:3], 20, *PHASES[4:]))
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        assert net.wait(lambda: "commit: mined" in net.log_text("owner2"), timeout=120)
        net.kill("owner2")
        assert net.wait(lambda: "Reveal" in net.phase_line(), timeout=60)
        net.launch(["owner2"])
        out = _play(net, lines)
        log = net.log_text("owner2")
        assert "reveal: mined" in log and "commit: mined" in log
        assert next(r for r in out.rows if r.name == "owner2").revealed is not None
        _assert_paid_as_the_reference(out)
        _assert_nothing_left(net)


@pytest.mark.anvil
@pytest.mark.slow
def test_a_winner_killed_during_training_loses_its_bond_by_the_deadline_and_the_stations_are_paid(
        public_node: str, tmp_path: Path) -> None:
    opts = _options(public_node, tmp_path, phases=(*PHASES[:4], 60, PHASES[5]))
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        winner = _winner_name(net)
        assert net.wait(lambda: "SuperLink up" in net.log_text(winner), timeout=150)
        net.kill(winner)  # its machine fails: the agent and its SuperLink
        out = _play(net, lines)
        assert out.reported is None and out.slashed is True
        for r in out.rows:
            if r.role == "station":
                assert r.withdrawn == r.expected
        _assert_paid_as_the_reference(out, absent=(winner,))
        _assert_nothing_left(net)


@pytest.mark.anvil
@pytest.mark.slow
def test_a_station_killed_during_training_is_dropped_and_the_round_completes_without_it(
        public_node: str, tmp_path: Path) -> None:
    opts = _options(public_node, tmp_path, global_rounds=3, promised_bps=100, round_timeout_s=60.0,
                    phases=(*PHASES[:4], 600, PHASES[5]))
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        winner = _winner_name(net)
        assert net.wait(lambda: "training: global round 1/3" in net.log_text(winner), timeout=300)
        net.kill("station1")  # its machine fails: the agent and its SuperNode
        out = _play(net, lines)
        assert out.reported is not None
        j = next(r.index for r in out.rows if r.name == "station1")
        assert f"stations [{j}] were lost during training" in net.log_text(winner)
        assert int(out.reported["contributions"][j]) == 0  # absent from the last round: what it delivered there
        assert out.slashed is False
        _assert_paid_as_the_reference(out, absent=("station1",))
        _assert_nothing_left(net)


@pytest.mark.anvil
@pytest.mark.slow
def test_a_model_file_that_is_not_the_reported_one_is_refused(public_node: str, tmp_path: Path) -> None:
    opts = _options(public_node, tmp_path, promised_bps=100,
                    testing={f"owner{i}": {"tamper_model": True} for i in range(3)})
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        out = _play(net, lines)
        voters = [r for r in out.rows if r.role == "owner" and r.punish is not None]
        assert voters and all(r.punish is True and r.measured is None and "sha256" in (r.refused or "")
                              for r in voters)
        assert out.slashed is True
        _assert_paid_as_the_reference(out)
        _assert_nothing_left(net)


def _records(run: LocalnetRun, name: str, key: str) -> list[int]:
    """One figure of an agent's own record at the end of each round it served, in round order."""
    recs = run.agents[name]
    return [int(recs[r][key]) for r in sorted(recs) if recs[r].get("ended")]


@pytest.mark.anvil
@pytest.mark.slow
def test_ten_rounds_grow_no_agents_memory_files_or_threads_and_a_stopped_agent_finishes_its_round(
        public_node: str, tmp_path: Path) -> None:
    import signal

    opts = _options(public_node, tmp_path, owners=2, stations=3, rounds=10, promised_bps=100,
                    phases=(6, 3, 4, 4, 300, 6))
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        # station2 is asked to stop (SIGTERM) while it is registered in round 5: it finishes the round
        assert net.wait(lambda: net.look()[:2] == (5, "Commit"), timeout=2400), "\n".join(lines[-40:])
        proc = net.procs["station2"]
        proc.send_signal(signal.SIGTERM)
        run = _play_all(net, lines)
        assert proc.returncode == 0
        log = net.log_text("station2")
        assert "stopping: finishing round 5, where I am registered, then exiting" in log
        assert "stopped: nothing of mine is left open (took part in 5 rounds)" in log
        assert [o.round_id for o in run.rounds if o.row("station2") is not None] == [1, 2, 3, 4, 5]
        for out in run.rounds:
            _assert_paid_as_the_reference(out)
        assert run.ok
        table = []
        for p in net.parties:
            rss, fds, threads = (_records(run, p.name, k) for k in ("rss_kb", "open_fds", "threads"))
            table.append(f"{p.name}: RSS MiB {[r // 1024 for r in rss]}, open files {fds}, threads {threads}")
            assert len(rss) == (5 if p.name == "station2" else 10)
            assert _records(run, p.name, "children") == [0] * len(rss)  # no Flower process outlives its round
            # torch and Flower are loaded once, in the first rounds; after that nothing grows
            assert max(fds[2:]) <= max(fds[:2]) and max(threads[2:]) <= max(threads[:2]), table[-1]
            assert rss[-1] <= max(rss[1:3]) * 1.05 + 8 * 1024, table[-1]
        peaks = [run.peak_by_round[r] for r in sorted(run.peak_by_round)]
        assert max(peaks[5:]) <= max(peaks[:5]) * 1.1, peaks  # the agents together: no growth either
        print("\n".join(table))
        print("agents' peak memory together per round (MiB):", [p // 1024 for p in peaks])
        _assert_nothing_left(net)


@pytest.mark.anvil
@pytest.mark.slow
def test_an_agent_killed_between_two_rounds_carries_on_with_the_same_command_and_loses_nothing(
        public_node: str, tmp_path: Path) -> None:
    # round 1's winner is killed once round 1 is over for it, and started again with the same command
    opts = _options(public_node, tmp_path, rounds=2, promised_bps=100, phases=(20, *PHASES[1:]))
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        winner = _winner_name(net)
        assert net.wait(lambda: "round 1 is over for me" in net.log_text(winner), timeout=600)
        net.kill(winner)
        net.launch([winner])
        run = _play_all(net, lines)
        first, second = run.rounds
        assert first.row(winner) is not None and second.row(winner) is not None  # it took part in both rounds
        mine = [plan for p, plan in zip(second.proposals, second.plans) if p["proposer"] == net.party(winner).address]
        assert mine == ["p2"]  # what it trained in round 1 it did not propose again
        assert net.log_text(winner).count("attached to") == 2
        for out in run.rounds:
            _assert_paid_as_the_reference(out)
        assert run.ok and all(w == e for out in run.rounds for w, e in out.bonds.values())
        _assert_nothing_left(net)


@pytest.mark.anvil
@pytest.mark.slow
def test_an_agent_killed_in_the_middle_of_round_two_carries_on_with_the_same_command_and_loses_nothing(
        public_node: str, tmp_path: Path) -> None:
    opts = _options(public_node, tmp_path, rounds=2, promised_bps=100, phases=(*PHASES[:3], 20, *PHASES[4:]))
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        # owner2 is killed once its round-2 commit is mined, and started again while round 2 reveals
        assert net.wait(lambda: net.log_text("owner2").count("commit: mined") == 2, timeout=600)
        net.kill("owner2")
        assert net.wait(lambda: net.look()[:2] == (2, "Reveal"), timeout=60)
        net.launch(["owner2"])
        run = _play_all(net, lines)
        row = run.rounds[1].row("owner2")
        assert row is not None and row.revealed == row.true_claims  # revealed from its secret store
        assert net.log_text("owner2").count("attached to") == 2
        for out in run.rounds:
            _assert_paid_as_the_reference(out)
        assert run.ok
        _assert_nothing_left(net)
