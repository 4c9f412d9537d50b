"""The participant's commands (``hcfl deploy``, ``admit``, ``register`` ... ``withdraw``):
bad input is one line and sends nothing, and a whole round is played by separate processes,
each with its own keystore, through a node that behaves like a public provider."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from contracts.nodes import JsonRpc, dev_accounts, fund_addresses, start_node
from hcfl_cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse"
ETH = 10**18


pytestmark = pytest.mark.anvil  # every command here talks to a node


@dataclass(frozen=True)
class Person:
    """One participant's own machine: its HCFL_HOME (keystore, secrets) and password file."""

    name: str
    home: Path
    address: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "HCFL_HOME": str(self.home), "PYTHONPATH": str(ROOT)}

    @property
    def key_args(self) -> list[str]:
        return ["--account", self.name, "--password-file", str(self.home / "password")]


def make_person(tmp: Path, name: str) -> Person:
    """A fresh key in an encrypted keystore under its own HCFL_HOME (a light KDF: the
    format is the same, the test just does not spend seconds in scrypt)."""
    acct = Account.create()
    home = tmp / name
    (home / "keystores").mkdir(parents=True)
    (home / "keystores" / name).write_text(json.dumps(Account.encrypt(acct.key, PASSWORD, kdf="pbkdf2",
                                                                      iterations=1000)))
    (home / "password").write_text(PASSWORD + "\n")
    return Person(name, home, acct.address)


@contextlib.contextmanager
def home(folder: Path) -> Iterator[None]:
    """Commands run in this process act as the participant whose HCFL_HOME is ``folder``."""
    os.environ["HCFL_HOME"] = str(folder)
    try:
        yield
    finally:
        del os.environ["HCFL_HOME"]


def run_as(p: Person, *argv: str) -> int:
    """One command in this process, as ``p`` (its HCFL_HOME and key); its exit code."""
    with home(p.home):
        return main([*argv, *p.key_args])


