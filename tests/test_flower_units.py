"""Fast checks of the Flower app's pieces: reply decoding, station numbering, process hygiene, CLI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hfl.config import ConfigError
from hfl.flower.apps import StationFailure, decode_replies, station_of, to_record
from hfl.flower.deploy import write_app
from hfl.flower.procs import ProcessGroup, free_ports, tagged_pids

ROOT = Path(__file__).resolve().parents[1]


class Content(dict):
    """dict with Flower's `config_records` view."""

    @property
    def config_records(self) -> dict:
        return {"station-info": {"device": "cpu"}}


def ok(station: int, n: int, value: float) -> SimpleNamespace:
    content = Content(arrays=to_record({"w": torch.full((2,), value)}),
                      metrics={"station": station, "num-examples": n, "images": n})
    return SimpleNamespace(has_error=lambda: False, content=content)


def failed(node: int, reason: str) -> SimpleNamespace:
    return SimpleNamespace(has_error=lambda: True, error=SimpleNamespace(reason=reason),
                           metadata=SimpleNamespace(src_node_id=node))


def test_replies_are_put_in_station_order_whatever_order_they_arrive_in() -> None:
    got = decode_replies([ok(1, 5, 1.0), ok(0, 7, 0.0)], 2, 1)
    assert [r.station for r in got] == [0, 1]
    assert [r.n_samples for r in got] == [7, 5]
    assert torch.equal(got[1].state["w"], torch.ones(2))


def test_a_round_missing_a_station_fails_naming_the_station() -> None:
    with pytest.raises(StationFailure, match=r"station\(s\) \[1\]"):
        decode_replies([ok(0, 7, 0.0)], 2, 2)


def test_a_station_that_replied_with_an_error_fails_the_round_with_its_reason() -> None:
    with pytest.raises(StationFailure, match="boom"):
        decode_replies([ok(0, 7, 0.0), failed(42, "ValueError: boom")], 2, 1)


def test_two_nodes_claiming_one_station_is_refused() -> None:
    with pytest.raises(StationFailure, match="two nodes claim station 0"):
        decode_replies([ok(0, 7, 0.0), ok(0, 7, 0.0)], 2, 1)


def test_a_node_is_its_station_config_else_its_simulation_partition() -> None:
    assert station_of({"station": "1", "partition-id": 0}, 2) == 1
    assert station_of({"partition-id": 1}, 2) == 1
    with pytest.raises(ConfigError, match="--node-config 'station=<j>'"):
        station_of({}, 2)
    with pytest.raises(ConfigError, match="outside 0..1"):
        station_of({"station": 2}, 2)


def test_the_generated_app_names_hfl_components_and_carries_the_job(tmp_path: Path) -> None:
    import tomli

    app = write_app(tmp_path / "app", {"hcfl-config": '{"seed": 1}', "result-path": "/x/result.pt"})
    doc = tomli.loads((app / "pyproject.toml").read_text())
    assert doc["tool"]["flwr"]["app"]["components"] == {"serverapp": "hfl.flower.apps:server_app",
                                                       "clientapp": "hfl.flower.apps:client_app"}
    assert doc["tool"]["flwr"]["app"]["config"]["hcfl-config"] == '{"seed": 1}'


def test_free_ports_are_distinct_and_bindable() -> None:
    import socket

    ports = free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_stop_ends_a_grandchild_that_left_for_its_own_session(tmp_path: Path) -> None:
    # What flower-superlink does with flower-superexec: a child in a new session, outside our group.
    script = textwrap.dedent("""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        time.sleep(60)
    """)
    group = ProcessGroup()
    group.spawn("parent", [sys.executable, "-c", script], tmp_path / "parent.log")
    deadline = time.monotonic() + 20
    while len(tagged_pids(group.tag)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tagged_pids(group.tag)) == 2
    group.stop(grace=2.0)
    assert tagged_pids(group.tag) == []
    assert group.live_pids() == []


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hfl.flower", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_the_command_line_refuses_a_bad_option_in_one_line_without_a_traceback() -> None:
    out = run_cli("--stations", "0")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "python -m hfl.flower: error: --stations: must be an integer " \
                                                  ">= 1, got 0"
    assert "Traceback" not in out.stderr


def test_the_command_line_prints_one_supernode_command_per_station_with_tls() -> None:
    out = run_cli("commands", "--stations", "3", "--superlink", "owner.example.org:9093")
    assert out.returncode == 0, out.stderr
    nodes = [line for line in out.stdout.splitlines() if line.startswith("flower-supernode")]
    assert len(nodes) == 3
    assert all("--root-certificates" in line and "owner.example.org:9093" in line for line in nodes)
    assert "--node-config 'station=2'" in nodes[2]


def test_the_command_line_runs_on_flower_by_default_and_refuses_the_local_engine() -> None:
    from hfl.flower.__main__ import build_parser

    assert build_parser().parse_args([]).engine == "flower-sim"
    out = run_cli("--engine", "local", "--stations", "2")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "flower-sim" in out.stderr.strip().splitlines()[-1]
