"""The hierarchical training on Flower's two engines, checked against the in-process trainer.

One small seeded job (2 stations x 2 clients, 2 global rounds, digits on the CPU) runs in
process, on Flower's simulation engine, and on its deployment engine (a SuperLink and 2
SuperNodes as real processes on 127.0.0.1). A SuperNode killed in the middle of a round must
fail the run with an error naming the station, quickly, with no process left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import torch

from hfl.config import TrainConfig
from hfl.flower.protocol import RESULT_PATH_KEY, ROUND_TIMEOUT_KEY, RUN_CONFIG_KEY, config_to_json
from hfl.flower.deploy import Certificates, FlowerRunError, LocalDeployment, write_app
from hfl.flower.engine import run_flower
from hfl.flower.procs import tagged_pids
from hfl.result import TrainResult, write_result
from hfl.train import train

# Scored on labels 0-4 only, so that the contributions depend on every argument of their measurement.
CFG = TrainConfig(seed=3, n_stations=2, clients_per_station=2, global_rounds=2, kappa1=1, kappa2=1,
                  max_train_samples=240, device="cpu", eval_labels=(0, 1, 2, 3, 4))

needs_ray = pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None,
                               reason="Flower's simulation engine needs ray (requirements.lock)")
needs_proc = pytest.mark.skipif(not Path("/proc").is_dir(), reason="the process census reads /proc")


@pytest.fixture(scope="module")
def in_process() -> TrainResult:
    return train(CFG)


def assert_same_model(a: TrainResult, b: TrainResult) -> None:
    assert a.final_state is not None and b.final_state is not None
    assert list(a.final_state) == list(b.final_state)
    for k in a.final_state:
        assert torch.allclose(a.final_state[k], b.final_state[k], rtol=1e-5, atol=1e-6), k


def live_children() -> list[int]:
    """Live (non-zombie) child processes of this test process."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if int(ppid) == me and state not in "ZX":
            found.append(int(entry.name))
    return found


# Every process a test starts inherits this test's mark through its environment (the launcher
# passes os.environ on): the census counts those only, not the Flower processes of the tests on
# the other pytest-xdist workers, or of anyone else on the machine.
OWNER_ENV = "HCFL_TEST_OWNER"


@pytest.fixture(autouse=True)
def _mark_own_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OWNER_ENV, uuid.uuid4().hex)


def own_flower_pids() -> list[int]:
    """Live Flower processes (tagged by `hfl.flower.procs`) that this test started."""
    mark = f"{OWNER_ENV}={os.environ[OWNER_ENV]}".encode()
    own = []
    for pid in tagged_pids(None):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if mark in env:
            own.append(pid)
    return own


def assert_no_flower_process_left() -> None:
    deadline = time.monotonic() + 5
    while own_flower_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert own_flower_pids() == []


@needs_ray
@needs_proc
def test_the_simulation_engine_trains_the_same_global_model_and_contributions_as_in_process(
        in_process: TrainResult, tmp_path: Path) -> None:
    before = set(live_children())
    sim = run_flower(CFG, "flower-sim", tmp_path, plot=False)
    deadline = time.monotonic() + 15  # Ray's processes end shortly after its shutdown returns
    while not set(live_children()) <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(live_children()) <= before, [Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in live_children()]
    assert_same_model(in_process, sim)
    assert sim.contributions == in_process.contributions
    assert sim.accuracy == pytest.approx(in_process.accuracy, abs=1e-9)
    assert sim.station_samples == in_process.station_samples
    assert sim.images == in_process.images
    # The same result.json: same keys, same values apart from timings.
    write_result(in_process, tmp_path / "local", plot=False)
    local_json = json.loads((tmp_path / "local" / "result.json").read_text())
    sim_json = json.loads((tmp_path / "result.json").read_text())
    assert sim_json.keys() == local_json.keys()
    timing = {"wall_s", "train_s", "images_per_s"}
    assert {k: v for k, v in sim_json.items() if k not in timing} == \
           {k: v for k, v in local_json.items() if k not in timing}


@needs_proc
def test_the_deployment_engine_completes_two_rounds_on_real_processes_and_leaves_none_behind(
        in_process: TrainResult, tmp_path: Path) -> None:
    deployed = run_flower(CFG, "flower-deploy", tmp_path, timeout_s=240, round_timeout_s=120, plot=False)
    assert len(deployed.accuracy) == 2
    assert_same_model(in_process, deployed)
    assert deployed.contributions == in_process.contributions
    assert json.loads((tmp_path / "result.json").read_text())["contributions"] == list(in_process.contributions)
    logs = tmp_path / "flower-logs"
    assert {p.name for p in logs.iterdir()} >= {"superlink.log", "supernode-0.log", "supernode-1.log", "run.log"}
    assert_no_flower_process_left()


