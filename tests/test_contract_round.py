"""One behaviour per test: phases, roles, reveal checks, settlement, vote, withdrawals,
several rounds, and the attacks of issue 3 (copied commitment, reentrant receiver,
non-revealer, claims over the deposit bound). Every revert is matched by its reason."""

from __future__ import annotations

import boa
import pytest

from contracts import commitment
from contracts.driver import REPORT_CHUNK, contributions_hash, report_chunks
from mechanism import settle
from tests.contract_helpers import SALT, deploy, expected_round, ledger

ATTACKER = """
# pragma version ~=0.4.3
interface HCFL:
    def register(round_id: uint256, role: uint256, weight: uint256, max_proposals: uint256, node_key: bytes32, expiry: uint256, ticket_round: uint256, signature: Bytes[65], node_public_key: Bytes[256]): payable
    def commit(round_id: uint256, commitment: bytes32): nonpayable
    def reveal(round_id: uint256, claims: DynArray[uint256, 32], salt: bytes32): nonpayable
    def withdraw(round_id: uint256): nonpayable

target: public(address)
round_id: public(uint256)
tries: public(uint256)
reentered: public(bool)

@deploy
def __init__(target: address):
    self.target = target

@external
@payable
def join(round_id: uint256, expiry: uint256, signature: Bytes[65]):
    self.round_id = round_id
    extcall HCFL(self.target).register(round_id, 2, 1, 0, empty(bytes32), expiry, 0, signature, b"", value=msg.value)

@external
def seal(c: bytes32):
    extcall HCFL(self.target).commit(self.round_id, c)

@external
def open(claims: DynArray[uint256, 32], salt: bytes32):
    extcall HCFL(self.target).reveal(self.round_id, claims, salt)

@external
def pull():
    extcall HCFL(self.target).withdraw(self.round_id)

@external
@payable
def __default__():
    # re-enter withdraw while being paid; a success would pay twice
    if self.tries < 3:
        self.tries += 1
        ok: bool = raw_call(
            self.target,
            abi_encode(self.round_id, method_id=method_id("withdraw(uint256)")),
            revert_on_failure=False,
        )
        if ok:
            self.reentered = True
"""


@pytest.fixture
def d():
    with boa.env.anchor():
        yield deploy(no_show_penalty=3, deposit_per_weight=DPW)


def _people(d, n_owners=3, n_stations=2):
    return [d.new_account() for _ in range(n_owners)], [d.new_account() for _ in range(n_stations)]


def _to_commit(d, owners, stations, deposit=1000, budgets=(60, 90)):
    for k, o in enumerate(owners):
        d.register(o, "owner", weight=k + 1, deposit=deposit)
    for k, s in enumerate(stations):
        d.register(s, "station", weight=k + 1, deposit=deposit)
    d.next_phase()
    for m, C in enumerate(budgets):
        d.propose(owners[m % len(owners)], budget=C, bond=5)
    d.next_phase()


def _to_reveal(d, owners, stations, oc, sc):
    _to_commit(d, owners, stations)
    for a, c in zip(owners + stations, oc + sc):
        d.commit(a, c, SALT)
    d.next_phase()


DPW = 15  # the fixture's deposit per weight: budgets up to W * 15 = 90 with weights 1, 2, 3
OC = [[100, 20], [80, 90], [10, 5]]
SC = [[30, 10], [40, 60]]


def test_a_full_round_pays_everyone_what_the_reference_says_and_balances(d):
    owners, stations = _people(d)
    _to_reveal(d, owners, stations, OC, SC)
    for a in owners + stations:
        d.reveal(a)
    d.close()
    ref = settle(budgets=[60, 90], owner_weights=[1, 2, 3], station_weights=[1, 2], owner_values=OC, station_costs=SC)
    got = [d.settle(a) for a in owners + stations]
    assert [g.tax for g in got] == ref.owner_tax + ref.station_tax
    assert [g.share + g.tax for g in got[:3]] == ref.owner_pays
    assert [g.share - g.tax for g in got[3:]] == ref.station_receives
    assert d.pool() == ref.surplus
    for a in owners + stations:
        before = boa.env.get_balance(a)
        paid = d.withdraw(a)
        assert boa.env.get_balance(a) == before + paid
    assert ledger(d).balanced


