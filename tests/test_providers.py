"""Any JSON-RPC provider: a proof-of-authority chain's 97-byte ``extraData`` is read with web3's
own middleware, and every failure of a provider (a refused method, a rate limit, a timeout,
too little balance) reaches the user as one line that names the node, exit 1, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.nodes import dev_accounts, fund_addresses, start_node
from hcfl_cli.main import main
from tests.strict_rpc import strict_proxy
from tests.test_participant_cli import ETH, Person, home, make_person, run_as

pytestmark = pytest.mark.anvil  # every test here talks to a node


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """anvil, and a deployment made through a proof-of-authority proxy (blocks with a 97-byte
    ``extraData``, no development methods) by a funded organizer."""
    tmp = tmp_path_factory.mktemp("providers")
    with start_node("anvil") as node, strict_proxy(node.url, extra_data=97) as poa:
        org = make_person(tmp, "organizer")
        fund_addresses(node.url, [org.address], ETH)
        dep = tmp / "deployment.json"
        assert run_as(org, "deploy", "--rpc", poa, "--out", str(dep), "--phases", "600,600,600,600,600,600") == 0
        yield {"node": node.url, "poa": poa, "dep": dep, "org": org, "tmp": tmp}


def _one_line(capsys: pytest.CaptureFixture[str], who: Person, *argv: str, code: int = 1) -> str:
    capsys.readouterr()
    assert run_as(who, *argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_proof_of_authority_chain_with_97_bytes_of_extra_data_works_end_to_end(
        world: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from web3 import Web3
    from web3.exceptions import ExtraDataLengthError

    with pytest.raises(ExtraDataLengthError):  # the proxy serves what a clique, BSC or Polygon node serves
        Web3(Web3.HTTPProvider(world["poa"])).eth.get_block("latest")
    w, org = world, world["org"]
    owner = make_person(w["tmp"], "poa-owner")
    fund_addresses(w["node"], [owner.address], ETH)
    ticket = w["tmp"] / "owner.ticket"
    assert run_as(org, "admit", "--deployment", str(w["dep"]), "--address", owner.address, "--role", "owner",
                  "--out", str(ticket)) == 0
    common = ["--rpc", w["poa"], "--deployment", str(w["dep"])]
    assert run_as(owner, "register", *common, "--ticket", str(ticket), "--deposit", "100") == 0
    assert "registered as owner 0" in capsys.readouterr().out
    assert run_as(owner, "status", *common) == 0
    assert "you (" in capsys.readouterr().out


def test_a_deploy_from_an_unfunded_key_is_one_line_that_names_the_node(
        world: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    poor = make_person(tmp_path, "poor")
    err = _one_line(capsys, poor, "deploy", "--rpc", world["poa"], "--out", str(tmp_path / "d.json"))
    assert err.startswith("hcfl deploy: the node at " + world["poa"]) and "nsufficient funds" in err, err
    assert not (tmp_path / "d.json").exists()


def test_a_method_the_provider_refuses_is_one_line_that_names_the_node(
        world: dict, capsys: pytest.CaptureFixture[str]) -> None:
    with strict_proxy(world["node"], refuse=frozenset({"eth_getLogs"})) as url:
        err = _one_line(capsys, world["org"], "status", "--rpc", url, "--deployment", str(world["dep"]))
    assert err.startswith(f"hcfl status: the node at {url}: refused eth_getLogs"), err


def test_a_rate_limited_provider_is_one_line_that_names_the_node(
        world: dict, capsys: pytest.CaptureFixture[str]) -> None:
    with strict_proxy(world["node"], status=429) as url:
        err = _one_line(capsys, world["org"], "status", "--rpc", url, "--deployment", str(world["dep"]))
    assert err.startswith(f"hcfl status: the node at {url}: rate limit") and "429" in err, err


def test_a_provider_that_does_not_answer_in_time_is_one_line_that_names_the_node(
        world: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCFL_RPC_TIMEOUT", "0.5")
    with strict_proxy(world["node"], delay={"eth_getLogs": 2.0}) as url:
        err = _one_line(capsys, world["org"], "status", "--rpc", url, "--deployment", str(world["dep"]))
    assert err.startswith(f"hcfl status: the node at {url}: did not answer in time"), err


def test_a_node_nobody_answers_at_is_one_line_naming_the_url(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    with home(tmp_path):
        assert main(["fund", "--rpc", "http://127.0.0.1:9", "--to", dev_accounts(2)[1].address,
                     "--amount", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "hcfl fund: error: rpc: no JSON-RPC node answers at http://127.0.0.1:9", err
