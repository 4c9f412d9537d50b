"""The authenticated Flower deployment of a real round: TLS, and only the round's registered stations.

SPEC section 8: each station's Flower node key pair (P-384) is bound to its chain identity by the
admission ticket's `nodeKey` (the sha256 of `NodeKeys.public_key_bytes`); the winner's SuperLink
runs with SuperNode authentication and registers exactly the public keys of the round's stations.

Flower 1.42, as read in its sources (`flwr/superlink/cli/flower_superlink.py`,
`flwr/superlink/servicer/fleet/fleet_handlers.py`, `flwr/cli/supernode/register.py`):

- `flower-superlink --ssl-ca-certfile --ssl-certfile --ssl-keyfile --enable-supernode-auth`
  serves the Fleet, Control and Runtime APIs on ONE HTTPS port (`--host`, `--port`); SuperNode
  authentication requires TLS. With it on, the Fleet API refuses self-registration: a node must
  have been registered through the Control API (`flwr supernode register <OpenSSH public key
  file>`), which answers with the node id it created for that key. A connecting SuperNode signs
  its requests with its private key; the SuperLink looks its node id up by the public key and
  checks the signature (`flwr/superlink/routers/fleet/node_auth.py`).
- `flower-supernode --root-certificates CA --auth-supernode-private-key KEY` (an OpenSSH private
  key file) with no `--max-retries` retries until the SuperLink answers.

So the node id -> station map is the SuperLink owner's own record of which public key it
registered for which station; the ServerApp (`hfl.flower.secure_apps`) gets it in the run config
and sends work only to those node ids, telling each node which station it is. Nothing a node says
about itself decides its station.

Failure policy (different from `hfl.flower.deploy`, whose run fails when a station is lost): a
station whose SuperNode is lost is dropped from the later global rounds and the training goes on
with the others (`TrainResult.dropped`); see `hfl.flower.secure_apps` for what it is credited.

This module imports neither torch nor flwr at import time (the agent starts SuperNodes quickly).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hfl.digest import file_sha256
from hfl.flower.deploy import CONNECTION, FlowerRunError, _bin, base_env, submit, write_app, write_connection
from hfl.flower.procs import GroupOwner, Managed, ProcessGroup, port_open, tagged_pids, tail
from hfl.flower.protocol import (EVAL_DIR_KEY, JOIN_TIMEOUT_KEY, NODE_STATIONS_KEY, PROGRESS_PATH_KEY,
                                 RESULT_PATH_KEY, ROUND_TIMEOUT_KEY, RUN_CONFIG_KEY, THREADS_KEY, config_to_json)

if TYPE_CHECKING:
    from hfl.config import TrainConfig
    from hfl.result import TrainResult

SERVER_APP = "hfl.flower.secure_apps:server_app"
CLIENT_APP = "hfl.flower.secure_apps:client_app"
PRIVATE_KEY_FILE = "node.key"
PUBLIC_KEY_FILE = "node.pub"
CA_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE = "ca.crt", "server.pem", "server.key"
CERT_DAYS = 365


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (created 0600, never world-readable)."""
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _claim_tag(work_dir: Path, name: str) -> str:
    """A fresh process tag for `name` in `work_dir`, after stopping what a previous incarnation
    left running under the tag recorded there (an agent killed and restarted must not leave a
    second SuperLink on its port, or two SuperNodes with one key)."""
    import uuid

    work_dir.mkdir(parents=True, exist_ok=True)
    record = work_dir / f"{name}.tag"
    if record.is_file():
        old = record.read_text().strip()
        if old:
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                pids = tagged_pids(old)
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
                deadline = time.monotonic() + wait
                while tagged_pids(old) and time.monotonic() < deadline:
                    time.sleep(0.1)
    tag = f"hcfl-{name}-{uuid.uuid4().hex}"
    record.write_text(tag + "\n")
    return tag


# Node keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeKeys:
    """A station's Flower node key pair: OpenSSH files, as `flower-supernode` and `flwr supernode
    register` read them. `public_key_bytes` is the public key file's content, exactly: the bytes
    whose sha256 is the admission ticket's `nodeKey` and that the station publishes on chain."""

    private_key: Path
    public_key: Path
    public_key_bytes: bytes

    @property
    def node_key_sha256(self) -> str:
        return hashlib.sha256(self.public_key_bytes).hexdigest()