def test_every_call_in_the_wrong_phase_reverts_with_its_reason(d):
    owners, stations = _people(d, 1, 1)
    with boa.reverts("hcfl: wrong phase"):
        d.propose(owners[0], budget=1, bond=5)
    with boa.reverts("hcfl: phase not over"):
        d.advance()
    with boa.reverts("hcfl: not in reveal phase"):
        d.close()
    with boa.reverts("hcfl: round not closed"):
        d.settle(owners[0])
    with boa.reverts("hcfl: current round not finalized"):
        d.start_round()


def test_registration_rejects_a_zero_deposit_a_bad_role_a_zero_weight_and_a_second_entry(d):
    a = d.new_account()
    with boa.reverts("hcfl: zero deposit"):
        d.register(a, "owner", weight=1, deposit=0)
    with boa.reverts("hcfl: weight out of range"):
        d.chain.transact(a, "register", [d.round_id, 1, 0, 1, bytes(32), 2**40, 0, b"", b""], 20)
    with boa.reverts("hcfl: unknown role"):
        d.chain.transact(a, "register", [d.round_id, 3, 1, 1, bytes(32), 2**40, 0, b"", b""], 20)
    with boa.reverts("hcfl: owner deposit under weight times deposit per weight"):
        d.register(a, "owner", weight=2, deposit=2 * DPW - 1)
    d.register(a, "owner", weight=1, deposit=20)
    with boa.reverts("hcfl: already registered"):
        d.register(a, "station", weight=1, deposit=20)


def test_each_phase_lasts_the_length_it_was_deployed_with():
    lengths = [101, 202, 303, 404, 505, 606]
    with boa.env.anchor():
        d = deploy(phase_seconds=lengths, deposit_per_weight=DPW)
        assert list(d.chain.call("phase_seconds", [])) == lengths

        def left() -> int:
            return int(d.chain.call("deadline", [1])) - d.chain.now()

        seen = [left()]
        o, s = d.new_account(), d.new_account()
        d.register(o, "owner", deposit=10**6)
        d.register(s, "station", deposit=10**6)
        d.next_phase()  # Register -> Propose
        seen.append(left())
        d.propose(o, budget=DPW, bond=1)
        d.next_phase()  # -> Commit
        seen.append(left())
        d.commit(o, [3 * DPW])
        d.commit(s, [1])
        d.next_phase()  # -> Reveal
        seen.append(left())
        d.reveal(o)
        d.reveal(s)
        d.next_phase()  # close -> Train
        seen.append(left())
        d.next_phase()  # no report: Train -> Vote
        seen.append(left())
        assert seen == lengths


def test_registration_closes_at_its_deadline(d):
    d.travel_to_deadline()
    with boa.reverts("hcfl: deadline passed"):
        d.register(d.new_account(), "owner", weight=1, deposit=20)


def test_only_owners_propose_and_budgets_stay_within_every_owners_deposit(d):
    owners, stations = _people(d, 2, 1)
    d.register(owners[0], "owner", weight=1, deposit=DPW)
    d.register(owners[1], "owner", weight=3, deposit=1000)
    d.register(stations[0], "station", weight=1, deposit=10)
    d.next_phase()
    with boa.reverts("hcfl: not an owner"):
        d.propose(stations[0], budget=1, bond=5)
    # W * d = 4 * 15 = 60: owner 0's share of 61 would be ceil(61 / 4) = 16 > its deposit of 15
    with boa.reverts("hcfl: budget over W times deposit per weight"):
        d.propose(owners[1], budget=4 * DPW + 1, bond=5)
    with boa.reverts("hcfl: bond too small"):
        d.propose(owners[1], budget=4 * DPW, bond=0)
    assert d.propose(owners[1], budget=4 * DPW, bond=5) == 0


def test_a_round_without_proposals_is_cancelled_and_refunds_every_deposit(d):
    owners, stations = _people(d, 1, 1)
    d.register(owners[0], "owner", weight=1, deposit=70)
    d.register(stations[0], "station", weight=1, deposit=30)
    d.next_phase()
    assert d.next_phase() == "Finalized"
    assert d.chain.call("cancelled", [1])
    assert d.settle(owners[0]).payout == 70
    assert d.withdraw(owners[0]) == 70
    assert ledger(d).balanced


