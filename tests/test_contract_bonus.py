"""The station bonus on the contract (SPEC section 9): fixed at deployment, paid from the
reported contributions by an O(1) credit anyone may send, withdrawable whether or not the
settlement was withdrawn, the balance equation after every transaction."""

from __future__ import annotations

import boa
import pytest
from boa.util.abi import Address

from contracts.build import EIP170_LIMIT, EIP170_ROOM, compiled
from contracts.driver import Deployment
from mechanism import settle
from tests.contract_helpers import deploy, ledger


def _round(d: Deployment, n_stations: int = 2, contributions: list[int] | None = None, report: bool = True):
    """One owner, ``n_stations`` stations of weights 1, 2, ...; a budget of 1000, everyone
    truthful; returns (owner, stations) after finalize."""
    owner = d.new_account(10**9)
    stations = [d.new_account(10**9) for _ in range(n_stations)]
    d.register(owner, "owner", weight=1, deposit=5000)
    for j, s in enumerate(stations):
        d.register(s, "station", weight=j + 1, deposit=2000)
    d.next_phase()
    d.propose(owner, budget=1000, bond=1)
    d.next_phase()
    d.commit(owner, [3000])
    for s in stations:
        d.commit(s, [10])
    d.next_phase()
    for a in [owner, *stations]:
        d.reveal(a)
    d.close()
    for a in [owner, *stations]:
        d.settle(a)
        assert ledger(d).balanced
    if report:
        d.report_training(b"\x01" * 32, 9000, contributions or [1] * n_stations)
    d.next_phase()
    if d.phase() == "Vote":
        d.next_phase()
    assert d.phase() == "Finalized"
    return owner, stations


def test_a_station_withdraws_its_bonus_after_withdrawing_its_settlement_and_every_wei_is_kept():
    d = deploy(bonus_bps=4000, deposit_per_weight=1000)
    owner, (s0, s1) = _round(d, 2, contributions=[3, 1])
    ref = settle(budgets=[1000], owner_weights=[1], station_weights=[1, 2], owner_values=[[3000]],
                 station_costs=[[10], [10]], bonus_bps=4000, contributions=[3, 1])
    paid_first = d.withdraw(s0)
    assert paid_first == 2000 + ref.station_weight_part[0] - ref.station_tax[0]
    outsider = d.new_account(10**9)
    assert d.credit_bonus(s0, sender=outsider) == ref.station_bonus[0] == 300
    assert ledger(d).balanced
    before = boa.env.get_balance(s0)
    assert d.withdraw(s0) == 300 and boa.env.get_balance(s0) == before + 300
    assert d.credit_bonus(s1) == ref.station_bonus[1] == 100
    assert d.withdraw(s1) == 2000 + ref.station_receives[1]  # settlement and bonus in one pull
    led = ledger(d)
    assert led.balanced and led.withdrawable == d.participant(owner).amount + 1  # the owner's payout and bond
    with boa.reverts("hcfl: not a station, or credited"):
        d.credit_bonus(s0)