def _openssh_public(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def parse_node_public_key(data: bytes, field: str = "public_key") -> ec.EllipticCurvePublicKey:
    """A node public key (OpenSSH `ecdsa-sha2-nistp384 ...`) checked to be P-384, else `ValueError`
    naming `field`."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{field}: a node public key must be bytes, got {type(data).__name__}")
    try:
        key = serialization.load_ssh_public_key(bytes(data))
    except Exception as exc:  # ValueError, UnsupportedAlgorithm: not a key we can use either way
        raise ValueError(f"{field}: not an OpenSSH public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise ValueError(f"{field}: a Flower node key must be an EC P-384 (secp384r1) key")
    return key


def make_node_keys(folder: Path) -> NodeKeys:
    """The node key pair in `folder` (`node.key` 0600, `node.pub`), made on first use, loaded after.

    Raises `ValueError` naming `node_key` when an existing private key is unreadable or not P-384.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv_path, pub_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if priv_path.exists():
        try:
            key = serialization.load_ssh_private_key(priv_path.read_bytes(), password=None)
        except Exception as exc:
            raise ValueError(f"node_key: {priv_path} is not an unencrypted OpenSSH private key ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
            raise ValueError(f"node_key: {priv_path} is not an EC P-384 key, which Flower's SuperNode needs")
    else:
        key = ec.generate_private_key(ec.SECP384R1())
        _write_private(priv_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                    serialization.NoEncryption()))
    public = _openssh_public(key.public_key())
    if not pub_path.is_file() or pub_path.read_bytes() != public:  # (re)derived from the private key
        pub_path.write_bytes(public)
    return NodeKeys(priv_path, pub_path, public)


# TLS ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """The SuperLink's TLS files (PEM): the CA certificate every station gets (and whose sha256 the
    proposal's description carries), the server certificate and its private key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    ca_sha256: str


def _san_for(host: str) -> list[x509.GeneralName]:
    """The names the certificate must hold: `host`, and loopback (the SuperLink's own helpers dial
    127.0.0.1; a deployment on one machine dials it too)."""
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in (host, "127.0.0.1", "localhost"):
        if not name or name in seen or name in ("0.0.0.0", "::"):
            continue
        seen.add(name)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def _tls_ok(ca_path: Path, cert_path: Path, key_path: Path, host: str) -> bool:
    """Whether existing files form a usable set for `host`: signed by the CA, valid now, the key
    matching, the SAN holding `host`."""
    try:
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
        now = dt.datetime.now(dt.timezone.utc)
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - dt.timedelta(days=1):
            return False
        if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                != cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo):
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return all(name in san for name in _san_for(host))
    except Exception:  # any missing, unreadable or mismatched file: make a new set
        return False


def make_tls(folder: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A self-signed CA and a server certificate for `host` in `folder`; reused when they exist,
    are valid and cover `host`.

    The CA's private key is not kept: once the server certificate is signed, nobody (the owner
    included) can issue another certificate under that CA, so the CA's sha256 in the proposal
    pins this one server certificate.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_path, cert_path, key_path = folder / CA_FILE, folder / SERVER_CERT_FILE, folder / SERVER_KEY_FILE
    if not _tls_ok(ca_path, cert_path, key_path, host):
        now = dt.datetime.now(dt.timezone.utc)
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=CERT_DAYS)
        ca_key = ec.generate_private_key(ec.SECP384R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hcfl SuperLink CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                           crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA384()))
        key = ec.generate_private_key(ec.SECP384R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host or "localhost")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(_san_for(host)), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA384()))
        _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(ca_path, cert_path, key_path, file_sha256(ca_path))


# Ports ----------------------------------------------------------------------------------------


def pick_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now, to fix the SuperLink's address long before it starts (it goes
    into the proposal's description at Propose time)."""
    bind = "0.0.0.0" if host in ("", "0.0.0.0") else host
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


def _dial_host(host: str) -> str:
    """Where processes on the SuperLink's own machine reach it."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


# The SuperLink ----------------------------------------------------------------------------------


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
        return [_bin("flower-superlink"), "--ssl-ca-certfile", str(self.tls.ca_cert), "--ssl-certfile",
                str(self.tls.server_cert), "--ssl-keyfile", str(self.tls.server_key), "--enable-supernode-auth",
                "--host", self.host, "--port", str(self.port), "--disable-runtime-dependency-installation"]

    def start(self, ready_timeout_s: float = 90.0) -> None:
        """Start the SuperLink, wait until it listens, and register every station's public key.

        Processes a previous SuperLink of the same `work_dir` left running (an agent killed and
        restarted) are stopped first, so the fixed port is free again."""
        if self.superlink is not None:
            raise RuntimeError("this SuperLink was already started")
        self.group = ProcessGroup(base_env(self.flwr_home), tag=_claim_tag(self.work_dir, "superlink"))
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
                                         [_bin("flwr"), "supernode", "register", str(path), CONNECTION,
                                          "--format", "json", "--name", f"station-{j}"],
                                         self.log_dir / f"register-{j}.log", cwd=self.work_dir)
                     for j, path in pending.items()}
            for j, m in procs.items():
                try:
                    m.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                node_id = _node_id_from_log(m.log_path)
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


def _node_id_from_log(path: Path) -> int | None:
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


# A station's SuperNode --------------------------------------------------------------------------


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
    node_config = f'data-dir="{folder}" {THREADS_KEY}={int(threads)}'
    argv = [_bin("flower-supernode"), "--superlink", fleet_address, "--root-certificates", str(ca_cert.resolve()),
            "--auth-supernode-private-key", str(Path(keys.private_key).resolve()),
            "--host", "127.0.0.1", "--port", str(pick_port()),  # its ClientApp's local Runtime API
            "--node-config", node_config]
    return SuperNodeHandle(argv, base_env(work_dir / "flwr-home"), log_dir / "supernode.log", work_dir,
                           tag=_claim_tag(work_dir, "supernode"))


__all__ = ["NodeKeys", "SecureSuperLink", "SuperNodeHandle", "TlsFiles", "file_sha256", "make_node_keys", "make_tls",
           "parse_node_public_key", "pick_port", "start_supernode"]
