"""hfl.flower.secure: node keys, TLS files, the CA check, the ServerApp's policy on lost and unknown
nodes (against an in-process grid), and the authenticated deployment as real processes."""

from __future__ import annotations

import hashlib
import os
import re
import stat

import pytest
import torch
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hfl.config import TrainConfig
from hfl.flower.procs import ProcessGroup, tagged_pids
from hfl.flower.secure import (SecureSuperLink, claim_tag, file_sha256, make_node_keys, make_tls, node_id_from_log,
                               parse_node_public_key, pick_port, start_supernode)
from hfl.local_data import split_for_localnet, write_data_folder

torch.set_num_threads(1)


# Node keys ------------------------------------------------------------------------------------


def test_node_keys_are_p384_openssh_files_and_loading_them_again_gives_the_same_key(tmp_path):
    keys = make_node_keys(tmp_path / "k")
    assert keys.public_key.read_bytes() == keys.public_key_bytes
    assert keys.node_key_sha256 == hashlib.sha256(keys.public_key_bytes).hexdigest()
    assert stat.S_IMODE(os.stat(keys.private_key).st_mode) == 0o600
    private = serialization.load_ssh_private_key(keys.private_key.read_bytes(), password=None)
    assert isinstance(private.curve, ec.SECP384R1)
    again = make_node_keys(tmp_path / "k")
    assert again == keys
    assert make_node_keys(tmp_path / "other").public_key_bytes != keys.public_key_bytes


def test_flowers_own_register_command_reads_the_public_key_file(tmp_path):
    from flwr.cli.supernode.register import try_load_public_key

    keys = make_node_keys(tmp_path)
    pem = try_load_public_key(keys.public_key)  # what `flwr supernode register` sends to the SuperLink
    assert serialization.load_pem_public_key(pem).public_numbers() == \
        parse_node_public_key(keys.public_key_bytes).public_numbers()


def test_a_broken_private_key_is_refused_naming_node_key(tmp_path):
    keys = make_node_keys(tmp_path)
    keys.private_key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
    with pytest.raises(ValueError, match="^node_key:"):
        make_node_keys(tmp_path)


def test_node_public_keys_other_than_p384_are_refused():
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    with pytest.raises(ValueError, match="P-384"):
        parse_node_public_key(p256)
    with pytest.raises(ValueError, match="^stations\\[0\\]:"):
        parse_node_public_key(b"ssh-rsa garbage", "stations[0]")


# TLS ------------------------------------------------------------------------------------------


def test_tls_files_are_made_once_and_name_the_host_and_loopback(tmp_path):
    tls = make_tls(tmp_path / "tls", host="owner.example.org")
    assert tls.ca_sha256 == file_sha256(tls.ca_cert)
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "owner.example.org" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert stat.S_IMODE(os.stat(tls.server_key).st_mode) == 0o600
    assert not list((tmp_path / "tls").glob("ca.key"))  # the CA cannot sign anything else
    assert make_tls(tmp_path / "tls", host="owner.example.org") == tls
    assert make_tls(tmp_path / "tls", host="10.1.2.3").ca_sha256 != tls.ca_sha256  # a new host: a new set


def test_a_supernode_refuses_a_ca_whose_hash_is_not_the_proposals(tmp_path):
    tls = make_tls(tmp_path / "tls")
    keys = make_node_keys(tmp_path / "keys")
    (x, y), *_ = split_for_localnet("digits", 2, 1, seed=0, alpha=1.0)[0]
    folder = write_data_folder(tmp_path / "data", x, y, "digits")
    with pytest.raises(ValueError, match="^ca_cert:"):
        start_supernode("127.0.0.1:9", tls.ca_cert, "00" * 32, keys, folder, tmp_path / "w", tmp_path / "l")
    assert not (tmp_path / "l").exists()  # nothing was started


def test_a_superlink_refuses_bad_station_keys_naming_stations(tmp_path):
    tls = make_tls(tmp_path / "tls")
    a, b = make_node_keys(tmp_path / "a"), make_node_keys(tmp_path / "b")
    kw = dict(work_dir=tmp_path / "w", log_dir=tmp_path / "l", fleet_port=pick_port())
    for stations in ({0: a.public_key_bytes, 1: a.public_key_bytes}, {0: a.public_key_bytes, 2: b.public_key_bytes},
                     {0: b"junk"}, {}):
        with pytest.raises(ValueError, match="^stations"):
            SecureSuperLink(tls, stations, **kw)
    link = SecureSuperLink(tls, {0: a.public_key_bytes, 1: b.public_key_bytes}, **kw)
    assert link.fleet_address == f"127.0.0.1:{kw['fleet_port']}"


def test_the_node_id_is_read_from_the_register_commands_json(tmp_path):
    log = tmp_path / "r.log"
    log.write_text('INFO ...\n{\n  "success": true,\n  "node-id": 17894194415818988692\n}\n')
    assert node_id_from_log(log) == 17894194415818988692
    log.write_text('{"success": false, "error-message": "Public key already in use"}\n')
    assert node_id_from_log(log) is None