def hcfl(p: Person, *args: str) -> subprocess.CompletedProcess[str]:
    """One command, in its own OS process, as participant ``p``."""
    return subprocess.run([sys.executable, "-m", "hcfl_cli.main", *args, *p.key_args], env=p.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def together(calls: Sequence[tuple[Person, Sequence[str]]]) -> list[subprocess.CompletedProcess[str]]:
    """Several participants' commands at once (separate processes); each must succeed."""
    procs = [(p, subprocess.Popen([sys.executable, "-m", "hcfl_cli.main", *args, *p.key_args], env=p.env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for p, args in calls]
    out = []
    for p, proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert done.returncode == 0, f"{p.name}: {stdout}{stderr}"
        out.append(done)
    return out


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# -- bad input: one line, exit 2, nothing sent --------------------------------------------------
@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """anvil (a block per transaction) behind the strict proxy, one deployment and one
    funded, admitted owner who has not registered."""
    from tests.strict_rpc import strict_proxy

    tmp = tmp_path_factory.mktemp("small")
    with start_node("anvil") as node, strict_proxy(node.url) as url:
        org, owner = make_person(tmp, "organizer"), make_person(tmp, "owner")
        fund_addresses(url, [org.address, owner.address], ETH, funder=dev_accounts(1)[0])
        dep = tmp / "deployment.json"
        assert run_as(org, "deploy", "--rpc", url, "--out", str(dep), "--phases", "600,600,600,600,600,600",
                      "--deposit-per-weight", "10") == 0
        assert run_as(org, "admit", "--deployment", str(dep), "--address", owner.address, "--role", "owner",
                      "--out", str(tmp / "ticket.json")) == 0
        yield {"url": url, "node": node.url, "dep": dep, "owner": owner, "ticket": tmp / "ticket.json", "tmp": tmp}


def _nonce(url: str, address: str) -> int:
    from web3 import Web3

    return Web3(Web3.HTTPProvider(url)).eth.get_transaction_count(address, "pending")


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], world: dict, who: Person) -> str:
    before = _nonce(world["url"], who.address)
    with home(who.home):
        code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert _nonce(world["url"], who.address) == before
    return err


def test_a_wrong_password_is_one_line_and_nothing_is_sent(small_world: dict, capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    w, o = small_world, small_world["owner"]
    (tmp_path / "wrong").write_text("not it\n")
    err = _one_line_error(capsys, ["register", "--rpc", w["url"], "--deployment", str(w["dep"]), "--ticket",
                                   str(w["ticket"]), "--deposit", "100", "--account", o.name, "--password-file",
                                   str(tmp_path / "wrong")], w, o)
    assert "wrong password" in err


def test_a_deployment_file_of_another_chain_is_refused_before_anything_is_sent(
        small_world: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    w, o = small_world, small_world["owner"]
    data = json.loads(w["dep"].read_text())
    data["chain_id"] = 1
    other = tmp_path / "other-chain.json"
    other.write_text(json.dumps(data))
    err = _one_line_error(capsys, ["register", "--rpc", w["url"], "--deployment", str(other), "--ticket",
                                   str(w["ticket"]), "--deposit", "100", *o.key_args], w, o)
    assert "--deployment" in err and "chain 1" in err


def test_a_deployment_file_that_does_not_match_the_code_on_chain_is_refused(
        small_world: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    w, o = small_world, small_world["owner"]
    data = json.loads(w["dep"].read_text())
    data["address"] = o.address  # an account, not the contract: no code there
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(data))
    err = _one_line_error(capsys, ["status", "--rpc", w["url"], "--deployment", str(moved), *o.key_args], w, o)
    assert "--deployment" in err and "no code" in err
    data = json.loads(w["dep"].read_text())
    data["code_hash"] = "0x" + "11" * 32
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    err = _one_line_error(capsys, ["register", "--rpc", w["url"], "--deployment", str(forged), "--ticket",
                                   str(w["ticket"]), "--deposit", "100", *o.key_args], w, o)
    assert "--deployment" in err and "not the file's" in err


def test_a_step_whose_phase_has_not_come_is_one_line_and_nothing_is_sent(
        small_world: dict, capsys: pytest.CaptureFixture[str]) -> None:
    w, o = small_world, small_world["owner"]
    common = ["--rpc", w["url"], "--deployment", str(w["dep"]), *o.key_args]
    assert "not registered" in _one_line_error(capsys, ["commit", "--claims", "1", *common], w, o)
    assert "Reveal phase" in _one_line_error(capsys, ["close", *common], w, o)
    assert "s from now" in _one_line_error(capsys, ["advance", *common], w, o)
    assert "--deposit" in _one_line_error(capsys, ["register", "--ticket", str(w["ticket"]), "--deposit", "5",
                                                   *common], w, o)


def test_a_dry_run_shows_the_call_and_its_cost_and_sends_nothing_then_register_is_idempotent(
        small_world: dict, capsys: pytest.CaptureFixture[str]) -> None:
    w, o = small_world, small_world["owner"]
    common = ["--rpc", w["url"], "--deployment", str(w["dep"]), "--ticket", str(w["ticket"]), "--deposit", "100",
              *o.key_args]
    with home(o.home):
        before = _nonce(w["url"], o.address)
        assert main(["register", "--dry-run", *common]) == 0
        out = capsys.readouterr().out
        assert "would send register(" in out and "gas estimate" in out and _nonce(w["url"], o.address) == before
        assert main(["register", *common]) == 0
        assert "registered as owner 0" in capsys.readouterr().out
        assert main(["register", *common]) == 0
        assert "already done" in capsys.readouterr().out and _nonce(w["url"], o.address) == before + 1


COMMANDS = {
    "status": [], "register": ["--deposit", "100"], "propose": ["--budget", "1", "--bond", "1", "--document", "DOC"],
    "commit": ["--claims", "1"], "reveal": [], "settle": ["--all"], "vote": ["--punish", "no"], "withdraw": [],
    "report": ["--model", "DOC", "--accuracy-bps", "1", "--contributions", "1"], "advance": [], "close": [],
    "finalize": [], "start-round": ["--after", "1"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_deployment_file_of_another_deployment_in_one_line(
        small_world: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    w, o = small_world, small_world["owner"]
    data = json.loads(w["dep"].read_text())
    data["code_hash"] = "0x" + "22" * 32
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    (tmp_path / "doc").write_text("a document")
    extra = [str(tmp_path / "doc") if a == "DOC" else a for a in COMMANDS[command]]
    err = _one_line_error(capsys, [command, "--rpc", w["url"], "--deployment", str(forged), *extra, *o.key_args],
                          w, o)
    assert err.startswith(f"hcfl {command}: error: --deployment:")


def test_a_commit_stored_but_never_broadcast_is_sent_by_a_rerun_and_a_changed_one_recommitted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The node's own URL (not the strict proxy) only to skip the phases' waiting time.
    from contracts.chain import connect
    from contracts.driver import Deployment
    from contracts.keys import load_key
    from contracts.secret_store import SecretStore, verify

    with start_node("anvil") as node:
        org, owner, station = (make_person(tmp_path, n) for n in ("organizer", "owner", "station"))
        fund_addresses(node.url, [org.address, owner.address, station.address], ETH)
        dep = tmp_path / "deployment.json"
        common = ["--rpc", node.url, "--deployment", str(dep)]

        def run(p: Person, *argv: str) -> str:
            assert run_as(p, *argv) == 0
            return capsys.readouterr().out

        run(org, "deploy", "--rpc", node.url, "--out", str(dep), "--phases", "100,100,100,100,100,100")
        for p, role in ((owner, "owner"), (station, "station")):
            run(org, "admit", "--deployment", str(dep), "--address", p.address, "--role", role,
                "--out", str(p.home / "ticket.json"))
            run(p, "register", *common, "--ticket", str(p.home / "ticket.json"), "--deposit", "1000")
        chain = connect(node.url)
        d = Deployment.attach(json.loads(dep.read_text())["address"], chain=chain, sender=org.address)

        def next_phase() -> None:
            chain.time_travel(100)
            run(org, "advance", *common)

        next_phase()
        (tmp_path / "doc").write_text("proposal")
        run(owner, "propose", *common, "--budget", "10", "--bond", "1", "--document", str(tmp_path / "doc"))
        next_phase()
        key = load_key(keystore=owner.home / "keystores" / owner.name, password_file=owner.home / "password")
        store = SecretStore(key, owner.home / "secrets")
        store.save(store.new_secret(d.chain_id(), d.address, d.round_id, [7]))  # then the process died
        assert d.participant(owner.address).commitment == b"\x00" * 32
        run(owner, "commit", *common)
        kept = store.load(d.chain_id(), d.address, d.round_id)
        assert kept is not None and kept.claims == [7] and verify(kept, d.participant(owner.address).commitment)
        assert "already done" in run(owner, "commit", *common)
        assert "re-committing" in run(owner, "commit", *common, "--claims", "9")
        kept = store.load(d.chain_id(), d.address, d.round_id)
        assert kept.claims == [9] and verify(kept, d.participant(owner.address).commitment)


def test_a_ticket_counts_its_expiry_from_the_chains_clock_when_given_the_node(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from contracts.nodes import JsonRpc

    with start_node("anvil") as node:
        org, owner = make_person(tmp_path, "organizer"), make_person(tmp_path, "owner")
        fund_addresses(node.url, [org.address, owner.address], ETH)
        dep = tmp_path / "deployment.json"
        assert run_as(org, "deploy", "--rpc", node.url, "--out", str(dep), "--deposit-per-weight", "10",
                      "--phases", f"{100 * 86_400},600,600,600,600,600") == 0  # a Register phase of 100 days
        with JsonRpc(node.url) as rpc:  # the chain's clock is 40 days ahead of the organizer's
            rpc.call("evm_increaseTime", [40 * 86_400])
            rpc.call("evm_mine")
            now = int(rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        admit = ["admit", "--deployment", str(dep), "--address", owner.address, "--role", "owner", "--valid-for",
                 "86400"]
        register = ["register", "--rpc", node.url, "--deployment", str(dep), "--deposit", "100", "--ticket"]
        assert run_as(org, *admit, "--out", str(tmp_path / "offline.json")) == 0
        assert run_as(owner, *register, str(tmp_path / "offline.json")) == 1
        assert "hcfl: ticket expired" in capsys.readouterr().err
        assert run_as(org, *admit, "--rpc", node.url, "--out", str(tmp_path / "online.json")) == 0
        assert json.loads((tmp_path / "online.json").read_text())["expiry"] == now + 86_400
        assert run_as(owner, *register, str(tmp_path / "online.json")) == 0


def test_a_transaction_not_mined_in_time_is_resent_at_the_same_nonce_with_a_higher_fee() -> None:
    import threading

    from contracts.chain import connect
    from contracts.driver import Deployment
    from contracts.nodes import JsonRpc

    with start_node("anvil") as node:
        chain = connect(node.url)
        d = Deployment.deploy(chain=chain, organizer=None, phase_seconds=(100,) * 6)
        who = d.new_account(ETH)
        with JsonRpc(node.url) as rpc:
            rpc.call("evm_setAutomine", [False])  # nothing is mined until the test says so
            first = chain.submit(who, "register", d.register_args("owner", None), 100)
            threading.Timer(2.0, lambda: JsonRpc(node.url).call("evm_mine")).start()
            tx = chain.wait(first, timeout=20, resend_after=0.5)
            mined = rpc.call("eth_getTransactionByHash", [tx.hash])
        assert tx.hash != first.hash and int(mined["nonce"], 16) == first.tx["nonce"]
        assert int(mined["maxFeePerGas"], 16) > first.tx["maxFeePerGas"]
        assert d.participant(who).role == 1 and chain.transaction_count(who) == first.tx["nonce"] + 1


# -- a whole round, every participant its own process ---------------------------------------------
OWNER_WEIGHTS = [1, 2, 1]
STATION_WEIGHTS = [1, 1, 3]
BUDGETS = [1000, 800]  # owner 0's and owner 1's proposals; owner 2 proposes nothing
OWNER_VALUES = [[900, 100], [600, 700], [50, 400]]  # by proposer: [owner 0's, owner 1's]
STATION_COSTS = [[200, 300], [250, 50], [10, 10]]
DEPOSIT = 10**6
BOND = 50
PHASES = (3600, 3600, 3600, 3600, 3600, 3600)
"""Seconds of Register, Propose, Commit, Reveal, Train (the report ends it early) and Vote. Long
enough that no phase can end while its commands still run, however loaded the machine: once
every participant has acted, the test (not a participant) moves the node's clock to the
deadline, so the round takes as long as its commands and never races the clock."""


T0 = [0.0]


def _wait_for_deadline(chain, d, node_url: str) -> None:  # type: ignore[no-untyped-def]
    """Let the phase's time pass: the test speaks to anvil directly (the participants' proxy
    refuses `evm_*`), jumping the clock to the deadline and mining a block there."""
    end = int(chain.call("deadline", [d.round_id]))
    print(f"  {time.monotonic() - T0[0]:5.1f} s: {d.phase()} done, {end - chain.now()} s to its deadline")
    with JsonRpc(node_url) as rpc:
        while chain.now() < end:
            rpc.call("evm_increaseTime", [max(1, end - chain.now())])
            rpc.call("evm_mine")


# ~100 s of about 60 command processes: CI keeps the agents' round across processes
# (tests/test_localnet.py) and each command's own tests here; this runs with -m slow
@pytest.mark.slow
def test_three_owners_and_three_stations_play_a_round_with_the_commands_alone(tmp_path: Path) -> None:
    from contracts.chain import connect
    from contracts.driver import Deployment
    from mechanism import settle
    from tests.strict_rpc import strict_proxy

    t0 = T0[0] = time.monotonic()
    with start_node("anvil", block_time=1) as node, strict_proxy(node.url) as url:
        org = make_person(tmp_path, "organizer")
        owners = [make_person(tmp_path, f"owner{i}") for i in range(3)]
        stations = [make_person(tmp_path, f"station{j}") for j in range(3)]
        everyone = owners + stations
        fund_addresses(url, [p.address for p in [org, *everyone]], ETH, funder=dev_accounts(1)[0])
        dep = tmp_path / "deployment.json"
        d_args = ["--rpc", url, "--deployment", str(dep)]

        ok(hcfl(org, "deploy", "--rpc", url, "--out", str(dep), "--phases", ",".join(map(str, PHASES)),
                "--deposit-per-weight", "1000", "--min-bond", "1"))
        for j, s in enumerate(stations):
            (s.home / "node.pub").write_bytes(f"flower node key of station {j}".encode())
        together([(org, ["admit", "--deployment", str(dep), "--address", p.address, "--role", role, "--weight", str(w),
                       "--out", str(p.home / "ticket.json"),
                       *(["--node-public-key", str(p.home / "node.pub")] if role == "station" else [])])
                  for p, role, w in [(o, "owner", w) for o, w in zip(owners, OWNER_WEIGHTS)]
                  + [(s, "station", w) for s, w in zip(stations, STATION_WEIGHTS)]])
        together([(p, ["register", *d_args, "--ticket", str(p.home / "ticket.json"), "--deposit", str(DEPOSIT),
                       *(["--node-public-key", str(p.home / "node.pub")] if p in stations else [])])
                  for p in everyone])
        assert "already done" in ok(hcfl(owners[0], "register", *d_args, "--ticket",
                                         str(owners[0].home / "ticket.json"), "--deposit", str(DEPOSIT)))

        watcher = connect(url)
        d = Deployment.attach(json.loads(dep.read_text())["address"], chain=watcher, sender=org.address)
        _wait_for_deadline(watcher, d, node.url)
        ok(hcfl(org, "advance", *d_args, "--from", "Register"))
        for o, budget in zip(owners, BUDGETS):
            (o.home / "proposal.json").write_text(json.dumps({"model": "cnn", "labels": [0, 1], "by": o.name}))
        together([(o, ["propose", *d_args, "--budget", str(budget), "--bond", str(BOND), "--document",
                       str(o.home / "proposal.json"), "--uri", f"file://{o.home / 'proposal.json'}",
                       "--accuracy-bps", "5000"]) for o, budget in zip(owners, BUDGETS)])

        _wait_for_deadline(watcher, d, node.url)
        ok(hcfl(stations[0], "advance", *d_args, "--from", "Propose"))
        d.load_events()
        proposer_of = [ev.args["proposer"] for ev in d.events("Proposed")]  # by proposal index
        by_proposer = {o.address: k for k, o in enumerate(owners[:2])}
        order = [by_proposer[a] for a in proposer_of]  # proposal index -> which column of the table

        def claims(row: Sequence[int]) -> str:
            return ",".join(str(row[k]) for k in order)

        rows = {p.address: r for p, r in zip(everyone, OWNER_VALUES + STATION_COSTS)}
        costs = [int(x) for x in claims(rows[stations[2].address]).split(",")]
        (stations[2].home / "claims.json").write_text(json.dumps(costs))  # one station reads its claims from a file
        *_, dry = together([(p, ["commit", *d_args, *(["--claims-file", str(p.home / "claims.json")]
                                                      if p is stations[2] else ["--claims", claims(rows[p.address])])])
                            for p in everyone] + [(owners[1], ["commit", *d_args, "--dry-run", "--claims", "1,2"])])
        assert "would send commit(round=1, commitment=(sealed))" in dry.stdout and "1,2" not in dry.stdout

        _wait_for_deadline(watcher, d, node.url)
        ok(hcfl(owners[2], "advance", *d_args, "--from", "Commit"))
        *_, again = together([(p, ["reveal", *d_args]) for p in everyone]
                             + [(owners[0], ["commit", *d_args, "--claims", claims(rows[owners[0].address])])])
        assert "already done" in again.stdout
        _wait_for_deadline(watcher, d, node.url)
        ok(hcfl(stations[1], "close", *d_args))
        ok(hcfl(stations[0], "settle", *d_args, "--all"))
        assert "already done" in ok(hcfl(owners[0], "settle", *d_args))

        d.load_events()
        index = {ev.args["participant"]: int(ev.args["index"]) for ev in d.events("Registered")}
        o_sorted = sorted(owners, key=lambda p: index[p.address])
        s_sorted = sorted(stations, key=lambda p: index[p.address])
        weight = {p.address: w for p, w in zip(everyone, OWNER_WEIGHTS + STATION_WEIGHTS)}
        ref = settle([BUDGETS[k] for k in order], [weight[p.address] for p in o_sorted],
                     [weight[p.address] for p in s_sorted],
                     [[rows[p.address][k] for k in order] for p in o_sorted],
                     [[rows[p.address][k] for k in order] for p in s_sorted])
        assert d.winner() == ref.winner
        winner = next(o for o in owners if o.address == proposer_of[ref.winner])
        (winner.home / "model.bin").write_bytes(b"a trained model")
        ok(hcfl(winner, "report", *d_args, "--model", str(winner.home / "model.bin"), "--uri", "file://model.bin",
                "--accuracy-bps", "9000", "--contributions", "1,1,1"))
        together([(o, ["vote", *d_args, "--punish", "no"]) for o in owners if o is not winner])
        assert "next: hcfl withdraw" in ok(hcfl(owners[2], "status", *d_args))
        _wait_for_deadline(watcher, d, node.url)
        ok(hcfl(org, "finalize", *d_args))
        together([(p, ["withdraw", *d_args]) for p in everyone])
        *_, again = together([(o, ["withdraw", *d_args, "--bond"]) for o in owners[:2]]
                             + [(stations[0], ["withdraw", *d_args])])
        assert "already done" in again.stdout

        d.load_events()
        paid = {ev.args["participant"]: int(ev.args["amount"]) for ev in d.events("Withdrawn")}
        bonds = {ev.args["proposer"]: int(ev.args["amount"]) for ev in d.events("BondWithdrawn")}
        expected = {p.address: DEPOSIT - ref.owner_pays[i] for i, p in enumerate(o_sorted)}
        expected |= {p.address: DEPOSIT + ref.station_receives[j] for j, p in enumerate(s_sorted)}
        assert paid == expected
        assert bonds == {o.address: BOND for o in owners[:2]}
        audit = subprocess.run([sys.executable, "-m", "hcfl_cli.main", "audit", "--rpc", url, "--address", d.address],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        # the next round: whoever comes first opens it, the second is told it is open
        assert "start_round: mined" in ok(hcfl(owners[0], "start-round", *d_args))
        assert "already done: round 2 is open" in ok(hcfl(owners[1], "start-round", *d_args, "--after", "1"))
        assert d.views.current_round() == 2 and d.views.phase(2) == "Register"
    print(f"round played by 7 processes in {time.monotonic() - t0:.1f} s")
