"""Revoking an admission (SPEC section 5 step 0): the organizer revokes an address, which
then registers in no round, with any ticket; one already registered in the current round
keeps every right there. On titanoboa, and ``hcfl admit --revoke`` on anvil."""

from __future__ import annotations

import json
from pathlib import Path

import boa
import pytest

from contracts.chain import Reverted
from contracts.driver import Deployment
from tests.contract_helpers import deploy, ledger


def _registered_round() -> tuple[Deployment, str, str, str]:
    """A deployment with an organizer: an owner and a station registered in round 1, and a
    second station holding a ticket for every round that has not registered yet."""
    d = deploy(deposit_per_weight=100)
    owner, station, late = d.new_accounts([10**20] * 3)
    d.register(owner, "owner", weight=1, deposit=1000)
    d.register(station, "station", weight=1, deposit=1000)
    return d, owner, station, late


def test_a_revoked_participant_cannot_register_in_this_round_or_any_later_one():
    d, owner, station, late = _registered_round()
    ticket = d.ticket(late, "station")  # round 0: every round until its expiry
    tx = d.revoke(late)
    assert tx.first("Revoked").participant == late and tx.first("Revoked").round_id == 1
    assert d.revoked(late) and not d.revoked(station)
    with boa.reverts("hcfl: admission revoked"):
        d.register(late, "station", deposit=1000, ticket=ticket)
    # a fresh ticket does not help either
    with boa.reverts("hcfl: admission revoked"):
        d.register(late, "station", deposit=1000)
    assert d.participant(late).role == 0


def test_a_participant_registered_when_revoked_keeps_its_rights_in_the_current_round_only():
    d, owner, station, _ = _registered_round()
    d.revoke(station)
    d.next_phase()
    d.propose(owner, budget=100, bond=1)
    d.next_phase()
    d.commit(owner, [300])
    d.commit(station, [20])
    d.next_phase()
    d.reveal(owner)
    d.reveal(station)
    d.close()
    assert d.winner() == 0
    settled = d.settle(station)
    assert settled.share == 100 and d.withdraw(station) == settled.payout == 1000 + 100 - settled.tax
    d.settle(owner)
    d.report_training(b"\x01" * 32, 9000, [1])
    d.next_phase()
    assert d.phase() == "Finalized" and ledger(d).balanced
    d.start_round()
    ticket = d.ticket(station, "station")
    with boa.reverts("hcfl: admission revoked"):
        d.register(station, "station", deposit=1000, ticket=ticket)
    assert d.register(owner, "owner", weight=1, deposit=1000) == 0  # the others register as before


def test_only_the_organizer_revokes_and_only_once():
    d, owner, station, late = _registered_round()
    with boa.reverts("hcfl: only the organizer"):
        d.transact(owner, "revoke", [late])
    d.revoke(late)
    with boa.reverts("hcfl: admission already revoked"):
        d.revoke(late)
    open_deployment = deploy(organizer=None)
    someone = open_deployment.new_account(10**18)
    # an open deployment has no organizer: nobody can revoke, not even the zero address's caller
    with boa.reverts("hcfl: only the organizer"):
        open_deployment.transact(someone, "revoke", [someone])
    with pytest.raises(ValueError, match="organizer"):
        open_deployment.revoke(someone)


# -- hcfl admit --revoke on anvil ---------------------------------------------------------------
@pytest.mark.anvil
def test_hcfl_admit_revoke_revokes_once_and_the_revoked_cannot_register(tmp_path: Path, capsys):
    from contracts.nodes import dev_accounts, fund_addresses, start_node
    from tests.test_participant_cli import ETH, make_person, run_as

    with start_node("anvil") as node:
        url = node.url
        org, station, other = (make_person(tmp_path, n) for n in ("organizer", "station", "other"))
        fund_addresses(url, [org.address, station.address, other.address], ETH, funder=dev_accounts(1)[0])
        dep = tmp_path / "deployment.json"
        assert run_as(org, "deploy", "--rpc", url, "--out", str(dep), "--phases", "600,600,600,600,600,600") == 0
        assert run_as(org, "admit", "--deployment", str(dep), "--address", station.address, "--role", "station",
                      "--out", str(tmp_path / "ticket.json")) == 0
        capsys.readouterr()
        # the deployment file names both contracts, and a command checks each one's code
        written = json.loads(dep.read_text())
        contracts = written["contracts"]
        assert set(contracts) == {"HCFL", "HCFLTraining"} and contracts["HCFL"]["address"] == written["address"]
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps({**written, "contracts": {**contracts, "HCFLTraining": {
            **contracts["HCFLTraining"], "code_hash": "0x" + "11" * 32}}}))
        assert run_as(org, "admit", "--revoke", "--rpc", url, "--deployment", str(forged), "--address",
                      station.address) == 2
        assert "not the file's" in capsys.readouterr().err
        revoke = ["admit", "--revoke", "--rpc", url, "--deployment", str(dep), "--address", station.address]
        assert run_as(other, *revoke) == 2  # not the organizer: refused before anything is sent
        assert "--account: " in capsys.readouterr().err  # ... is not the deployment's organizer
        assert run_as(org, *revoke) == 0
        assert "revoke: mined" in capsys.readouterr().out
        assert run_as(org, *revoke) == 0
        assert f"already done: the admission of {station.address} is revoked" in capsys.readouterr().out
        assert run_as(station, "register", "--rpc", url, "--deployment", str(dep), "--ticket",
                      str(tmp_path / "ticket.json"), "--deposit", "1000") == 1
        assert "hcfl: admission revoked" in "".join(capsys.readouterr())
        d = Deployment.attach(written["address"], url, sender=org.address)
        assert d.revoked(station.address) and [e.name for e in d.chain_events()].count("Revoked") == 1
        with pytest.raises(Reverted, match="admission already revoked"):
            d.chain.estimate(org.address, "revoke", [station.address])
