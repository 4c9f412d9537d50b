"""Flower's deployment engine on this machine: one SuperLink, one SuperNode per base station.

Each component is a real process, as it would be on separate machines, talking HTTP over
loopback (insecure mode: no TLS on 127.0.0.1; docs/flower.md shows the TLS flags for real
deployments). The run is submitted the way Flower documents it, with `flwr run <app dir>
<connection>`: the app directory is generated in a temporary folder (a `pyproject.toml` whose
`[tool.flwr.app.components]` point at `hfl.flower.apps`, and whose `[tool.flwr.app.config]` holds
the job), and a private `FLWR_HOME` holds the connection, so nothing outside the temporary folder
and the log folder is touched. Nothing is downloaded: runtime dependency installation is off
(the app's dependencies are this environment's).

Failure policy (documented in docs/flower.md): a station that disappears fails the run. The
launcher watches its SuperNodes and stops everything with `FlowerRunError` naming the station
as soon as one exits; a station on another machine that stops answering fails the ServerApp's
round after `round_timeout_s` (the strategy refuses a round without every station, because the
owners paid for a model trained on all of them). Every process is stopped on success, error,
timeout, Ctrl-C and SIGTERM (see `procs.ProcessGroup`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from hfl.flower.procs import LOOPBACK, GroupOwner, Managed, ProcessGroup, free_ports, port_open, tail

CONNECTION = "hcfl-local"  # the SuperLink connection's name in the private FLWR_HOME
APP_NAME = "hcfl-hierarchical-fl"


class FlowerRunError(RuntimeError):
    """The Flower run did not produce a result; the message says which component failed and why."""


def flower_bin(name: str) -> str:
    """A console script of this environment (flwr's commands live beside the running Python)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def base_env(flwr_home: Path) -> dict[str, str]:
    """The environment of every Flower process: private FLWR_HOME, no telemetry, no installs."""
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parents[2])  # so that `hfl` imports in every process
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["FLWR_HOME"] = str(flwr_home)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] = "1"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def write_app(app_dir: Path, config: Mapping[str, str | int | float | bool], *,
              serverapp: str = "hfl.flower.apps:server_app", clientapp: str = "hfl.flower.apps:client_app") -> Path:
    """Write the Flower app directory that `flwr run` packs into a FAB: only a `pyproject.toml`.

    The components are imported from the installed `hfl` package, so the FAB carries no code.
    """
    app_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {"name": APP_NAME, "version": "1.0.0", "description": "HCFL hierarchical FedAvg on Flower",
                    "dependencies": []},
        "tool": {"flwr": {"app": {"publisher": "hcfl",
                                  "components": {"serverapp": serverapp, "clientapp": clientapp},
                                  "config": dict(config)}}},
    }
    (app_dir / "pyproject.toml").write_text(tomli_w.dumps(doc))
    return app_dir