def test_a_commitment_copied_by_another_address_fails_to_reveal(d):
    owners, stations = _people(d)
    _to_commit(d, owners, stations)
    h = d.commit(owners[0], [100, 20], SALT)
    d.chain.transact(owners[1], "commit", [d.round_id, h])  # owner 1 copies owner 0's hash
    d.next_phase()
    d.reveal(owners[0])
    with boa.reverts("hcfl: claims do not match the commitment"):
        d.reveal(owners[1], [100, 20], SALT)


def test_a_commitment_is_bound_to_its_round_and_matches_the_python_twin(d):
    a = d.new_account()
    c = [1, 2, 3]
    h = commitment(d.address, 1, a, c, SALT)
    assert d.chain.call("commitment_of", [1, a, c, SALT]) == h
    assert commitment(d.address, 2, a, c, SALT) != h


def test_a_wrong_salt_or_claims_fail_to_reveal(d):
    owners, stations = _people(d)
    _to_reveal(d, owners, stations, OC, SC)
    with boa.reverts("hcfl: claims do not match the commitment"):
        d.reveal(owners[0], OC[0], b"\x22" * 32)
    with boa.reverts("hcfl: claims do not match the commitment"):
        d.reveal(owners[0], [101, 20], SALT)
    with boa.reverts("hcfl: one claim per proposal"):
        d.reveal(owners[0], [100], SALT)
    d.reveal(owners[0])
    with boa.reverts("hcfl: already revealed"):
        d.reveal(owners[0])


def test_claims_over_the_deposit_bound_cannot_be_revealed(d):
    owners, stations = _people(d, 1, 1)
    d.register(owners[0], "owner", weight=1, deposit=100)
    d.register(stations[0], "station", weight=1, deposit=50)
    d.next_phase()
    d.propose(owners[0], budget=DPW, bond=5)
    d.next_phase()
    d.commit(owners[0], [86], SALT)  # 86 + c = 86 + 15 > 100
    d.commit(stations[0], [51], SALT)  # 51 > 50
    d.next_phase()
    with boa.reverts("hcfl: claims exceed the deposit bound"):
        d.reveal(owners[0])
    with boa.reverts("hcfl: claims exceed the deposit bound"):
        d.reveal(stations[0])


def test_a_non_revealer_cannot_block_the_round_and_forfeits_the_penalty(d):
    owners, stations = _people(d)
    _to_reveal(d, owners, stations, OC, SC)
    for a in owners[:2] + stations:  # owner 2 never reveals
        d.reveal(a)
    d.close()
    exp = expected_round([60, 90], [1, 2, 3], [1, 2], OC[:2] + [None], SC)
    got = [d.settle(a) for a in owners + stations]
    assert d.winner() == exp.winner
    assert [g.tax for g in got] == exp.owner_tax + exp.station_tax
    assert got[2].penalty == 3
    assert got[2].payout == 1000 - exp.owner_share[2] - exp.owner_tax[2] - 3
    assert ledger(d).balanced


def test_settling_twice_or_with_other_claims_reverts(d):
    owners, stations = _people(d)
    _to_reveal(d, owners, stations, OC, SC)
    for a in owners + stations:
        d.reveal(a)
    d.close()
    with boa.reverts("hcfl: claims do not match the commitment"):
        d.chain.transact(d.deployer, "settle", [1, owners[0], [0, 0], SALT])
    d.settle(owners[0])
    with boa.reverts("hcfl: already settled"):
        d.settle(owners[0])
    with boa.reverts("hcfl: not registered"):
        d.settle(d.new_account())


def test_withdrawing_twice_pays_once(d):
    owners, stations = _people(d)
    _to_reveal(d, owners, stations, OC, SC)
    for a in owners + stations:
        d.reveal(a)
    d.close()
    d.settle(stations[0])
    assert d.withdraw(stations[0]) > 0
    with boa.reverts("hcfl: already withdrawn"):
        d.withdraw(stations[0])
    with boa.reverts("hcfl: not settled"):
        d.withdraw(stations[1])


