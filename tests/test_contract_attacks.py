"""The attacks of the contract's version-2 review, each refused with its reason: forged,
misdirected, expired or reused tickets, self-declared weights, the 1-wei owner, slot
squatting, Sybil registrations, a station whose node key is not its ticket's."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import boa
import pytest
from eth_account import Account

from contracts.constants import ROLES
from contracts.tickets import Ticket, node_key_hash
from tests.contract_helpers import deploy, ledger

DPW = 100
NODE_KEY = b"\x04" + hashlib.sha256(b"station node key").digest() * 3  # stands in for a P-384 key


@pytest.fixture
def d():
    with boa.env.anchor():
        yield deploy(deposit_per_weight=DPW, max_proposals=2)


def _register(d, who, ticket, deposit, node_public_key=b""):
    """``register`` as a participant sends it, with exactly the ticket it holds."""
    args = [d.round_id, ROLES[ticket.role], *ticket.register_args(), node_public_key]
    return d.transact(who, "register", args, deposit)


def test_a_ticket_signed_by_anyone_but_the_organizer_is_refused(d):
    a = d.new_account()
    forged = dataclasses.replace(d.ticket(a, "owner", weight=5), signature=b"").signed_by(os.urandom(32))
    with boa.reverts("hcfl: ticket not signed by the organizer"):
        _register(d, a, forged, 5 * DPW)


@pytest.mark.parametrize("field, value", [
    ("contract", "0x000000000000000000000000000000000000dEaD"),
    ("chain_id", 5),
    ("round", 7),
])
def test_a_ticket_for_another_contract_chain_or_round_is_refused(d, field, value):
    a = d.new_account()
    good = d.ticket(a, "owner")
    other = dataclasses.replace(good, **{field: value, "signature": b""}).signed_by(d.organizer_key)
    reason = "hcfl: ticket for another round" if field == "round" else "hcfl: ticket not signed by the organizer"
    with boa.reverts(reason):
        _register(d, a, other, DPW)


def test_a_ticket_for_another_address_or_role_is_refused(d):
    a, b = d.new_account(), d.new_account()
    ticket = d.ticket(a, "owner", weight=3)
    with boa.reverts("hcfl: ticket not signed by the organizer"):
        _register(d, b, ticket, 3 * DPW)  # b shows a's ticket
    as_station = dataclasses.replace(ticket, role="station", max_proposals=2)
    with boa.reverts("hcfl: ticket not signed by the organizer"):
        _register(d, a, as_station, 3 * DPW)


def test_an_expired_ticket_is_refused(d):
    a = d.new_account()
    ticket = d.ticket(a, "owner", expiry=d.chain.now() - 1)
    with boa.reverts("hcfl: ticket expired"):
        _register(d, a, ticket, DPW)


def test_a_weight_other_than_the_tickets_is_refused(d):
    a = d.new_account()
    ticket = d.ticket(a, "station", weight=1, max_proposals=0)
    inflated = dataclasses.replace(ticket, weight=2**96 - 1)  # the organizer's signature, a new weight
    with boa.reverts("hcfl: ticket not signed by the organizer"):
        _register(d, a, inflated, 1)
    _register(d, a, ticket, 1)
    assert d.participant(a).weight == 1
    assert ledger(d).balanced


def test_a_ticket_cannot_register_twice(d):
    a = d.new_account()
    ticket = d.ticket(a, "owner")
    _register(d, a, ticket, DPW)
    with boa.reverts("hcfl: already registered"):
        _register(d, a, ticket, DPW)


def test_a_malleable_twin_of_a_valid_signature_is_refused(d):
    a = d.new_account()
    ticket = d.ticket(a, "owner")
    r, s, v = ticket.signature[:32], int.from_bytes(ticket.signature[32:64], "big"), ticket.signature[64]
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    twin = dataclasses.replace(ticket, signature=r + (n - s).to_bytes(32, "big") + bytes([55 - v]))
    with boa.reverts("ecdsa: invalid signature `s` value"):
        _register(d, a, twin, DPW)


def test_sybil_owners_without_tickets_cannot_register(d):
    sybil = d.new_account()
    args = [d.round_id, ROLES["owner"], 1, 2, b"\x00" * 32, 2**40, 0, b"", b""]
    with boa.reverts("hcfl: ticket signature must be 65 bytes"):
        d.chain.transact(sybil, "register", args, DPW)
    assert d.participant(sybil).role == 0


def test_a_one_wei_owner_is_refused_and_cannot_cap_the_budgets(d):
    honest, tiny, station = d.new_account(), d.new_account(), d.new_account()
    with boa.reverts("hcfl: owner deposit under weight times deposit per weight"):
        d.register(tiny, "owner", weight=1, deposit=1)
    d.register(honest, "owner", weight=2, deposit=2 * DPW)
    d.register(tiny, "owner", weight=1, deposit=DPW)  # the least it may deposit
    d.register(station, "station", weight=1, deposit=1)
    d.next_phase()
    # W * d = 3 * 100: the budget cap is the deployment's, whatever the others deposited
    assert d.propose(honest, budget=3 * DPW, bond=1) == 0
    with boa.reverts("hcfl: budget over W times deposit per weight"):
        d.propose(honest, budget=3 * DPW + 1, bond=1)
    assert ledger(d).balanced


def test_a_squatter_cannot_take_every_proposal_slot(d):
    squatter, honest, station = d.new_account(), d.new_account(), d.new_account()
    d.register(squatter, "owner", weight=1, deposit=DPW, max_proposals=2)
    d.register(honest, "owner", weight=1, deposit=DPW)
    d.register(station, "station", weight=1, deposit=1)
    d.next_phase()
    d.propose(squatter, budget=0, bond=1)
    d.propose(squatter, budget=0, bond=1)
    with boa.reverts("hcfl: proposal allowance used up"):
        d.propose(squatter, budget=0, bond=1)
    assert d.propose(honest, budget=50, bond=1) == 2
    assert ledger(d).balanced


def test_a_station_whose_node_key_is_not_its_tickets_is_refused(d):
    s = d.new_account()
    ticket = d.ticket(s, "station", max_proposals=0, node_public_key=NODE_KEY)
    with boa.reverts("hcfl: node key does not match the ticket"):
        _register(d, s, ticket, 1, node_public_key=NODE_KEY[:-1] + b"\x00")
    tx = _register(d, s, ticket, 1, node_public_key=NODE_KEY)
    reg = tx.first("Registered")
    assert reg.node_public_key == NODE_KEY and reg.node_key == node_key_hash(NODE_KEY)


def test_an_owner_ticket_carries_no_node_key(d):
    a = d.new_account()
    with pytest.raises(ValueError, match="node_key"):
        dataclasses.replace(d.ticket(a, "owner"), node_key=node_key_hash(NODE_KEY))


def test_an_open_deployment_admits_everyone_with_weight_one_and_no_ticket():
    with boa.env.anchor():
        d = deploy(organizer=None, deposit_per_weight=DPW)
        assert d.organizer() is None
        a, s = d.new_account(), d.new_account()
        d.register(a, "owner", deposit=DPW)
        d.register(s, "station", deposit=1, node_public_key=NODE_KEY)
        assert d.participant(a).weight == 1 and d.participant(a).role == 1
        assert d.events("Registered")[-1].record.node_key == node_key_hash(NODE_KEY)
        with boa.reverts("hcfl: an open deployment admits with weight 1"):
            d.chain.transact(d.new_account(), "register", [1, 1, 5, 0, b"\x00" * 32, 0, 0, b"", b""], DPW)
        assert ledger(d).balanced


def test_the_tickets_typed_data_is_what_any_standard_signer_signs(d):
    a = d.new_account()
    ticket = d.ticket(a, "station", weight=4, max_proposals=0, node_public_key=NODE_KEY)
    assert ticket.signer() == Account.from_key(d.organizer_key).address == d.organizer()
    data = ticket.typed_data()
    assert data["domain"] == {"name": "HCFL", "version": "2", "chainId": ticket.chain_id,
                              "verifyingContract": d.address}
    assert Ticket.from_json(ticket.to_json()) == ticket
