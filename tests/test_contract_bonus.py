"""The station bonus on the contract (SPEC section 9): fixed at deployment, paid from the
reported contributions by an O(1) credit anyone may send, withdrawable whether or not the
settlement was withdrawn, the balance equation after every transaction."""

from __future__ import annotations

import boa
import pytest
from boa.util.abi import Address

from contracts.build import EIP170_LIMIT
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


def test_the_deployed_code_with_its_immutables_fits_eip_170():
    d = deploy(bonus_bps=1, deposit_per_weight=1000)
    assert len(boa.env.evm.get_code(Address(d.address))) <= EIP170_LIMIT
