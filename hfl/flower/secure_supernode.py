"""A station's SuperNode in the authenticated Flower deployment: TLS to the winner's
SuperLink, checked against the CA the proposal names, requests signed with the station's node
key, training on the station's own data folder; restarted until the SuperLink knows its key.

`flower-supernode --root-certificates CA --auth-supernode-private-key KEY` (an OpenSSH private
key file) with no `--max-retries` retries until the SuperLink answers (Flower 1.42).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hfl.digest import file_sha256
from hfl.flower.deploy import base_env, flower_bin
from hfl.flower.procs import Managed, ProcessGroup
from hfl.flower.protocol import DATA_DIR_KEY, THREADS_KEY
from hfl.flower.secure_identity import NodeKeys, parse_node_public_key
from hfl.flower.secure_procs import claim_tag, pick_port


class SuperNodeHandle:
    """A station's SuperNode, kept running until `stop()`: `.pid` (of the current SuperNode
    process), `.poll()` (None until stopped), `.stop()`, `.restarts`.

    Flower's SuperNode retries while the SuperLink does not answer, but exits (code 305) when the
    SuperLink answers and does not know its key yet, which is what a station sees when it starts
    before the winner has registered the round's keys. So a supervising thread starts it again,
    `restart_s` seconds later, until `stop()`; each attempt is its own tagged process group, and
    what an exited attempt left behind (its SuperExec) is stopped before the next one starts.
    """

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path, *,
                 restart_s: float = 3.0, tag: str | None = None) -> None:
        import threading

        self.tag = tag
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.restart_s = restart_s
        self.restarts = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._group: ProcessGroup | None = None
        self._managed: Managed | None = None
        self._returncode: int | None = None
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="supernode-supervisor", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        group = ProcessGroup(self.env, tag=self.tag)
        self._managed = group.spawn("SuperNode", self.argv, self.log_path, cwd=self.cwd)
        self._group = group

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            assert self._managed is not None and self._group is not None
            if self._managed.popen.poll() is None:
                self._stopping.wait(0.5)
                continue
            with self._lock:
                if self._stopping.is_set():
                    return
                self._group.stop(grace=2.0)  # the exited SuperNode's SuperExec, if any
            if self._stopping.wait(self.restart_s):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.restarts += 1
                self._spawn()

    @property
    def pid(self) -> int:
        assert self._managed is not None
        return self._managed.popen.pid

    def poll(self) -> int | None:
        """None while the SuperNode is kept running; its last exit code once stopped."""
        return self._returncode if self._stopping.is_set() else None

    def stop(self, grace: float = 5.0) -> None:
        """Stop the supervisor, the SuperNode and everything it started (its SuperExec, ClientApps)."""
        with self._lock:
            self._stopping.set()
            if self._group is not None:
                self._group.stop(grace)
            if self._managed is not None:
                self._returncode = self._managed.popen.returncode
        self._thread.join(timeout=10.0)

    def live_pids(self) -> list[int]:
        return self._group.live_pids() if self._group is not None else []

    def __enter__(self) -> SuperNodeHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_supernode(fleet_address: str, ca_cert: Path, expected_ca_sha256: str, keys: NodeKeys, data_folder: Path,
                    work_dir: Path, log_dir: Path, *, threads: int = 1) -> SuperNodeHandle:
    """Start this station's authenticated SuperNode: TLS to `fleet_address` verified with `ca_cert`,
    requests signed with `keys`, training on its own `data_folder` (`hfl.local_data`).

    Refuses (`ValueError` naming `ca_cert`) a CA file whose sha256 is not `expected_ca_sha256` (the
    one in the proposal's description), and (`DataError`) a data folder that does not read. The
    SuperNode retries until the SuperLink answers, so it may start before the winner's SuperLink.
    Processes a previous call left running with the same `work_dir` (an agent killed and
    restarted) are stopped first.
    `threads` is torch's CPU threads for this station's training (0: `hfl.train.default_threads`).
    """
    ca_cert = Path(ca_cert)
    if not ca_cert.is_file():
        raise ValueError(f"ca_cert: no CA certificate at {ca_cert}")
    got = file_sha256(ca_cert)
    if got != str(expected_ca_sha256).lower().removeprefix("0x"):
        raise ValueError(f"ca_cert: {ca_cert} has sha256 {got}, not the {expected_ca_sha256} the proposal names; "
                         f"refusing to connect")
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads: must be an integer >= 0, got {threads!r}")
    host, sep, port = fleet_address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"fleet_address: expected host:port, got {fleet_address!r}")
    parse_node_public_key(keys.public_key_bytes, "keys")
    folder = Path(data_folder).resolve()
    if '"' in str(folder):
        raise ValueError(f"data_folder: {folder} holds a double quote, which Flower's node config cannot carry")
    from hfl.local_data import read_data_folder  # only now: a refused CA costs no torch import

    read_data_folder(folder)
    work_dir, log_dir = Path(work_dir), Path(log_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    node_config = f'{DATA_DIR_KEY}="{folder}" {THREADS_KEY}={int(threads)}'
    argv = [flower_bin("flower-supernode"), "--superlink", fleet_address, "--root-certificates", str(ca_cert.resolve()),
            "--auth-supernode-private-key", str(Path(keys.private_key).resolve()),
            "--host", "127.0.0.1", "--port", str(pick_port()),  # its ClientApp's local Runtime API
            "--node-config", node_config]
    return SuperNodeHandle(argv, base_env(work_dir / "flwr-home"), log_dir / "supernode.log", work_dir,
                           tag=claim_tag(work_dir, "supernode"))


__all__ = ["SuperNodeHandle", "start_supernode"]