def wait_for_line(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in {path} within {timeout_s} s")


@needs_proc
def test_a_supernode_killed_mid_round_fails_the_run_naming_its_station_and_leaves_no_process(
        tmp_path: Path) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    result_path = work / "result.pt"
    app = write_app(work / "app", {RUN_CONFIG_KEY: config_to_json(CFG), RESULT_PATH_KEY: str(result_path),
                                   ROUND_TIMEOUT_KEY: 60.0})
    with LocalDeployment(2, work, tmp_path / "logs") as deployment:
        deployment.start()
        run = deployment.submit(app)
        # Mid-round: station 1 has received round 1's train message and started its ClientApp.
        wait_for_line(tmp_path / "logs" / "supernode-1.log", "Start `flwr-clientapp` process", 90)
        os.kill(deployment.supernodes[1].popen.pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(FlowerRunError, match="station 1's SuperNode .* exited with code -9 during the run"):
            deployment.wait(run, result_path, timeout_s=60)
        assert time.monotonic() - t0 < 10  # noticed at once, not after a heartbeat or round timeout
    assert deployment.live_pids() == []
    assert not result_path.exists()
    assert_no_flower_process_left()


@pytest.mark.slow
@needs_proc
def test_a_station_lost_without_the_launcher_noticing_fails_the_serverapps_round(tmp_path: Path) -> None:
    # Spread over machines nobody watches the SuperNodes' processes: the ServerApp's round
    # timeout (or Flower's error reply for a lost node) must fail the run, naming the station.
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    result_path = work / "result.pt"
    app = write_app(work / "app", {RUN_CONFIG_KEY: config_to_json(CFG), RESULT_PATH_KEY: str(result_path),
                                   ROUND_TIMEOUT_KEY: 45.0})
    with LocalDeployment(2, work, tmp_path / "logs") as deployment:
        deployment.start()
        run = deployment.submit(app)
        wait_for_line(tmp_path / "logs" / "supernode-1.log", "Start `flwr-clientapp` process", 90)
        lost = deployment.supernodes[1]
        deployment.group.procs.remove(lost)  # the launcher no longer sees it, as on another machine
        os.killpg(lost.popen.pid, signal.SIGKILL)
        lost.popen.wait()
        with pytest.raises(FlowerRunError, match="without a result"):
            deployment.wait(run, result_path, timeout_s=120)
    log = (tmp_path / "logs" / "run.log").read_text(errors="replace")
    assert "StationFailure" in log
    assert re.search(r"no model from station\(s\) \[(0, )?1\]", log)  # station 0 may be slow too, 1 is lost
    assert deployment.live_pids() == []


@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["ctrl-c", "sigterm"])
def test_interrupting_the_command_stops_every_flower_process(tmp_path: Path, sig: signal.Signals) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "hfl.flower", "--engine", "flower-deploy", "--stations", "2", "--rounds", "2",
           "--device", "cpu", "--max-train-samples", "240", "--out", str(tmp_path), "--quiet"]

    def as_in_a_terminal() -> None:
        # A test run started in the background of a non-interactive shell ignores SIGINT, and
        # the command would inherit that (Python keeps an ignored SIGINT ignored): Ctrl-C in a
        # terminal reaches a command whose SIGINT is at its default.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=as_in_a_terminal)
    try:
        wait_for_line(tmp_path / "flower-logs" / "supernode-1.log", "Starting Flower SuperNode", 90)
        assert own_flower_pids()  # the federation is up
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted; every Flower process was stopped" in err
    assert_no_flower_process_left()


def make_certificates(folder: Path) -> Certificates:
    """The commands of docs/flower.md, step 1, with the SuperLink named localhost."""
    import subprocess

    folder.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=120)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=hcfl-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
    return Certificates(folder / "ca.crt", folder / "server.pem", folder / "server.key")


@pytest.mark.slow
@needs_proc
@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="needs the openssl command")
def test_the_deployment_runs_over_tls_with_the_documented_certificates(in_process: TrainResult,
                                                                      tmp_path: Path) -> None:
    # Steps 1-4 of docs/flower.md on one machine: certificates, a SuperLink and SuperNodes with
    # TLS, and the job submitted to that running SuperLink by run_flower(..., superlink=...).
    certs = make_certificates(tmp_path / "certs")
    with LocalDeployment(2, tmp_path / "federation", tmp_path / "logs", certificates=certs) as d:
        assert "--insecure" not in d.superlink_argv() + d.supernode_argv(0)
        d.start()
        deployed = run_flower(CFG, "flower-deploy", tmp_path / "out", timeout_s=240, round_timeout_s=120,
                              plot=False, superlink=d.superlink_address, root_certificates=str(certs.ca))
    assert_same_model(in_process, deployed)
    assert deployed.contributions == in_process.contributions
    assert (tmp_path / "out" / "result.json").is_file()
    assert "Starting insecure" not in (tmp_path / "logs" / "supernode-0.log").read_text()
    assert_no_flower_process_left()
