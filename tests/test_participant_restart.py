"""A participant's command killed between its broadcast and its receipt, restarted with the
same command line, loses nothing and sends nothing twice; a lost secret file is rebuilt from
the key; a stuck transaction is replaced at the same nonce. Everything the participant does
goes through the strict proxy (a node that behaves like a public provider); only the test,
playing the network, controls mining and time on the node behind it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from contracts.nodes import JsonRpc, fund_addresses, start_node
from hcfl_cli.main import main
from tests.test_participant_cli import ROOT, Person, home, make_person, run_as

DEPOSIT = 1000
BUDGET = 10
OWNER_VALUE = 30
STATION_COST = 5
PHASE = 100
"""Seconds of every phase; the test moves the node's clock past each deadline."""


pytestmark = pytest.mark.anvil  # every participant here talks to a node


@dataclass
class Watch:
    """The proxy's view of the participant's calls; ``arm(proc)`` makes the next raw
    transaction that reaches the node SIGKILL ``proc`` before the answer goes back."""

    methods: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # hashes of the accepted raw transactions
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # each one's fields, by hash
    victim: subprocess.Popen[str] | None = None
    killed: threading.Event = field(default_factory=threading.Event)

    def on_call(self, call: dict[str, Any], answer: dict[str, Any]) -> None:
        method = call.get("method", "")
        self.methods.append(method)
        if method == "eth_sendRawTransaction" and "result" in answer:
            from eth_account.typed_transactions import TypedTransaction
            from hexbytes import HexBytes

            self.raw.append(answer["result"])
            self.sent[answer["result"]] = TypedTransaction.from_bytes(HexBytes(call["params"][0])).as_dict()
            if self.victim is not None:
                os.kill(self.victim.pid, signal.SIGKILL)
                self.victim.wait()
                self.victim = None
                self.killed.set()

    def arm(self, proc: subprocess.Popen[str]) -> None:
        self.killed.clear()
        self.victim = proc

    def wait_for(self, since: int, *methods: str, count: int = 1, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while sum(m in methods for m in self.methods[since:]) < count:
            assert time.monotonic() < end, f"no {methods} from the participant within {timeout} s"
            time.sleep(0.05)


@dataclass
class World:
    node: str  # the node itself: the test's mining and clock
    url: str  # the strict proxy: all the participants see
    watch: Watch
    dep: Path
    owner: Person
    station: Person
    org: Person

    def rpc(self, method: str, *params: Any) -> Any:
        with JsonRpc(self.node) as rpc:
            return rpc.call(method, list(params))

    def next_phase(self) -> None:
        self.rpc("evm_increaseTime", PHASE + 1)
        self.rpc("evm_mine")
        run(self.org, "advance", *self.common)

    def mining(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def nonce(self, who: Person, block: str = "latest") -> int:
        return int(self.rpc("eth_getTransactionCount", who.address, block), 16)

    @property
    def common(self) -> list[str]:
        return ["--rpc", self.url, "--deployment", str(self.dep)]

    def me(self, who: Person) -> Any:
        from contracts.driver import Deployment

        d = Deployment.attach(json.loads(self.dep.read_text())["address"], self.node)
        return d, d.participant(who.address)


def run(p: Person, *argv: str) -> None:
    """One command in this process (the setup's steps: fast)."""
    assert run_as(p, *argv) == 0


def start(p: Person, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The participant's command in its own process, as it runs it on its machine."""
    return subprocess.Popen([sys.executable, "-m", "hcfl_cli.main", *argv, *p.key_args], env={**p.env, **(env or {})},
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    return out


@contextlib.contextmanager
def commit_phase(tmp: Path) -> Iterator[World]:
    """anvil (a block per transaction) behind the strict proxy; an owner with one proposal
    and a station, both admitted and registered; the round in its Commit phase."""
    from tests.strict_rpc import strict_proxy

    watch = Watch()
    with start_node("anvil") as node, strict_proxy(node.url, watch.on_call) as url:
        org, owner, station = (make_person(tmp, n) for n in ("organizer", "owner", "station"))
        fund_addresses(node.url, [org.address, owner.address, station.address], 10**18)
        dep = tmp / "deployment.json"
        w = World(node.url, url, watch, dep, owner, station, org)
        run(org, "deploy", "--rpc", url, "--out", str(dep), "--phases", ",".join([str(PHASE)] * 6),
            "--deposit-per-weight", "10")
        for p, role in ((owner, "owner"), (station, "station")):
            run(org, "admit", "--deployment", str(dep), "--address", p.address, "--role", role,
                "--out", str(p.home / "ticket.json"))
            run(p, "register", *w.common, "--ticket", str(p.home / "ticket.json"), "--deposit", str(DEPOSIT))
        w.next_phase()
        (tmp / "doc").write_text("a proposal")
        run(owner, "propose", *w.common, "--budget", str(BUDGET), "--bond", "1", "--document", str(tmp / "doc"))
        w.next_phase()
        yield w


def kill_after_broadcast(w: World, p: Person, *argv: str) -> str:
    """Run the command with mining off and SIGKILL it as soon as the node accepted its
    transaction; the transaction's hash (still pending)."""
    w.mining(False)
    before = len(w.watch.raw)
    proc = start(p, *argv)
    w.watch.arm(proc)
    assert w.watch.killed.wait(60), proc.communicate()
    assert proc.returncode == -signal.SIGKILL and len(w.watch.raw) == before + 1
    assert w.nonce(p, "pending") == w.nonce(p) + 1  # broadcast, not mined
    return w.watch.raw[-1]


def restart_then_mine(w: World, p: Person, *argv: str, env: dict[str, str] | None = None,
                      raw_first: int = 0) -> str:
    """Run the same command again; once it is waiting on the node (or has sent ``raw_first``
    transactions), mine a block; its output."""
    mark, raw_mark = len(w.watch.methods), len(w.watch.raw)
    proc = start(p, *argv, env=env)
    if raw_first:
        w.watch.wait_for(mark, "eth_sendRawTransaction", count=raw_first)
    else:  # it polls for a receipt, or (the fault this guards against) sends a second transaction
        w.watch.wait_for(mark, "eth_getTransactionReceipt", "eth_sendRawTransaction")
    w.rpc("evm_mine")
    out = finish(proc)
    w.mining(True)
    assert len(w.watch.raw) == raw_mark + raw_first, f"sent again: {out}"
    return out


def test_a_participant_killed_after_broadcasting_its_commit_and_its_reveal_restarts_and_loses_nothing(
        tmp_path: Path) -> None:
    from contracts.keys import load_key
    from contracts.secret_store import SecretStore, verify
    from mechanism import settle

    with commit_phase(tmp_path) as w:
        o, s = w.owner, w.station
        commit = ["commit", *w.common, "--claims", str(OWNER_VALUE)]
        first = kill_after_broadcast(w, o, *commit)
        d, me = w.me(o)
        assert me.commitment == b"\x00" * 32
        store = SecretStore(load_key(keystore=o.home / "keystores" / o.name, password_file=o.home / "password"),
                            o.home / "secrets")
        kept = store.load(d.chain_id(), d.address, d.round_id)
        assert kept is not None and kept.claims == [OWNER_VALUE]  # stored before the broadcast
        nonce = w.nonce(o)
        out = restart_then_mine(w, o, *commit)
        assert "was still pending: now mined" in out and "already done" in out, out
        _, me = w.me(o)
        assert verify(kept, me.commitment) and w.nonce(o) == nonce + 1
        assert w.rpc("eth_getTransactionReceipt", first)["status"] == "0x1"  # the first send is the one mined
        run(s, "commit", *w.common, "--claims", str(STATION_COST))

        w.next_phase()
        kill_after_broadcast(w, o, "reveal", *w.common)
        nonce = w.nonce(o)
        out = restart_then_mine(w, o, "reveal", *w.common)
        assert "already done: revealed" in out, out
        run(s, "reveal", *w.common)
        d, me = w.me(o)
        assert me.revealed and w.nonce(o) == nonce + 1
        d.load_events()
        assert [ev.args["claims"] for ev in d.events("Revealed") if ev.args["participant"] == o.address] == [
            [OWNER_VALUE]]

        w.rpc("evm_increaseTime", PHASE + 1)
        w.rpc("evm_mine")
        run(s, "close", *w.common)
        for p in (o, s):
            run(p, "withdraw", *w.common)
        d, _ = w.me(o)
        d.load_events()
        paid = {ev.args["participant"]: int(ev.args["amount"]) for ev in d.events("Withdrawn")}
        ref = settle(budgets=[BUDGET], owner_weights=[1], station_weights=[1], owner_values=[[OWNER_VALUE]],
                     station_costs=[[STATION_COST]])
        assert ref.winner == 0
        assert paid == {o.address: DEPOSIT - ref.owner_pays[0], s.address: DEPOSIT + ref.station_receives[0]}


def test_a_deploy_killed_after_its_broadcast_restarts_and_never_deploys_a_second_contract(tmp_path: Path) -> None:
    from tests.strict_rpc import strict_proxy

    watch = Watch()
    with start_node("anvil") as node, strict_proxy(node.url, watch.on_call) as url:
        org = make_person(tmp_path, "organizer")
        fund_addresses(node.url, [org.address], 10**18)
        w = World(node.url, url, watch, tmp_path / "deployment.json", org, org, org)

        def deploy(out: str, *extra: str) -> list[str]:
            return ["deploy", "--rpc", url, "--out", str(tmp_path / out), "--phases", ",".join([str(PHASE)] * 6),
                    "--deposit-per-weight", "10", *extra]

        def created(tx: str) -> str:
            return str(w.rpc("eth_getTransactionReceipt", tx)["contractAddress"]).lower()

        def written(out: str) -> str:
            return str(json.loads((tmp_path / out).read_text())["address"]).lower()

        # killed while its deployment is pending: the restart waits for that one
        first = kill_after_broadcast(w, org, *deploy("a.json"))
        assert not (tmp_path / "a.json").exists()
        out = restart_then_mine(w, org, *deploy("a.json"))
        assert "no second one was deployed" in out, out
        assert written("a.json") == created(first) and w.nonce(org) == 1

        # killed, then mined while no one watched: the restart finds it all the same
        second = kill_after_broadcast(w, org, *deploy("b.json"))
        w.rpc("evm_mine")
        out = finish(start(org, *deploy("b.json")))
        w.mining(True)
        assert "no second one was deployed" in out, out
        assert written("b.json") == created(second) and w.nonce(org) == 2

        # restarted with other options: refused in one line, nothing sent; run again, a new contract
        third = kill_after_broadcast(w, org, *deploy("c.json"))
        w.rpc("evm_mine")
        proc = start(org, *deploy("c.json", "--min-bond", "7"))
        _, err = proc.communicate(timeout=120)
        w.mining(True)
        assert proc.returncode != 0 and "with other options; nothing was sent" in err, err
        assert not (tmp_path / "c.json").exists() and w.nonce(org) == 3
        finish(start(org, *deploy("c.json", "--min-bond", "7")))
        assert w.nonce(org) == 4 and written("c.json") not in (created(first), created(second), created(third))


def test_a_restarted_command_with_no_record_of_its_pending_transaction_waits_for_it_and_sends_nothing(
        tmp_path: Path) -> None:
    from contracts.keys import load_key
    from contracts.secret_store import SecretStore, verify

    with commit_phase(tmp_path) as w:
        s = w.station
        commit = ["commit", *w.common, "--claims", str(STATION_COST)]
        kill_after_broadcast(w, s, *commit)
        for folder in ("outbox", "secrets"):  # its disk is lost, its key is not
            for f in (s.home / folder).iterdir():
                f.unlink()
        nonce = w.nonce(s)
        mark = len(w.watch.methods)
        proc = start(s, *commit)
        # the nonce read for signing, the latest and pending ones, then the wait's first poll
        w.watch.wait_for(mark, "eth_getTransactionCount", count=4)
        w.rpc("evm_mine")
        out = finish(proc)
        w.mining(True)
        assert "sent by another program" in out and "already done: committed with these claims" in out, out
        d, me = w.me(s)
        store = SecretStore(load_key(keystore=s.home / "keystores" / s.name, password_file=s.home / "password"),
                            s.home / "secrets")
        kept = store.load(d.chain_id(), d.address, d.round_id)  # stored again, from the key and the claims
        assert w.nonce(s) == nonce + 1 and kept is not None and verify(kept, me.commitment)


def test_a_participant_whose_secret_file_is_deleted_recovers_its_salt_from_its_key_and_reveals(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with commit_phase(tmp_path) as w:
        o, s = w.owner, w.station
        run(o, "commit", *w.common, "--claims", str(OWNER_VALUE))
        run(s, "commit", *w.common, "--claims", str(STATION_COST))
        lost = list((s.home / "secrets").iterdir())
        assert lost
        for f in lost:
            f.unlink()  # the station's disk is gone; its key is not
        w.next_phase()
        capsys.readouterr()

        def refused(*argv: str) -> str:
            code = run_as(s, *argv)
            err = capsys.readouterr().err.strip()
            assert code == 2 and len(err.splitlines()) == 1, err
            return err

        nonce = w.nonce(s)
        assert "give --claims" in refused("reveal", *w.common)
        wrong = refused("reveal", *w.common, "--claims", str(STATION_COST + 1))
        assert wrong.startswith("hcfl reveal: error: --claims:") and "do not open the commitment" in wrong, wrong
        assert w.nonce(s) == nonce  # nothing sent
        run(s, "reveal", *w.common, "--claims", str(STATION_COST))
        run(o, "reveal", *w.common)
        d, me = w.me(s)
        assert me.revealed and [p.name for p in (s.home / "secrets").iterdir()] == [lost[0].name]
        d.load_events()
        assert [ev.args["claims"] for ev in d.events("Revealed") if ev.args["participant"] == s.address] == [
            [STATION_COST]]


def _tx(w: World, h: str) -> tuple[int, int, bool]:
    """Nonce, fee cap and whether it was mined, of the sent transaction ``h`` (a replaced one
    is gone from the node: its fields are the proxy's record of what was sent)."""
    tx = w.watch.sent[h]
    return int(tx["nonce"]), int(tx["maxFeePerGas"]), w.rpc("eth_getTransactionReceipt", h) is not None


def test_a_stuck_transaction_is_replaced_at_the_same_nonce_by_the_command_and_by_its_restart(
        tmp_path: Path) -> None:
    fast = {"HCFL_RESEND_AFTER": "1"}
    with commit_phase(tmp_path) as w:
        o, s = w.owner, w.station
        nonce, mark = w.nonce(o), len(w.watch.raw)
        w.mining(False)  # the commit is not mined: the command resends it
        proc = start(o, "commit", *w.common, "--claims", str(OWNER_VALUE), env=fast)
        w.watch.wait_for(0, "eth_sendRawTransaction", count=mark + 2)
        w.rpc("evm_mine")
        finish(proc)
        w.mining(True)
        first, *later = w.watch.raw[mark:]
        first_nonce, first_fee, first_mined = _tx(w, first)
        mined = [h for h in later if _tx(w, h)[2]]
        assert first_nonce == nonce and not first_mined and len(mined) == 1
        mined_nonce, mined_fee, _ = _tx(w, mined[0])
        assert mined_nonce == nonce and mined_fee > first_fee
        assert w.nonce(o) == nonce + 1 and w.me(o)[1].commitment != b"\x00" * 32
        run(s, "commit", *w.common, "--claims", str(STATION_COST))

        w.next_phase()
        killed = kill_after_broadcast(w, o, "reveal", *w.common)
        nonce = w.nonce(o)
        out = restart_then_mine(w, o, "reveal", *w.common, env=fast, raw_first=1)
        replacement = w.watch.raw[-1]
        assert "was still pending: now mined" in out and "already done: revealed" in out, out
        (killed_nonce, killed_fee, killed_mined), (new_nonce, new_fee, new_mined) = _tx(w, killed), _tx(w, replacement)
        assert killed_nonce == new_nonce == nonce and new_fee > killed_fee and new_mined and not killed_mined
        assert w.nonce(o) == nonce + 1
        assert not list((o.home / "outbox").iterdir())  # nothing left in flight


def test_a_report_dry_run_shows_every_chunk_with_its_cost_and_a_report_stopped_midway_is_finished(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from contracts.auction import RoundPlan, run_auction
    from contracts.constants import REPORT_CHUNK
    from contracts.driver import report_chunks
    from tests.strict_rpc import strict_proxy

    n = REPORT_CHUNK + 3  # a report of two chunks
    plan = RoundPlan.from_profile(budgets=[100], owner_weights=[1], station_weights=[1] * n,
                                  owner_values=[[10**6]], station_costs=[[1]] * n)
    with start_node("anvil") as node, strict_proxy(node.url) as url:
        d = plan.deploy(node.url, phase_seconds=(PHASE,) * 6)
        auction = run_auction(d, plan)
        winner = auction.owners[0]
        dep = tmp_path / "deployment.json"
        code = d.chain.code_hash(d.address)
        dep.write_text(json.dumps({"chain_id": d.chain_id(), "address": d.address, "block": 0, "transaction": "",
                                   "code_hash": "0x" + code.hex()}))
        (tmp_path / "model.bin").write_bytes(b"a trained model")
        contributions = list(range(1, n + 1))
        argv = ["report", "--rpc", url, "--deployment", str(dep), "--model", str(tmp_path / "model.bin"),
                "--accuracy-bps", "9000", "--contributions", ",".join(map(str, contributions)),
                "--private-key", "0x" + bytes(d.chain.keys[winner].key).hex()]
        with home(tmp_path / "home"):
            nonce = d.chain.transaction_count(winner)
            assert main([*argv, "--dry-run"]) == 0
            plans = [line for line in capsys.readouterr().out.splitlines() if "would send" in line]
            assert [line.split("(")[0].split()[-1] for line in plans] == ["report_training", "report_contributions"]
            assert all("wei in fees" in line for line in plans) and "simulated" in plans[1]
            assert d.chain.transaction_count(winner) == nonce  # nothing sent
            with strict_proxy(node.url, refuse=frozenset({"eth_simulateV1"})) as plain:
                assert main([*argv, "--dry-run", "--rpc", plain]) == 0
            unsimulated = [line for line in capsys.readouterr().out.splitlines() if "would send" in line]
            assert "report_contributions" in unsimulated[1] and "once the one before is mined" in unsimulated[1]

            first, rest = report_chunks(contributions)  # an earlier run sent the first chunk, then died
            d.chain.transact(winner, "report_training", [d.round_id, hashlib.sha256(b"a trained model").digest(), "",
                                                         9000, first])
            assert main(argv) == 0
            out = capsys.readouterr().out
            assert f"already done: report_training and {REPORT_CHUNK} contributions" in out
            assert "report_contributions: mined" in out and "report_training: mined" not in out
            simulated = int(re.search(r"gas estimate (\d+)", plans[1]).group(1))
            assert int(re.search(r"report_contributions: mined, gas (\d+)", out).group(1)) == simulated
            assert d.phase() == "Vote" and bool(d.chain.call("reported", [d.round_id]))
