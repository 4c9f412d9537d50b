"""contracts.chain: one client for titanoboa and JSON-RPC nodes, reverts with their reason,
estimates with a margin, and settlements in flight together."""

from __future__ import annotations

import pytest

from contracts import Deployment, Reverted, RoundPlan, run_auction
from contracts.chain import GAS_MARGIN_FIXED, gas_limit
from contracts.nodes import start_node
from mechanism import settle

PROFILE = dict(budgets=[100, 80], owner_weights=[1, 2], station_weights=[1, 1, 3],
               owner_values=[[90, 10], [60, 70]], station_costs=[[20, 30], [25, 5], [1, 1]])
SMALL = dict(budgets=[100], owner_weights=[1, 2], station_weights=[1], owner_values=[[90], [60]],
             station_costs=[[20]])


def test_a_gas_limit_is_the_estimate_plus_a_margin_within_the_block() -> None:
    assert gas_limit(100_000) == 100_000 + 25_000 + GAS_MARGIN_FIXED
    assert gas_limit(100_000, block_limit=110_000) == 110_000


def test_a_revert_on_the_embedded_evm_carries_the_contracts_reason() -> None:
    d = Deployment.deploy(None)
    a = d.new_account()
    with pytest.raises(Reverted, match="hcfl: zero deposit") as info:
        d.register(a, "owner", weight=1, deposit=0)
    assert info.value.fn == "register" and info.value.reason == "hcfl: zero deposit"


def test_decoded_events_read_as_typed_records() -> None:
    d = Deployment.deploy(None)
    a = d.new_account()
    d.register(a, "owner", weight=3, deposit=50)
    reg = d.events("Registered")[0].record
    assert (reg.participant, reg.role, reg.index, reg.weight, reg.deposit) == (a, 1, 0, 3, 50)
    assert d.participant(a).weight == 3 and d.participant(a).held == 50


@pytest.mark.anvil
def test_a_revert_on_a_node_carries_the_same_reason_and_sends_nothing() -> None:
    with start_node("anvil") as node:
        d = Deployment.deploy(node.url)
        a = d.new_account(10**18)
        before = d.chain.transaction_count(a)
        with pytest.raises(Reverted, match="hcfl: zero deposit"):
            d.register(a, "owner", weight=1, deposit=0)
        assert d.chain.transaction_count(a) == before


@pytest.mark.anvil
def test_settlements_sent_at_once_land_in_one_block_and_the_dust_sweep_fits() -> None:
    # 1 s blocks: every participant's settlement is estimated before any is mined, so the
    # last one in the block also runs the dust sweep that its estimate did not include.
    with start_node("anvil", block_time=1) as node:
        plan = RoundPlan.from_profile(**PROFILE)
        d = plan.deploy(node.url, phase_seconds=(60, 60, 60, 60, 3600, 3600))
        auction = run_auction(d, plan, settle="self")
        settles = [tx for tx in d.txs if tx.fn == "settle"]
        blocks = {d.chain.receipt(tx.hash)["blockNumber"] for tx in settles}
    assert len(settles) == 5 and len(blocks) < len(settles)
    ref = settle(**PROFILE)
    assert [s.tax for s in auction.settled] == ref.owner_tax + ref.station_tax
    assert auction.dust == ref.dust


@pytest.mark.anvil
@pytest.mark.slow  # CI plays a whole round through the same proxy in test_localnet
def test_a_whole_round_runs_through_a_node_that_refuses_dev_methods() -> None:
    from contracts.chain import connect
    from contracts.nodes import dev_accounts
    from tests.strict_rpc import strict_proxy

    with start_node("anvil", block_time=1) as node, strict_proxy(node.url) as url:
        chain = connect(url, funder=dev_accounts(1)[0].key)
        assert chain.w3.eth.accounts == []
        assert "error" in chain.w3.provider.make_request("evm_increaseTime", [1])
        plan = RoundPlan.from_profile(**SMALL)
        d = plan.deploy(chain=chain, phase_seconds=(8, 4, 6, 6, 3600, 3600))
        auction = run_auction(d, plan)
    ref = settle(**SMALL)
    assert auction.winner == ref.winner
    assert [s.tax for s in auction.settled] == ref.owner_tax + ref.station_tax
