"""``hcfl localnet``: whole rounds among agents that are separate OS processes, each with its own
key, data and HCFL_HOME, all through a node that behaves like a public provider (no anvil_* or
evm_* methods). What the owners vote comes from their own measurement of the published model;
every withdrawal equals the reference to the wei; faults (an agent killed at a bad moment, a
model file that is not the reported one) leave a round that still ends; and nothing started is
left running."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.nodes import start_node
from hcfl_cli.localnet import DeployOptions, Localnet, LocalnetOptions, LocalnetOutcome, leftover_processes

PHASES = (12, 5, 8, 6, 300, 12)
"""Register (the six agents are up before the deployment), Propose, Commit, Reveal, Train
(the winner's SuperLink, the stations' SuperNodes and the global rounds on Flower, on two
shared cores; ended by the report), Vote (each owner has loaded torch during Train)."""
QUICK_TRAIN = {"clients_per_station": 2, "kappa1": 1, "kappa2": 1}


@pytest.fixture()
def public_node() -> Iterator[str]:
    """anvil (a block a second) behind the strict proxy: the URL every process uses."""
    from tests.strict_rpc import strict_proxy

    with start_node("anvil", block_time=1) as node, strict_proxy(node.url) as url:
        yield url


def _options(url: str, tmp_path: Path, **kw: Any) -> LocalnetOptions:
    base: dict[str, Any] = {"owners": 3, "stations": 3, "proposals": 2, "phases": PHASES, "global_rounds": 1,
                            "train": QUICK_TRAIN, "rpc": url, "out": tmp_path / "net", "mover_delay_s": 2.0}
    return LocalnetOptions(**{**base, **kw})


def _play(net: Localnet, lines: list[str]) -> LocalnetOutcome:
    assert net.wait(timeout=net.round_budget_s(), show=lines.append), "\n".join(lines[-40:])
    assert not net.failed(), "\n".join(lines[-40:])
    return net.outcome()


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
    doc = json.loads((home / "public" / "proposal-round1.json").read_text())
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
def test_a_round_on_flower_refuses_an_unregistered_node_and_slashes_an_over_reporting_winner(
        public_node: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    # The promise is out of reach of one short global round; the winner reports 99.99% anyway.
    # A quarter of the winner's budget goes to the stations by their measured contributions.
    opts = _options(public_node, tmp_path, promised_bps=9500, deploy=DeployOptions(extra={"bonus_bps": 2500}),
                    testing={f"owner{i}": {"over_report_bps": 9999} for i in range(3)})
    lines: list[str] = []
    with Localnet(opts, say=lines.append) as net:
        net.setup()
        winner = _winner_name(net)
        assert net.wait(lambda: "SuperLink up" in net.log_text(winner), timeout=150)
        intruder = _intruder(net, winner, tmp_path / "intruder")
        try:
            out = _play(net, lines)
        finally:
            intruder.stop()
        assert intruder.live_pids() == []
        assert "Failed to activate SuperNode" in (tmp_path / "intruder" / "logs" / "supernode.log").read_text()
        assert "registered the node keys of stations [0, 1, 2]" in net.log_text(winner)
        for s in net.stations:  # every registered station trained as a SuperNode of its own
            assert "starting this station's SuperNode" in net.log_text(s.name)
        assert out.winner is not None and out.reported is not None
        assert int(out.reported["accuracy_bps"]) == 9999
        voters = [r for r in out.rows if r.role == "owner" and r.punish is not None]
        assert len(voters) == 2  # every owner but the winner
        for r in voters:
            assert r.measured is not None and r.measured < 0.95 and r.punish is True
        assert out.slashed is True
        assert all(r.revealed == r.true_claims for r in out.rows)  # every agent claimed its own valuation
        assert out.reference is not None and out.reference.bonus_pool > 0
        assert out.reference.station_bonus == _bonus_by_contribution(out)
        for s in net.stations:  # each station credited and withdrew its bonus after its settlement
            assert "credit_bonus: mined" in net.log_text(s.name)
        _assert_paid_as_the_reference(out)  # with the bonus, to the wei
        _assert_nothing_left(net)
    print(f"localnet round (3 + 3 agents) in {time.monotonic() - t0:.1f} s")


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
    with Localnet(_options(public_node, tmp_path), say=lines.append) as net:
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