def test_a_restarted_agent_stops_what_its_previous_incarnation_left_running(tmp_path):
    tag = claim_tag(tmp_path, "supernode")
    group = ProcessGroup(tag=tag)
    group.spawn("left over", ["sleep", "300"], tmp_path / "sleep.log")
    assert tagged_pids(tag)
    new = claim_tag(tmp_path, "supernode")  # what start_supernode does first, with the same work_dir
    assert new != tag and tagged_pids(tag) == []
    group.stop()


# The ServerApp's policy, against an in-process grid -------------------------------------------------


class FakeGrid:
    """Flower's Grid calls the ServerApp uses, with each node's ClientApp run in this process.

    `lost` nodes are online until their round's message arrives, then never answer and go
    offline; `unknown` nodes are online but not registered."""

    def __init__(self, folders: dict[int, object], lost: dict[int, int] | None = None) -> None:
        self.folders = folders  # node id -> data folder
        self.lost = lost or {}  # node id -> the round from which it is gone
        self.offline: set[int] = set()
        self.replies: dict[str, object] = {}
        self.received: list[tuple[int, int]] = []  # (node id, station told)

    def get_node_ids(self):
        return [n for n in self.folders if n not in self.offline]

    def push_messages(self, messages):
        from flwr.app import Context, RecordDict

        from hfl.flower.secure_apps import run_own_station

        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = msg.object_id
            node = msg.metadata.dst_node_id
            rnd = int(msg.content["config"]["server-round"])
            self.received.append((node, int(msg.content["config"]["station"])))
            if node in self.lost and rnd >= self.lost[node]:
                self.offline.add(node)
            else:
                ctx = Context(run_id=1, node_id=node, node_config={"data-dir": str(self.folders[node])},
                              state=RecordDict(), run_config={})
                self.replies[msg.metadata.message_id] = run_own_station(msg, ctx)
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, ids):
        return [self.replies.pop(i) for i in list(ids) if i in self.replies]


@pytest.fixture(autouse=True)
def task_identity():
    """Flower 1.42 stamps each Message with the run of the process it is made in (set by its
    ServerApp / ClientApp runtimes); here the fake grid plays both, in one made-up run."""
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 0
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


@pytest.fixture(scope="module")
def three_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("secure-fake")
    stations, owners = split_for_localnet("digits", 3, 1, seed=2, alpha=1.0)
    folders = [write_data_folder(root / f"s{j}", x, y, "digits") for j, (x, y) in enumerate(stations)]
    return folders, write_data_folder(root / "owner", *owners[0], "digits"), [len(y) for _, y in stations]


def test_the_serverapp_trains_registered_nodes_on_their_own_data_by_their_registered_station(three_folders):
    from hfl.flower.secure_apps import serve_secure

    folders, owner, sizes = three_folders
    cfg = TrainConfig(n_stations=3, clients_per_station=2, global_rounds=2, kappa1=1, kappa2=1, seed=1, device="cpu")
    # Node ids are arbitrary; the map (from the registered keys) decides the station, not the node.
    node_stations = {907: 2, 11: 0, 5000: 1}
    grid = FakeGrid({907: folders[2], 11: folders[0], 5000: folders[1], 66: folders[0]})  # 66: unregistered
    result = serve_secure(grid, cfg, node_stations, round_timeout_s=30, join_timeout_s=5, eval_dir=str(owner))
    assert result.station_samples == tuple(sizes)  # each station trained on exactly its own folder
    assert {(n, j) for n, j in grid.received} == {(907, 2), (11, 0), (5000, 1)}  # node 66 got nothing
    assert len(result.accuracy) == 2 and result.dropped == ()
    assert len(result.contributions) == 3 and sum(result.contributions) > 0


def test_a_station_lost_mid_run_is_dropped_and_credited_nothing(three_folders):
    from hfl.flower.secure_apps import serve_secure

    folders, owner, sizes = three_folders
    cfg = TrainConfig(n_stations=3, clients_per_station=2, global_rounds=3, kappa1=1, kappa2=1, seed=1, device="cpu")
    grid = FakeGrid({1: folders[0], 2: folders[1], 3: folders[2]}, lost={2: 2})  # station 1 gone from round 2
    result = serve_secure(grid, cfg, {1: 0, 2: 1, 3: 2}, round_timeout_s=30, join_timeout_s=5, eval_dir=str(owner))
    assert len(result.accuracy) == 3 and result.dropped == (1,)
    assert result.contributions[1] == 0 and result.station_samples == (sizes[0], 0, sizes[2])
    assert result.loo[1] == 0.0
    assert [n for n, _ in grid.received].count(2) == 2  # rounds 1 and 2 sent to it, round 3 not


