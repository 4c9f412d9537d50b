"""What a newcomer following the README and docs/participants.md needs to work: funding with
what is installed (``hcfl fund``), a station's node key with a plain command (``hcfl
node-key``), a capped resend fee (``--max-fee``), a deploy run twice that says "already done",
claims that look like options, a withdrawal that says what it paid, a no-show's settlement
that names its penalty, and docs that say when the Vote clock starts and in which order
claims go."""

from __future__ import annotations

import json
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.nodes import JsonRpc, dev_accounts, fund_addresses, start_node
from hcfl_cli.main import main
from tests.test_participant_cli import ETH, home, make_person, run_as

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.anvil  # every test here talks to a node


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    with start_node("anvil") as n:
        yield n.url


def test_hcfl_fund_tops_accounts_up_from_anvils_dev_account_through_a_public_provider_and_a_rerun_sends_nothing(
        node: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from web3 import Web3

    from tests.strict_rpc import strict_proxy

    a, b = make_person(tmp_path, "a"), make_person(tmp_path, "b")
    w3 = Web3(Web3.HTTPProvider(node))
    with strict_proxy(node) as url:  # no anvil_setBalance: real transfers
        with home(tmp_path / "funder"):
            assert main(["fund", "--rpc", url, "--to", a.address, "--to", b.address, "--amount", str(ETH)]) == 0
            out = capsys.readouterr().out
            assert out.count("transfer: mined") == 2 and f"{a.address} now holds {ETH} wei" in out
            assert w3.eth.get_balance(a.address) == w3.eth.get_balance(b.address) == ETH
            sent = w3.eth.get_transaction_count(dev_accounts(1)[0].address)
            assert main(["fund", "--rpc", url, "--to", a.address, "--amount", str(ETH)]) == 0
            assert f"already done: {a.address} holds {ETH} wei" in capsys.readouterr().out
            assert w3.eth.get_transaction_count(dev_accounts(1)[0].address) == sent
        # from a key of one's own (a keystore), what the organizer does on a public chain
        assert run_as(a, "fund", "--rpc", url, "--to", b.address, "--amount", str(ETH + 5)) == 0
    assert w3.eth.get_balance(b.address) == ETH + 5


def test_hcfl_node_key_makes_a_stations_key_pair_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "flower"
    assert main(["node-key", "--folder", str(folder)]) == 0
    first = capsys.readouterr().out
    pub = (folder / "node.pub").read_bytes()
    assert f"node public key {folder / 'node.pub'}" in first and "made before" not in first
    assert stat.S_IMODE((folder / "node.key").stat().st_mode) == 0o600
    assert main(["node-key", "--folder", str(folder)]) == 0
    assert "made before" in capsys.readouterr().out and (folder / "node.pub").read_bytes() == pub


def test_a_rerun_of_deploy_with_the_same_options_is_already_done_and_other_options_are_refused(
        node: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = make_person(tmp_path, "org")
    fund_addresses(node, [org.address], ETH)
    deploy = ["deploy", "--rpc", node, "--out", str(tmp_path / "d.json"), "--deposit-per-weight", "10"]
    assert run_as(org, *deploy) == 0
    written = (tmp_path / "d.json").read_text()
    capsys.readouterr()
    assert run_as(org, *deploy) == 0
    assert "already done" in capsys.readouterr().out and (tmp_path / "d.json").read_text() == written
    assert run_as(org, *deploy, "--min-bond", "7") == 2
    assert "exists already" in capsys.readouterr().err and (tmp_path / "d.json").read_text() == written


@pytest.mark.parametrize("command", ["commit", "reveal"])
def test_claims_that_start_with_a_minus_are_a_value_and_the_error_names_the_claims_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    with home(tmp_path):
        code = main([command, "--rpc", "http://127.0.0.1:9", "--deployment", str(tmp_path / "none.json"),
                     "--claims", "-5,3", "--private-key", "0x" + "11" * 32])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"hcfl {command}: error: --claims: amounts cannot be negative, got '-5,3'", err


def test_withdraw_says_the_amount_paid_and_a_no_shows_settlement_names_its_penalty(
        node: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mechanism import settle

    org, owner, s0, s1 = (make_person(tmp_path, n) for n in ("org", "owner", "s0", "s1"))
    fund_addresses(node, [p.address for p in (org, owner, s0, s1)], ETH)
    dep = tmp_path / "d.json"
    common = ["--rpc", node, "--deployment", str(dep)]

    def run(p, *argv: str) -> str:  # type: ignore[no-untyped-def]
        assert run_as(p, *argv) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    def next_phase(mover: str = "advance") -> None:
        with JsonRpc(node) as rpc:
            rpc.call("evm_increaseTime", [101])
            rpc.call("evm_mine")
        run(org, mover, *common)

    run(org, "deploy", "--rpc", node, "--out", str(dep), "--phases", "100,100,100,100,100,100", "--penalty", "3",
        "--deposit-per-weight", "10")
    for p, role in ((owner, "owner"), (s0, "station"), (s1, "station")):
        run(org, "admit", "--deployment", str(dep), "--address", p.address, "--role", role,
            "--out", str(p.home / "ticket.json"))
        run(p, "register", *common, "--ticket", str(p.home / "ticket.json"), "--deposit", "1000")
    next_phase()
    (tmp_path / "doc").write_text("proposal")
    run(owner, "propose", *common, "--budget", "10", "--bond", "1", "--document", str(tmp_path / "doc"))
    next_phase()
    for p, claim in ((owner, 30), (s0, 5), (s1, 5)):
        run(p, "commit", *common, "--claims", str(claim))
    next_phase()
    run(owner, "reveal", *common)
    run(s0, "reveal", *common)  # s1 never reveals
    next_phase("close")
    settled = run(s0, "settle", *common, "--all")
    no_show = [line for line in settled.splitlines() if f"{s1.address} settled" in line]
    assert len(no_show) == 1 and "no-show penalty 3 wei" in no_show[0], settled
    assert all("penalty" not in line for line in settled.splitlines() if line not in no_show)
    ref = settle(budgets=[10], owner_weights=[1], station_weights=[1, 1], owner_values=[[30]],
                 station_costs=[[5], [0]])
    out = run(owner, "withdraw", *common)
    assert f"paid {1000 - ref.owner_pays[0]} wei" in out, out


def test_a_stuck_transaction_is_resent_up_to_the_fee_cap_and_never_above_it(node: str) -> None:
    from contracts.chain import connect
    from contracts.driver import Deployment
    from contracts.rpc_chain import offered_fee

    natural = connect(node).fees()["maxFeePerGas"]
    cap = natural * 13 // 10  # room for one resend (a quarter more), not for a second
    chain = connect(node, max_fee=cap)
    d = Deployment.deploy(chain=chain, organizer=None, phase_seconds=(100,) * 6)
    who = d.new_account(ETH)
    signed = []
    chain.on_sign = signed.append
    with JsonRpc(node) as rpc:
        rpc.call("evm_setAutomine", [False])
        try:
            first = chain.submit(who, "register", d.register_args("owner", None), 100)
            threading.Timer(3.0, lambda: JsonRpc(node).call("evm_mine")).start()
            tx = chain.wait(first, timeout=20, resend_after=0.3)
        finally:
            rpc.call("evm_setAutomine", [True])
    fees = [offered_fee(p.tx) for p in signed]
    assert len(fees) == 2 and fees[0] == natural and natural < fees[1] <= cap, fees
    assert d.participant(who).role == 1 and tx.hash in {p.hash for p in signed}


def test_a_resend_raises_the_fee_by_a_quarter_and_stops_at_the_cap() -> None:
    from contracts.rpc_chain import MAX_FEE_FACTOR, resend_fees

    tx = {"maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**8}
    cap = MAX_FEE_FACTOR * tx["maxFeePerGas"]
    offered = [tx["maxFeePerGas"]]
    while (fees := resend_fees(tx, cap)) is not None:
        assert fees["maxFeePerGas"] * 10 >= tx["maxFeePerGas"] * 11  # enough for a node to replace it
        tx = {**tx, **fees}
        offered.append(tx["maxFeePerGas"])
    assert offered[1] == 10**9 * 5 // 4 + 1 and max(offered) <= cap and len(offered) <= 5, offered
    assert resend_fees({"gasPrice": cap}, cap) is None  # a legacy transaction at the cap stays as it is


def test_the_docs_and_the_help_say_the_report_starts_the_vote_clock_and_claims_go_in_proposal_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    docs = (ROOT / "docs" / "participants.md").read_text()
    assert "ends the Train phase at once and starts the Vote phase's clock" in " ".join(docs.split())
    assert "proposal-index order" in docs
    for command, words in (("report", "starts the Vote phase's clock"), ("commit", "proposal-index order")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert words in " ".join(capsys.readouterr().out.split())
    assert "--max-fee" in docs and "hcfl fund" in docs and "hcfl node-key" in docs
    assert not re.search(r"\bcast\b", (ROOT / "README.md").read_text() + docs)  # not installed here


def test_a_deployment_file_written_by_deploy_reads_back_with_its_parameters(node: str, tmp_path: Path) -> None:
    org = make_person(tmp_path, "org")
    fund_addresses(node, [org.address], ETH)
    assert run_as(org, "deploy", "--rpc", node, "--out", str(tmp_path / "d.json"), "--bonus-bps", "2500",
                  "--deposit-per-weight", "10") == 0
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["parameters"]["bonus_bps"] == 2500 and data["parameters"]["deployer"] == org.address