def write_connection(flwr_home: Path, superlink: str, *, insecure: bool = True,
                     root_certificates: str | None = None) -> None:
    """The Flower Configuration (`$FLWR_HOME/config.toml`) with one SuperLink connection as default."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    conn: dict[str, str | bool] = {"address": superlink}
    if insecure:
        conn["insecure"] = True
    elif root_certificates:
        conn["root-certificates"] = root_certificates
    doc = {"superlink": {"default": CONNECTION, CONNECTION: conn}}
    (flwr_home / "config.toml").write_text(tomli_w.dumps(doc))


@dataclass(frozen=True)
class Certificates:
    """PEM files for TLS: the CA's certificate (given to every party), the SuperLink's certificate
    (its subject alternative names must hold the address the SuperNodes dial, and 127.0.0.1 for
    the SuperLink's own SuperExec) and its private key."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Ports:
    """The SuperLink's one HTTP port (Fleet, Control and Runtime APIs) and each SuperNode's own."""

    superlink: int
    supernodes: tuple[int, ...]


class LocalDeployment(GroupOwner):
    """A SuperLink and `n_stations` SuperNodes on 127.0.0.1, as separate processes.

    Use as a context manager: leaving the block (normally or by any exception, Ctrl-C included)
    stops every process. `start()` waits until the SuperLink listens; `submit()` starts
    `flwr run`; `wait()` watches all of them until the run ends.
    """

    def __init__(self, n_stations: int, work_dir: Path, log_dir: Path, *,
                 node_config: Mapping[int, Mapping[str, str]] | None = None,
                 certificates: Certificates | None = None) -> None:
        if n_stations < 1:
            raise ValueError(f"n_stations: need at least one station, got {n_stations}")
        self.n_stations = n_stations
        self.work_dir = Path(work_dir)
        self.log_dir = Path(log_dir)
        self.flwr_home = self.work_dir / "flwr-home"
        ports = free_ports(n_stations + 1)
        self.ports = Ports(ports[0], tuple(ports[1:]))
        self.superlink_address = f"{LOOPBACK}:{self.ports.superlink}"
        self.node_config = node_config or {}
        self.certificates = certificates  # None: insecure, which is fine on loopback only
        self.group = ProcessGroup(base_env(self.flwr_home))
        self.superlink: Managed | None = None
        self.supernodes: list[Managed] = []

    # Commands, also printed by `python -m hfl.flower commands` for multi-machine set-ups ----------

    def superlink_argv(self) -> list[str]:
        c = self.certificates
        tls = ["--insecure"] if c is None else ["--ssl-ca-certfile", str(c.ca), "--ssl-certfile", str(c.cert),
                                                 "--ssl-keyfile", str(c.key)]
        return [flower_bin("flower-superlink"), *tls, "--host", LOOPBACK, "--port", str(self.ports.superlink),
                "--disable-runtime-dependency-installation"]

    def supernode_argv(self, station: int) -> list[str]:
        pairs = {"station": str(station), **self.node_config.get(station, {})}
        node_config = " ".join(f'{k}="{v}"' for k, v in pairs.items())
        tls = ["--insecure"] if self.certificates is None else ["--root-certificates", str(self.certificates.ca)]
        return [flower_bin("flower-supernode"), *tls, "--superlink", self.superlink_address,
                "--host", LOOPBACK, "--port", str(self.ports.supernodes[station]), "--node-config", node_config]

    # Life cycle ---------------------------------------------------------------------------------

    def start(self, ready_timeout_s: float = 60.0) -> None:
        """Start the SuperLink and one SuperNode per station, and wait until the SuperLink listens.

        The SuperNodes start at the same time (they retry until the SuperLink answers), so that
        their start-up overlaps with the SuperLink's.
        """
        write_connection(self.flwr_home, self.superlink_address, insecure=self.certificates is None,
                         root_certificates=str(self.certificates.ca) if self.certificates else None)
        self.superlink = self.group.spawn("SuperLink", self.superlink_argv(), self.log_dir / "superlink.log")
        for j in range(self.n_stations):
            self.supernodes.append(self.group.spawn(f"station {j}'s SuperNode", self.supernode_argv(j),
                                                    self.log_dir / f"supernode-{j}.log"))
        deadline = time.monotonic() + ready_timeout_s
        while not port_open(LOOPBACK, self.ports.superlink):
            if self.superlink.popen.poll() is not None:
                raise FlowerRunError(f"the SuperLink exited with code {self.superlink.popen.returncode} before "
                                     f"listening on {self.superlink_address}:\n{tail(self.superlink.log_path)}")
            if time.monotonic() > deadline:
                raise FlowerRunError(f"the SuperLink did not listen on {self.superlink_address} within "
                                     f"{ready_timeout_s:.0f} s:\n{tail(self.superlink.log_path)}")
            time.sleep(0.1)

    def submit(self, app_dir: Path) -> Managed:
        """`flwr run <app_dir> <connection> --stream`: submits the run and streams its logs until it ends."""
        return submit(self.group, app_dir, self.work_dir, self.log_dir)

    def wait(self, run: Managed, result_path: Path, timeout_s: float) -> Path:
        """Watch every process until `flwr run` ends; return `result_path` once the ServerApp wrote it.

        Raises `FlowerRunError` as soon as a SuperNode or the SuperLink exits, when the run ends
        without a result, or after `timeout_s`.
        """
        return wait_for_result(self.group, run, result_path, timeout_s)


def submit(group: ProcessGroup, app_dir: Path, work_dir: Path, log_dir: Path) -> Managed:
    """Start `flwr run <app_dir> <connection> --stream` (it ends when the run ends)."""
    argv = [flower_bin("flwr"), "run", str(app_dir), CONNECTION, "--stream"]
    return group.spawn("flwr run", argv, log_dir / "run.log", cwd=work_dir)


def wait_for_result(group: ProcessGroup, run: Managed, result_path: Path, timeout_s: float) -> Path:
    """Watch the group until `run` ends; `FlowerRunError` if another of its processes exits first,
    if the run ends without writing `result_path`, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while run.popen.poll() is None:
        for m in group.exited():
            if m is not run:
                raise FlowerRunError(
                    f"{m.name} (pid {m.popen.pid}) exited with code {m.popen.returncode} during the run; "
                    f"a run needs every station, so it is stopped (docs/flower.md, 'When a station fails'). "
                    f"Last lines of {m.log_path}:\n{tail(m.log_path, 8)}")
        if time.monotonic() > deadline:
            raise FlowerRunError(f"the Flower run did not finish within {timeout_s:.0f} s; "
                                 f"logs in {run.log_path.parent}")
        time.sleep(0.2)
    if not result_path.is_file():
        raise FlowerRunError(f"the Flower run ended (flwr run exit code {run.popen.returncode}) without a result; "
                             f"last lines of {run.log_path}:\n{tail(run.log_path, 25)}")
    return result_path


def deployment_commands(cfg: object, superlink: str) -> str:
    """The commands of a deployment spread over machines (TLS on), one block per machine."""
    n = int(getattr(cfg, "n_stations"))
    host, _, port = superlink.rpartition(":")
    lines = [
        "# 1. The owner's machine: the SuperLink (TLS; certificates as in docs/flower.md).",
        f"flower-superlink --ssl-ca-certfile certs/ca.crt --ssl-certfile certs/server.pem "
        f"--ssl-keyfile certs/server.key --host 0.0.0.0 --port {port or 9093} "
        f"--disable-runtime-dependency-installation",
        "",
        "# 2. Each base station's machine (this repository installed, its data under --node-config data-dir):",
    ]
    for j in range(n):
        lines.append(f"flower-supernode --superlink {superlink} --root-certificates certs/ca.crt "
                     f"--node-config 'station={j}'   # station {j}")
    lines += ["",
              "# 3. The owner's machine, once the stations are up: submit the job and wait for result.json.",
              f"python -m hfl.flower --engine flower-deploy --superlink {superlink} "
              f"--root-certificates certs/ca.crt --stations {n} --out runs/flower  # plus the job's options"]
    return "\n".join(lines)


__all__ = ["CONNECTION", "Certificates", "FlowerRunError", "LocalDeployment", "Ports", "base_env", "deployment_commands", "submit",
           "wait_for_result", "write_app", "write_connection"]