def test_without_a_report_the_bonus_goes_by_weight_and_the_rounding_dust_to_the_pool():
    d = deploy(bonus_bps=10_000, deposit_per_weight=1000)
    _, stations = _round(d, 3, report=False)
    pool = d.pool()
    got = [d.credit_bonus(s) for s in stations]
    assert got == [1000 * u // 6 for u in (1, 2, 3)] == [166, 333, 500]
    assert d.pool() == pool + 1  # 1000 - 999, swept by the last credit
    assert ledger(d).balanced


def test_the_bonus_credit_refuses_an_unfinalized_round_an_owner_and_a_deployment_without_bonus():
    d = deploy(bonus_bps=2500, deposit_per_weight=1000)
    owner = d.new_account(10**9)
    d.register(owner, "owner", weight=1, deposit=1000)
    with boa.reverts("hcfl: no bonus to credit"):
        d.credit_bonus(owner)
    plain = deploy(deposit_per_weight=1000)
    _, (s0, _s1) = _round(plain, 2)
    with boa.reverts("hcfl: no bonus to credit"):
        plain.credit_bonus(s0)


def test_the_bonus_fraction_is_fixed_at_deployment_and_at_most_ten_thousand_bps():
    assert deploy(bonus_bps=1234, deposit_per_weight=1000).bonus_bps() == 1234
    with pytest.raises(ValueError, match="bonus_bps"):
        deploy(bonus_bps=10_001, deposit_per_weight=1000)


def test_a_bonus_credit_costs_the_same_gas_with_three_or_thirty_stations():
    def credit_gas(n: int) -> int:
        d = deploy(bonus_bps=5000, deposit_per_weight=1000)
        _, stations = _round(d, n)
        d.credit_bonus(stations[0])
        return d.gas["credit_bonus"][-1]

    few, many = credit_gas(3), credit_gas(30)
    assert many <= few * 1.01 and few < 60_000


def test_every_deployed_contract_with_its_immutables_leaves_two_kib_of_room_under_eip_170():
    d = deploy(bonus_bps=1, deposit_per_weight=1000)
    training = d.chain.call("TRAINING", [])
    assert training != d.address and d.chain.call("HCFL", []) == d.address
    for address in (d.address, training):
        assert len(boa.env.evm.get_code(Address(address))) <= EIP170_LIMIT - EIP170_ROOM
    # the contract HCFL created runs the shipped HCFLTraining code (its immutables appended)
    assert bytes(boa.env.evm.get_code(Address(training))).startswith(compiled().training.bytecode_runtime)


ETHER = 10**18


def _no_show_round(penalty: int) -> tuple[Deployment, str, str, str]:
    """Issue 23's witness: bonus 2,500 bps, deposit per weight 1 ETH, one owner and two
    stations of weight 1, one proposal of budget 1 ETH that the owner values at 1 wei and
    station S1 at cost 0; station S2 registers with a deposit of 1 wei and never commits.
    Played up to finalize (the owner's and S1's settlements first)."""
    d = deploy(bonus_bps=2500, deposit_per_weight=ETHER, no_show_penalty=penalty)
    owner, s1, s2 = d.new_accounts([10 * ETHER] * 3)
    d.register(owner, "owner", weight=1, deposit=2 * ETHER)
    d.register(s1, "station", weight=1, deposit=ETHER)
    d.register(s2, "station", weight=1, deposit=1)
    d.next_phase()
    d.propose(owner, budget=ETHER, bond=1)
    d.next_phase()
    d.commit(owner, [1])
    d.commit(s1, [0])
    d.next_phase()
    d.reveal(owner)
    d.reveal(s1)
    d.close()
    return d, owner, s1, s2


def test_a_station_that_never_commits_with_a_one_wei_deposit_is_settled_and_the_round_completes():
    d, owner, s1, s2 = _no_show_round(penalty=10**15)
    ref = settle(budgets=[ETHER], owner_weights=[1], station_weights=[1, 1], owner_values=[[1]],
                 station_costs=[[0], [0]], bonus_bps=2500, contributions=[1, 0], no_show_stations=[1])
    assert d.winner() == 0
    got = {a: d.settle(a) for a in (owner, s1, s2)}
    assert ledger(d).balanced
    # S2's Clarke tax against its nominal share is 0.5 ETH - 1; it is paid its weight part
    # 0.375 ETH now, so it is charged at most that, and keeps its 1 wei less the penalty
    assert (got[s2].share, got[s2].tax, got[s2].penalty, got[s2].payout) == (375 * 10**15, 375 * 10**15, 1, 0)
    assert got[s2].tax == ref.station_tax[1] and 1 + ref.station_receives[1] - 1 == got[s2].payout
    assert (got[s1].share, got[s1].tax) == (ref.station_weight_part[0], ref.station_tax[0]) == (375 * 10**15, ETHER // 2 - 1)
    assert got[owner].payout == 2 * ETHER - ref.owner_pays[0] == ETHER
    d.report_training(b"\x01" * 32, 9000, [1, 0])
    d.next_phase()
    assert d.phase() == "Finalized"
    assert [d.credit_bonus(s) for s in (s1, s2)] == ref.station_bonus == [ETHER // 4, 0]
    assert d.withdraw(s1) == ETHER + ref.station_receives[0] == ETHER + ETHER // 8 + 1
    assert d.withdraw(s2) == 0
    led = ledger(d)
    assert led.balanced and led.held == 0
    # every tax charged, the penalty and the dust are in the pool, to the wei
    assert d.pool() == ref.surplus + 1 == 875 * 10**15
    # and the auditor, from the logs alone, finds the reference's settlement
    from hcfl_cli.audit import audit_events

    (audit,) = audit_events(d.events(), address=d.address, bonus_bps=2500)
    assert audit.ok and audit.reference.station_tax == ref.station_tax, audit.differences


def test_a_station_that_never_revealed_takes_no_bonus_and_its_slice_goes_to_the_pool():
    d, owner, s1, s2 = _no_show_round(penalty=0)
    for a in (owner, s1, s2):
        d.settle(a)
    d.next_phase()  # no report: Train -> Vote
    d.next_phase()  # finalize: the bond is slashed, the bonus goes by weight
    ref = settle(budgets=[ETHER], owner_weights=[1], station_weights=[1, 1], owner_values=[[1]],
                 station_costs=[[0], [0]], bonus_bps=2500, no_show_stations=[1])
    pool = d.pool()
    assert [d.credit_bonus(s) for s in (s1, s2)] == ref.station_bonus == [ETHER // 8, 0]
    assert d.pool() == pool + ETHER // 8  # S2's slice of the bonus pool, with the last credit
    assert ledger(d).balanced