def test_a_station_that_never_joins_is_dropped_before_round_one(three_folders):
    from hfl.flower.apps import StationFailure
    from hfl.flower.secure_apps import serve_secure

    folders, owner, _ = three_folders
    cfg = TrainConfig(n_stations=2, clients_per_station=2, global_rounds=1, kappa1=1, kappa2=1, device="cpu")
    grid = FakeGrid({1: folders[0]})
    result = serve_secure(grid, cfg, {1: 0, 2: 1}, round_timeout_s=30, join_timeout_s=1, eval_dir=str(owner))
    assert result.dropped == (1,) and result.contributions[1] == 0
    with pytest.raises(StationFailure, match="no station"):
        serve_secure(FakeGrid({}), cfg, {1: 0, 2: 1}, round_timeout_s=5, join_timeout_s=1, eval_dir=str(owner))


# The deployment as real processes ----------------------------------------------------------------


def _wait_for(predicate, timeout_s: float) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


def test_the_superlink_admits_a_registered_supernode_and_refuses_an_unregistered_one(tmp_path):
    """Real Flower processes, no training: TLS, SuperNode authentication and the key registration."""
    tls = make_tls(tmp_path / "tls")
    keys, stranger = make_node_keys(tmp_path / "k0"), make_node_keys(tmp_path / "k1")
    (x, y), *_ = split_for_localnet("digits", 2, 1, seed=0, alpha=1.0)[0]
    folder = write_data_folder(tmp_path / "data", x, y, "digits")
    port = pick_port()
    address = f"127.0.0.1:{port}"
    with SecureSuperLink(tls, {0: keys.public_key_bytes}, tmp_path / "owner", tmp_path / "owner-logs",
                         fleet_port=port) as link, \
            start_supernode(address, tls.ca_cert, tls.ca_sha256, keys, folder, tmp_path / "s0", tmp_path / "s0-logs") \
            as station, \
            start_supernode(address, tls.ca_cert, tls.ca_sha256, stranger, folder, tmp_path / "s1",
                            tmp_path / "s1-logs") as intruder:
        link.start()
        superlink_log = tmp_path / "owner-logs" / "superlink.log"
        assert list(link.node_ids) == [0]
        activated = f"Activated node_id={link.node_ids[0]}"
        assert _wait_for(lambda: activated in superlink_log.read_text(errors="replace"), 90), \
            superlink_log.read_text(errors="replace")[-3000:]
        assert _wait_for(lambda: "Failed to activate SuperNode" in intruder.log_path.read_text(errors="replace"), 60)
        # Every node the SuperLink let in is one the owner registered: the stranger never was.
        admitted = {int(n) for n in re.findall(r"Activated node_id=(\d+)", superlink_log.read_text(errors="replace"))}
        assert admitted == {link.node_ids[0]}
        pids = station.live_pids() + intruder.live_pids() + link.live_pids()
    assert pids and not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[-1].startswith("Z")


@pytest.mark.slow
def test_an_authenticated_run_trains_only_the_registered_stations_on_their_own_data(tmp_path):
    """45-60 s. SuperLink with TLS and SuperNode auth, 2 registered stations and 1 unregistered SuperNode."""
    from hfl.flower.secure_local import run_local_secure

    cfg = TrainConfig(n_stations=2, clients_per_station=2, global_rounds=1, kappa1=1, kappa2=1, seed=4, device="cpu")
    run = run_local_secure(cfg, tmp_path, intruder=True, round_timeout_s=120, timeout_s=400)
    result = run.result
    own = [len(read_y(f)) for f in run.station_folders]
    assert result.station_samples == tuple(own) and result.dropped == ()
    assert len(result.accuracy) == 1 and result.accuracy[0] > 0.1
    assert "Failed to activate SuperNode" in run.intruder_log.read_text()
    assert run.leftover_pids == []


def test_the_local_command_names_a_bad_option_in_one_line(capsys):
    from hfl.flower.secure_local import main

    assert main(["--stations", "0"]) == 2
    assert "n_stations" in capsys.readouterr().err


def read_y(folder):
    from hfl.local_data import read_data_folder

    return read_data_folder(folder).y


@pytest.mark.slow
def test_a_station_whose_supernode_is_stopped_mid_run_is_dropped_and_the_run_completes(tmp_path):
    """70-120 s: Flower marks a node offline only after two missed 30 s heartbeats."""
    from hfl.flower.secure_local import run_local_secure

    cfg = TrainConfig(n_stations=2, clients_per_station=2, global_rounds=3, kappa1=1, kappa2=1, seed=4, device="cpu")
    run = run_local_secure(cfg, tmp_path, lose_station=1, after_round=1, round_timeout_s=150, timeout_s=600)
    result = run.result
    assert len(result.accuracy) == 3 and result.dropped == (1,)
    assert result.contributions[1] == 0 and result.station_samples[1] == 0 and result.contributions[0] > 0
    assert run.leftover_pids == []
