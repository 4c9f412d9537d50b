"""Rules of the contract that no other test pins, each with a mutant in
``verification.mutants`` that this file kills: a commitment is bound to its deployment, the
slash majority counts the owners other than the winner, a ticket is valid through its expiry
second, and a station's reveal bound holds exactly ``mechanism.station_bonus_hold``."""

from __future__ import annotations

import boa
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.driver import Deployment, commitment
from mechanism import station_bonus_hold
from tests.contract_helpers import SALT, deploy


def test_a_commitment_made_for_one_deployment_does_not_open_in_another():
    # two deployments, the same round (1), the same sender, claims and salt
    # (one titanoboa clock: both deployments move through their phases together)
    a, b = deploy(deposit_per_weight=100), deploy(deposit_per_weight=100)
    assert a.address != b.address
    owner = a.new_account(10**20)
    for d in (a, b):
        d.register(owner, "owner", weight=1, deposit=1000)
        d.register(d.new_account(10**20), "station", deposit=1000)
    for d in (a, b):
        d.next_phase()
        d.propose(owner, budget=100, bond=1)
    for d in (a, b):
        d.next_phase()
    made_for_a = commitment(a.address, 1, owner, [300], SALT)
    assert made_for_a != commitment(b.address, 1, owner, [300], SALT)
    for d in (a, b):
        d.transact(owner, "commit", [1, made_for_a])
    for d in (a, b):
        d.next_phase()
    a.reveal(owner, [300], SALT)
    with boa.reverts("hcfl: claims do not match the commitment"):
        b.reveal(owner, [300], SALT)
    # the view clients may ask agrees with the Python twin, for each deployment
    for d in (a, b):
        assert d.chain.call("commitment_of", [1, owner, [300], SALT]) == commitment(d.address, 1, owner, [300], SALT)


def _vote_round(n_owners: int, punish: int) -> bool:
    """A round whose winner is owner 0's proposal, reported in time; ``punish`` of the other
    owners vote to punish, the rest vote not to. Whether ``finalize`` slashed the bond."""
    d = deploy(deposit_per_weight=100)
    owners = d.new_accounts([10**20] * n_owners)
    station = d.new_account(10**20)
    for o in owners:
        d.register(o, "owner", weight=1, deposit=10_000)
    d.register(station, "station", deposit=1000)
    d.next_phase()
    d.propose(owners[0], budget=100, bond=7)
    d.next_phase()
    for o in owners:
        d.commit(o, [300])
    d.commit(station, [10])
    d.next_phase()
    for a in (*owners, station):
        d.reveal(a)
    d.close()
    d.report_training(b"\x01" * 32, 9000, [1])
    assert d.phase() == "Vote"
    with boa.reverts("hcfl: winner cannot vote"):
        d.vote(owners[0], True)
    for k, o in enumerate(owners[1:]):
        d.vote(o, k < punish)
        assert d.participant(o).voted
        with boa.reverts("hcfl: already voted"):
            d.vote(o, True)
    fin = d.finalize().first("Finalized")
    assert fin.punish_votes == punish
    assert d.chain.call("slashed", [1]) == fin.slashed
    return fin.slashed


def test_with_two_owners_the_other_owners_one_punish_vote_slashes():
    assert _vote_round(2, 1) is True
    assert _vote_round(2, 0) is False


def test_with_four_owners_two_of_the_three_others_slash_and_one_does_not():
    assert _vote_round(4, 2) is True
    assert _vote_round(4, 1) is False


def test_with_three_owners_one_of_the_two_others_is_no_strict_majority():
    assert _vote_round(3, 1) is False


def test_a_ticket_is_valid_at_its_expiry_second_and_expired_one_second_later():
    d = deploy()
    on_time, late = d.new_accounts([10**20] * 2)
    expiry = d.chain.now() + 100
    tickets = {a: d.ticket(a, "station", expiry=expiry) for a in (on_time, late)}
    d.chain.time_travel(100)
    assert d.chain.now() == expiry
    d.register(on_time, "station", deposit=10, ticket=tickets[on_time])
    assert d.participant(on_time).role == 2
    d.chain.time_travel(1)
    with boa.reverts("hcfl: ticket expired"):
        d.register(late, "station", deposit=10, ticket=tickets[late])


def _revealing_stations(budget: int, bps: int, u: int, rest: int) -> tuple[Deployment, list[str], int]:
    """A bonus deployment at its Reveal phase: two stations of weight ``u`` (and one of
    ``rest`` when positive) that committed zeros under one proposal of ``budget``; the first
    deposited exactly ``station_bonus_hold``, the second one wei less (at least 1)."""
    d = deploy(bonus_bps=bps, deposit_per_weight=max(budget, 1))
    owner = d.new_account(10**30)
    weights = [u, u] + ([rest] if rest else [])
    hold = station_bonus_hold(budget, bps, u, sum(weights))
    stations = d.new_accounts([10**30] * len(weights))
    d.register(owner, "owner", weight=1, deposit=max(budget, 1))
    for s, w, dep in zip(stations, weights, [max(hold, 1), max(hold - 1, 1), 1]):
        d.register(s, "station", weight=w, deposit=dep)
    d.next_phase()
    d.propose(owner, budget=budget, bond=1)
    d.next_phase()
    for s in stations[:2]:
        d.commit(s, [0])
    d.next_phase()
    return d, stations, hold


@settings(max_examples=12, deadline=None)
@given(budget=st.integers(0, 10**9), bps=st.integers(1, 10_000), u=st.integers(1, 40), rest=st.integers(0, 90))
def test_a_station_deposit_of_exactly_mechanisms_hold_reveals_and_one_wei_less_does_not(budget, bps, u, rest):
    d, (exact, short, *_), hold = _revealing_stations(budget, bps, u, rest)
    d.reveal(exact)
    if hold >= 2:
        with boa.reverts("hcfl: claims exceed the deposit bound"):
            d.reveal(short)


def test_only_hcfltraining_opens_a_vote_phase_and_it_trusts_only_its_creator():
    d = deploy()
    outsider = d.new_account(10**18)
    with boa.reverts("hcfl: only the training contract"):
        d.transact(outsider, "report_done", [1])
    training = d.chain.call("TRAINING", [])
    assert d.chain.call("HCFL", []) == d.address and training != d.address
    # HCFLTraining's checks come from HCFL's state: nothing to report before a winner
    with boa.reverts("hcfl: wrong phase"):
        d.transact(outsider, "report_training", [1, b"\x01" * 32, "", 9000, []])
    with boa.reverts("hcfl: wrong phase"):
        d.transact(outsider, "vote", [1, True])
