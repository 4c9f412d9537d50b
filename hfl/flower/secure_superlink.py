"""The winner's SuperLink in the authenticated Flower deployment: TLS on, SuperNode
authentication on, exactly the round's stations' node keys registered, and the run submitted.

Flower 1.42, as read in its sources (`flwr/superlink/cli/flower_superlink.py`,
`flwr/superlink/servicer/fleet/fleet_handlers.py`, `flwr/cli/supernode/register.py`):
`flower-superlink --ssl-ca-certfile --ssl-certfile --ssl-keyfile --enable-supernode-auth`
serves the Fleet, Control and Runtime APIs on ONE HTTPS port (`--host`, `--port`); SuperNode
authentication requires TLS. With it on, the Fleet API refuses self-registration: a node must
have been registered through the Control API (`flwr supernode register <OpenSSH public key
file>`), which answers with the node id it created for that key. A connecting SuperNode signs
its requests with its private key; the SuperLink looks its node id up by the public key and
checks the signature (`flwr/superlink/routers/fleet/node_auth.py`).

So the node id -> station map is the SuperLink owner's own record of which public key it
registered for which station; the ServerApp (`hfl.flower.secure_apps`) gets it in the run config
and sends work only to those node ids, telling each node which station it is. Nothing a node
says about itself decides its station.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hfl.digest import file_sha256
from hfl.flower.deploy import CONNECTION, FlowerRunError, base_env, flower_bin, submit, write_app, write_connection
from hfl.flower.procs import GroupOwner, Managed, ProcessGroup, port_open, tail
from hfl.flower.protocol import (EVAL_DIR_KEY, JOIN_TIMEOUT_KEY, NODE_STATIONS_KEY, PROGRESS_PATH_KEY,
                                 RESULT_PATH_KEY, ROUND_TIMEOUT_KEY, RUN_CONFIG_KEY, THREADS_KEY, config_to_json)
from hfl.flower.secure_identity import TlsFiles, parse_node_public_key
from hfl.flower.secure_procs import claim_tag

if TYPE_CHECKING:
    from hfl.config import TrainConfig
    from hfl.result import TrainResult

SERVER_APP = "hfl.flower.secure_apps:server_app"
CLIENT_APP = "hfl.flower.secure_apps:client_app"


def _dial_host(host: str) -> str:
    """Where processes on the SuperLink's own machine reach it."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class SecureSuperLink(GroupOwner):
    """The winner's SuperLink: TLS on, SuperNode authentication on, exactly the given stations' keys
    registered. Use as a context manager (leaving it stops every process it started).

    `stations` maps station index -> node public key bytes (`NodeKeys.public_key_bytes`, as
    published by the station). `fleet_port` is fixed by the caller (`pick_port`), since the
    address is published long before the SuperLink starts. Flower 1.42 serves the Fleet, Control
    and Runtime APIs on that one port: `control_port` and `serverappio_port` are accepted for
    callers written against older Flower versions and are not used. `advertise` is the host put
    in `fleet_address` when it differs from the bind `host` (e.g. bind 0.0.0.0, advertise the
    machine's public name, which the TLS certificate must hold).
    """

    def __init__(self, tls: TlsFiles, stations: Mapping[int, bytes], work_dir: Path, log_dir: Path, *,
                 fleet_port: int, control_port: int | None = None, serverappio_port: int | None = None,
                 host: str = "127.0.0.1", advertise: str | None = None) -> None:
        if not stations:
            raise ValueError("stations: no station keys to register")
        keys: dict[int, bytes] = {}
        for j, data in stations.items():
            if not isinstance(j, int) or isinstance(j, bool) or j < 0:
                raise ValueError(f"stations: station index {j!r} is not an integer >= 0")
            parse_node_public_key(data, f"stations[{j}]")
            keys[j] = bytes(data)
        if sorted(keys) != list(range(len(keys))):
            raise ValueError(f"stations: indices must be 0..{len(keys) - 1}, got {sorted(keys)}")
        if len(set(keys.values())) != len(keys):
            raise ValueError("stations: two stations share a node public key")
        if not (isinstance(fleet_port, int) and 0 < fleet_port < 65536):
            raise ValueError(f"fleet_port: must be a TCP port 1..65535, got {fleet_port!r}")
        if file_sha256(tls.ca_cert) != tls.ca_sha256:
            raise ValueError(f"ca_cert: {tls.ca_cert} does not match its recorded sha256")
        self.tls = tls
        self.stations = keys
        self.work_dir = Path(work_dir)
        self.log_dir = Path(log_dir)
        self.host = host
        self.port = fleet_port
        self.advertise = advertise or _dial_host(host)
        self.flwr_home = self.work_dir / "flwr-home"
        self.group: ProcessGroup = ProcessGroup(base_env(self.flwr_home))  # tagged anew by start()
        self.superlink: Managed | None = None
        self.node_ids: dict[int, int] = {}  # station -> the node id the SuperLink gave its key

    @property
    def fleet_address(self) -> str:
        """`host:port` the stations' SuperNodes dial (what goes into the proposal's description)."""
        return f"[{self.advertise}]:{self.port}" if ":" in self.advertise else f"{self.advertise}:{self.port}"

    @property
    def local_address(self) -> str:
        host = _dial_host(self.host)
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def superlink_argv(self) -> list[str]:
        return [flower_bin("flower-superlink"), "--ssl-ca-certfile", str(self.tls.ca_cert), "--ssl-certfile",
                str(self.tls.server_cert), "--ssl-keyfile", str(self.tls.server_key), "--enable-supernode-auth",
                "--host", self.host, "--port", str(self.port), "--disable-runtime-dependency-installation"]

    def start(self, ready_timeout_s: float = 90.0) -> None:
        """Start the SuperLink, wait until it listens, and register every station's public key.

        Processes a previous SuperLink of the same `work_dir` left running (an agent killed and
        restarted) are stopped first, so the fixed port is free again."""
        if self.superlink is not None:
            raise RuntimeError("this SuperLink was already started")
        self.group = ProcessGroup(base_env(self.flwr_home), tag=claim_tag(self.work_dir, "superlink"))
        write_connection(self.flwr_home, self.local_address, insecure=False,
                         root_certificates=str(Path(self.tls.ca_cert).resolve()))
        self.superlink = self.group.spawn("SuperLink", self.superlink_argv(), self.log_dir / "superlink.log")
        deadline = time.monotonic() + ready_timeout_s
        while not port_open(_dial_host(self.host), self.port):
            self._check_superlink("before listening on " + self.local_address)
            if time.monotonic() > deadline:
                raise FlowerRunError(f"the SuperLink did not listen on {self.local_address} within "
                                     f"{ready_timeout_s:.0f} s:\n{tail(self.superlink.log_path)}")
            time.sleep(0.1)
        self.node_ids = self._register_all(deadline)

    def _check_superlink(self, when: str) -> None:
        assert self.superlink is not None
        if self.superlink.popen.poll() is not None:
            raise FlowerRunError(f"the SuperLink exited with code {self.superlink.popen.returncode} {when}:\n"
                                 f"{tail(self.superlink.log_path)}")

    def _register_all(self, deadline: float) -> dict[int, int]:
        """`flwr supernode register` for each station's key (in parallel); the node ids it answers."""
        key_dir = self.work_dir / "station-keys"
        key_dir.mkdir(parents=True, exist_ok=True)
        pending = {}
        for j, data in self.stations.items():
            path = key_dir / f"station-{j}.pub"
            path.write_bytes(data)
            pending[j] = path
        node_ids: dict[int, int] = {}
        while pending:
            procs = {j: self.group.spawn(f"flwr supernode register (station {j})",
                                         [flower_bin("flwr"), "supernode", "register", str(path), CONNECTION,
                                          "--format", "json", "--name", f"station-{j}"],
                                         self.log_dir / f"register-{j}.log", cwd=self.work_dir)
                     for j, path in pending.items()}
            for j, m in procs.items():
                try:
                    m.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                node_id = node_id_from_log(m.log_path)
                if node_id is not None:
                    node_ids[j] = node_id
                    pending.pop(j)
            self._check_superlink("while registering the stations' keys")
            if pending and time.monotonic() > deadline:
                j = min(pending)
                raise FlowerRunError(f"could not register station {j}'s node key with the SuperLink:\n"
                                     f"{tail(self.log_dir / f'register-{j}.log')}")
            if pending:
                time.sleep(1.0)
        if len(set(node_ids.values())) != len(node_ids):
            raise FlowerRunError(f"the SuperLink gave two stations the same node id: {node_ids}")
        return node_ids

    def run(self, cfg: TrainConfig, *, timeout_s: float = 1800.0, round_timeout_s: float = 600.0,
            progress: Callable[[int, int, float], None] | None = None, eval_folder: Path | None = None,
            join_timeout_s: float | None = None, threads: int = 0) -> TrainResult:
        """HierFAVG of `cfg` on the registered stations (submitted with `flwr run`); blocks until done.

        `cfg.n_stations` must equal the number of registered stations. `progress(round, rounds,
        accuracy)` (rounds counted from 1) is called in this process after each global round.
        `eval_folder`: the owner's data folder (`hfl.local_data`) the ServerApp measures accuracy
        and contributions on (None: the dataset's standard test split). The ServerApp waits up to
        `join_timeout_s` (default `round_timeout_s`) for the stations to come online before round
        1 (those still absent are dropped), and up to `round_timeout_s` for each round's replies.
        Raises `FlowerRunError` when the run ends without a result, the SuperLink dies, or after
        `timeout_s`.
        """
        if self.superlink is None:
            raise RuntimeError("start() the SuperLink before run()")
        if cfg.n_stations != len(self.stations):
            raise ValueError(f"n_stations: the job has {cfg.n_stations} stations but {len(self.stations)} node keys "
                             f"are registered")
        for name, value in (("timeout", timeout_s), ("round_timeout", round_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name}: must be > 0 seconds, got {value!r}")
        if eval_folder is not None:
            from hfl.local_data import read_data_folder

            read_data_folder(Path(eval_folder), split="test")  # fail here, not in the ServerApp's process
        t0 = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix="run-", dir=self.work_dir))
        try:
            result_path, progress_path = work / "result.pt", work / "progress.jsonl"
            config = {RUN_CONFIG_KEY: config_to_json(cfg), RESULT_PATH_KEY: str(result_path),
                      PROGRESS_PATH_KEY: str(progress_path), ROUND_TIMEOUT_KEY: float(round_timeout_s),
                      JOIN_TIMEOUT_KEY: float(join_timeout_s if join_timeout_s is not None else round_timeout_s),
                      THREADS_KEY: int(threads),
                      NODE_STATIONS_KEY: json.dumps({str(n): j for j, n in self.node_ids.items()}),
                      EVAL_DIR_KEY: str(Path(eval_folder).resolve()) if eval_folder is not None else ""}
            app_dir = write_app(work / "app", config, serverapp=SERVER_APP, clientapp=CLIENT_APP)
            run = submit(self.group, app_dir, work, self.log_dir)
            self._watch(run, result_path, progress_path, progress, timeout_s)
            import dataclasses

            import torch

            result = torch.load(result_path, weights_only=False)  # written by our own ServerApp
            return dataclasses.replace(result, wall_s=time.perf_counter() - t0)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _watch(self, run: Managed, result_path: Path, progress_path: Path,
               progress: Callable[[int, int, float], None] | None, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            seen = _report_progress(progress_path, seen, progress)
            if run.popen.poll() is not None:
                break
            self._check_superlink("during the run")
            if time.monotonic() > deadline:
                raise FlowerRunError(f"the Flower run did not finish within {timeout_s:.0f} s; logs in {self.log_dir}")
            time.sleep(0.2)
        _report_progress(progress_path, seen, progress)
        if not result_path.is_file():
            raise FlowerRunError(f"the Flower run ended (flwr run exit code {run.popen.returncode}) without a "
                                 f"result; last lines of {run.log_path}:\n{tail(run.log_path, 25)}")


def node_id_from_log(path: Path) -> int | None:
    """The node id in `flwr supernode register --format json`'s output, if it succeeded."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    start = text.rfind("{")
    while start >= 0:
        try:
            doc = json.loads(text[start:text.index("}", start) + 1])
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("success") and "node-id" in doc:
            return int(doc["node-id"])
        start = text.rfind("{", 0, start)
    return None


def _report_progress(path: Path, seen: int, progress: Callable[[int, int, float], None] | None) -> int:
    """Call `progress` for each complete line the ServerApp appended since line `seen`."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except OSError:
        return seen
    for line in lines[seen:]:
        if not line.endswith("\n"):
            break  # still being written
        seen += 1
        if progress is not None:
            doc = json.loads(line)
            progress(int(doc["round"]), int(doc["rounds"]), float(doc["accuracy"]))
    return seen


__all__ = ["CLIENT_APP", "SERVER_APP", "SecureSuperLink", "node_id_from_log"]