def test_a_reentrant_receiver_cannot_withdraw_twice(d):
    owners, stations = _people(d)
    for k, o in enumerate(owners):
        d.register(o, "owner", weight=k + 1, deposit=1000)
    attacker = boa.loads(ATTACKER, d.address)
    ticket = d.ticket(attacker.address, "station", max_proposals=0)
    attacker.join(1, ticket.expiry, ticket.signature, value=500, sender=owners[0])
    _absorb(d, attacker)
    d.next_phase()
    d.propose(owners[0], budget=60, bond=5)
    d.next_phase()
    for o in owners:
        d.commit(o, [50], SALT)
    attacker.seal(commitment(d.address, 1, attacker.address, [10], SALT))
    d.next_phase()
    for o in owners:
        d.reveal(o)
    attacker.open([10], SALT)
    _absorb(d, attacker)
    d.close()
    payout = d.settle(attacker.address).payout
    before = d.contract_balance()
    attacker.pull()
    assert boa.env.get_balance(attacker.address) == payout
    assert d.contract_balance() == before - payout
    assert attacker.tries() >= 1 and not attacker.reentered()
    assert ledger(d).balanced


def _absorb(d, contract):
    """Add the HCFL events of ``contract``'s last call (sent outside the driver) to ``d``."""
    d._events.extend(d.chain.absorb(contract))


def _through_close(d, owners, stations):
    _to_reveal(d, owners, stations, OC, SC)
    for a in owners + stations:
        d.reveal(a)
    d.close()
    return d.winner()


def test_only_the_winner_reports_and_the_winner_cannot_vote(d):
    owners, stations = _people(d)
    w = _through_close(d, owners, stations)
    proposer = owners[w % 3]
    other = next(o for o in owners if o != proposer)
    with boa.reverts("hcfl: not the winner"):
        d.chain.transact(other, "report_training", [1, b"\x01" * 32, "", 9000, [1, 2]])
    with boa.reverts("hcfl: one contribution per station"):
        d.chain.transact(proposer, "report_training", [1, b"\x01" * 32, "", 9000, [1]])
    d.report_training(b"\x01" * 32, 9000, [3, 4])
    with boa.reverts("hcfl: winner cannot vote"):
        d.vote(proposer, True)
    with boa.reverts("hcfl: not an owner"):
        d.vote(stations[0], True)
    d.vote(other, False)
    with boa.reverts("hcfl: already voted"):
        d.vote(other, True)


def test_a_report_of_many_stations_arrives_in_bounded_chunks_folded_into_one_hash(d):
    owners, stations = _people(d, 3, 2 * REPORT_CHUNK + 5)
    _to_reveal(d, owners, stations, OC, [[1, 1]] * len(stations))
    for a in owners + stations:
        d.reveal(a)
    d.close()
    proposer = owners[d.winner() % 3]
    contributions = [3 * k + 1 for k in range(len(stations))]
    first, second, third = report_chunks(contributions)
    assert (len(first), len(second), len(third)) == (REPORT_CHUNK, REPORT_CHUNK, 5)
    with boa.reverts("hcfl: report not started"):
        d.chain.transact(proposer, "report_contributions", [1, second])
    with boa.reverts("hcfl: one contribution per station"):
        d.chain.transact(proposer, "report_training", [1, b"\x01" * 32, "", 9000, first[:-1]])
    d.chain.transact(proposer, "report_training", [1, b"\x01" * 32, "", 9000, first])
    with boa.reverts("hcfl: report already started"):
        d.chain.transact(proposer, "report_training", [1, b"\x01" * 32, "", 9000, first])
    with boa.reverts("hcfl: not the winner"):
        d.chain.transact(owners[(d.winner() + 1) % 3], "report_contributions", [1, second])
    with boa.reverts("hcfl: one contribution per station"):
        d.chain.transact(proposer, "report_contributions", [1, third])
    d.chain.transact(proposer, "report_contributions", [1, second])
    assert d.phase() == "Train" and d.chain.call("report_progress", [1]) == 2 * REPORT_CHUNK + 1
    d.chain.transact(proposer, "report_contributions", [1, third])
    assert d.phase() == "Vote" and d.chain.call("reported", [1])
    assert d.chain.call("contributions_hash", [1]) == contributions_hash(contributions)
    with boa.reverts("hcfl: wrong phase"):
        d.chain.transact(proposer, "report_contributions", [1, third])


