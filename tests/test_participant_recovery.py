"""A command finds what an earlier run of it left in flight before it decides anything: the
outbox recovery, checked in seconds (the restart tests kill real processes; this one fails
fast, not through a receipt timeout, when a command skips its recovery)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from contracts.nodes import JsonRpc, fund_addresses, start_node
from tests.test_participant_cli import ETH, home, make_person, run_as

pytestmark = pytest.mark.anvil  # every test here talks to a node


def test_a_command_waits_for_the_transaction_an_earlier_run_left_in_flight_and_sends_nothing_twice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from contracts.keys import KeyOptions
    from contracts.tickets import Ticket
    from hcfl_cli.participant import Session

    with start_node("anvil") as node:
        org, owner = make_person(tmp_path, "org"), make_person(tmp_path, "owner")
        fund_addresses(node.url, [org.address, owner.address], ETH)
        dep, ticket = tmp_path / "d.json", tmp_path / "ticket.json"
        assert run_as(org, "deploy", "--rpc", node.url, "--out", str(dep), "--deposit-per-weight", "10") == 0
        assert run_as(org, "admit", "--deployment", str(dep), "--address", owner.address, "--role", "owner",
                      "--out", str(ticket)) == 0
        register = ["register", "--rpc", node.url, "--deployment", str(dep), "--ticket", str(ticket),
                    "--deposit", "100"]
        keys = KeyOptions(keystore=owner.home / "keystores" / owner.name, password_file=owner.home / "password")
        stop = threading.Event()

        def mine() -> None:  # the chain moves on by itself, a block every half second
            with JsonRpc(node.url) as rpc:
                while not stop.wait(0.5):
                    rpc.call("evm_mine")

        with JsonRpc(node.url) as rpc:
            rpc.call("evm_setAutomine", [False])
            try:
                with home(owner.home):  # an earlier run signed and broadcast its register, then died
                    s = Session(node.url, dep, keys)
                    t = Ticket.from_json(json.loads(ticket.read_text()))
                    s.chain.submit(s.address, "register", s.d.register_args("owner", t), 100)
                    assert len(s.outbox.in_flight()) == 1
                threading.Thread(target=mine, daemon=True).start()
                capsys.readouterr()
                code = run_as(owner, *register)
                out, err = capsys.readouterr()
            finally:
                stop.set()
                rpc.call("evm_setAutomine", [True])
            nonce = int(rpc.call("eth_getTransactionCount", [owner.address, "latest"]), 16)
    assert code == 0, out + err
    assert "register sent by an earlier run (nonce 0) was still pending: now mined" in out, out
    assert "already done: registered as owner 0" in out and nonce == 1
    assert not list((owner.home / "outbox").iterdir())