def test_the_driver_sends_a_long_report_as_one_transaction_per_chunk(d):
    owners, stations = _people(d, 3, REPORT_CHUNK + 1)
    _to_reveal(d, owners, stations, OC, [[1, 1]] * len(stations))
    for a in owners + stations:
        d.reveal(a)
    d.close()
    txs = d.report_training(b"\x02" * 32, 8000, list(range(len(stations))))
    assert [e.name for tx in txs for e in tx.events if "Report" in e.name] == [
        "TrainingReported", "ContributionsReported"]
    assert d.phase() == "Vote"
    assert d.chain.call("contributions_hash", [1]) == contributions_hash(range(len(stations)))


def test_a_strict_majority_of_the_other_owners_slashes_the_bond_to_the_pool(d):
    owners, stations = _people(d)
    w = _through_close(d, owners, stations)
    proposer = owners[w % 3]
    others = [o for o in owners if o != proposer]
    d.report_training(b"\x01" * 32, 5000, [3, 4])
    for o in others:
        d.vote(o, True)
    pool = d.pool()
    d.finalize()
    assert d.chain.call("slashed", [1]) and d.pool() == pool + 5
    with boa.reverts("hcfl: bond not released"):
        d.withdraw_bond(proposer, w)
    assert ledger(d).balanced


def test_half_of_the_other_owners_is_no_majority_and_the_bond_comes_back(d):
    owners, stations = _people(d)
    w = _through_close(d, owners, stations)
    proposer = owners[w % 3]
    others = [o for o in owners if o != proposer]
    d.report_training(b"\x01" * 32, 9000, [3, 4])
    d.vote(others[0], True)
    d.vote(others[1], False)
    d.finalize()
    assert not d.chain.call("slashed", [1])
    assert d.withdraw_bond(proposer, w) == 5


def test_a_winner_that_never_reports_loses_its_bond(d):
    owners, stations = _people(d)
    _through_close(d, owners, stations)
    assert d.next_phase() == "Vote"
    d.finalize()
    assert d.chain.call("slashed", [1])


def test_the_pool_subsidizes_the_next_rounds_owner_shares(d):
    owners, stations = _people(d)
    _through_close(d, owners, stations)
    for a in owners + stations:
        d.settle(a)
    d.next_phase()
    d.finalize()  # no report: the bond is slashed too
    pool = d.pool()
    assert pool > 0
    d.start_round()
    assert d.events("RoundStarted")[-1].args["subsidy"] == pool and d.pool() == 0
    owners2, stations2 = _people(d)
    _to_reveal(d, owners2, stations2, OC, SC)
    for a in owners2 + stations2:
        d.reveal(a)
    d.close()
    exp = expected_round([60, 90], [1, 2, 3], [1, 2], OC, SC, subsidy=pool)
    got = [d.settle(a) for a in owners2 + stations2]
    assert [g.tax for g in got] == exp.owner_tax + exp.station_tax
    assert [g.share for g in got] == exp.owner_share + exp.station_share
    assert sum(exp.owner_share) < sum(
        settle(budgets=[60, 90], owner_weights=[1, 2, 3], station_weights=[1, 2], owner_values=OC,
               station_costs=SC).owner_share
    )
    assert ledger(d).balanced


def test_events_alone_rebuild_the_rounds_claims_and_settlements(d):
    owners, stations = _people(d)
    _through_close(d, owners, stations)
    for a in owners + stations:
        d.settle(a)
    revealed = {e.args["participant"]: e.args["claims"] for e in d.events("Revealed")}
    proposed = [e.args["budget"] for e in d.events("Proposed")]
    weights = {e.args["participant"]: e.args["weight"] for e in d.events("Registered")}
    ref = settle(
        budgets=proposed,
        owner_weights=[weights[o] for o in owners],
        station_weights=[weights[s] for s in stations],
        owner_values=[revealed[o] for o in owners],
        station_costs=[revealed[s] for s in stations],
    )
    taxes = {e.args["participant"]: e.args["tax"] for e in d.events("Settled")}
    assert [taxes[a] for a in owners + stations] == ref.owner_tax + ref.station_tax
    assert d.events("Closed")[0].args["welfare"] == ref.welfare
