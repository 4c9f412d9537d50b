"""``hcfl web`` against anvil without a browser: the command end to end, its checks of the
node against the options, the page ``hcfl localnet --web`` serves, a node whose history is
wiped, and a smoke run of the load-time benchmark (``python -m benchmarks.web``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from contracts.driver import Deployment
from hcfl_cli.commands.web import source
from hcfl_cli.main import main
from contracts.deployment_file import contracts_of
from hcfl_cli.participant import DeploymentFile, code_hash
from tests.web_helpers import anvil_node

pytestmark = pytest.mark.anvil
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def anvil():
    with anvil_node() as url:
        yield url


@pytest.fixture(scope="module")
def deployment(anvil):
    d = Deployment.deploy(rpc=anvil, phase_seconds=[600] * 6)
    for a, role in zip(d.new_accounts([10**20] * 3), ("owner", "owner", "station")):
        d.register(a, role, deposit=10**15)
    return d


def _deployment_file(d: Deployment, path: Path, chain_id: int | None = None, training_code: str | None = None) -> Path:
    """What ``hcfl deploy`` writes (``training_code``: another code hash for HCFLTraining)."""
    receipt_block = 0
    contracts = contracts_of(d.chain)
    if training_code is not None:
        contracts["HCFLTraining"]["code_hash"] = training_code
    f = DeploymentFile(chain_id or d.chain_id(), d.address, receipt_block, "0x" + "00" * 32,
                       code_hash(d.chain, d.address), contracts=contracts)
    path.write_text(json.dumps(f.to_json()))
    return path


def _deploy_code(url: str, creation: bytes) -> str:
    """Another contract on the node (sent from its first unlocked development account)."""
    from contracts.nodes import JsonRpc
    from contracts.transport import wait_for_receipts

    rpc = JsonRpc(url)
    sender = rpc.call("eth_accounts")[0]
    tx = rpc.call("eth_sendTransaction", [{"from": sender, "data": "0x" + creation.hex()}])
    return wait_for_receipts(rpc, [tx])[0]["contractAddress"]  # mined a moment after the answer, at times


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


def test_hcfl_web_serves_the_page_until_interrupted_and_prints_its_url(anvil, deployment, tmp_path):
    f = _deployment_file(deployment, tmp_path / "deployment.json")
    proc = subprocess.Popen([sys.executable, "-m", "hcfl_cli.main", "web", "--rpc", anvil, "--deployment", str(f),
                             "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"hcfl web: the page of {deployment.address} is at http://127.0.0.1:"), line
        url = line.split(" is at ")[1].split()[0]
        page = _get(url)
        assert 'id="phase"' in page and "Register" in page and deployment.address in page
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_hcfl_web_refuses_a_node_without_the_contract_or_on_another_chain(anvil, deployment, tmp_path, capsys):
    someone = deployment.new_account(10**18)
    assert main(["web", "--rpc", anvil, "--address", someone]) == 2
    assert capsys.readouterr().err.startswith(f"hcfl web: error: --address: There is no contract at {someone}")
    other = _deploy_code(anvil, bytes.fromhex("6001600c60003960016000f300"))  # a contract whose code is STOP
    assert main(["web", "--rpc", anvil, "--address", other]) == 2
    assert "does not answer HCFL's view" in capsys.readouterr().err
    wrong = _deployment_file(deployment, tmp_path / "other-chain.json", chain_id=5)
    assert main(["web", "--rpc", anvil, "--deployment", str(wrong)]) == 2
    assert "is chain 31337, but the deployment file is for chain 5" in capsys.readouterr().err
    training = deployment.chain.addresses[1]
    other_training = _deployment_file(deployment, tmp_path / "other-training.json", training_code="0x" + "11" * 32)
    with pytest.raises(ValueError, match=f"--deployment: The contract HCFLTraining at {training} is not the "
                       "deployment file's: its code differs"):  # source(), not main(): a wrong check would serve
        source(anvil, deployment=other_training)


def test_the_localnet_page_serves_the_deployment_file_it_is_given(anvil, deployment, tmp_path):
    from hcfl_cli.commands.web import start_for

    page = start_for(anvil, _deployment_file(deployment, tmp_path / "deployment.json"))
    try:
        html = _get(page.url)
        assert page.url.startswith("http://127.0.0.1:") and 'data-role="station"' in html
    finally:
        page.close()


def test_a_node_whose_history_is_wiped_is_read_again_and_the_missing_contract_is_said(tmp_path):
    from hcfl_cli.web.app import Source, make_watcher

    with anvil_node() as url:  # its own node: this test wipes it
        d = Deployment.deploy(rpc=url, phase_seconds=[600] * 6)
        w = make_watcher(Source(url, d.address), tmp_path)
        w.tick()
        assert w.state.status.ok and 1 in w.state.model.rounds
        d.chain.w3.provider.make_request("anvil_reset", [])
        for _ in range(3):
            w.tick()
        w.stop()
    assert w.state.status.kind == "wrong" and not w.state.model.rounds
    assert f"There is no contract at {d.address}" in w.snapshot.live


def test_the_load_time_benchmark_runs_and_its_page_shows_every_round(anvil, capsys):
    from benchmarks.web import main as bench

    assert bench(["--rounds", "2", "--owners", "2", "--stations", "1", "--proposals", "1", "--checkpoints", "2",
                  "--rpc", anvil]) == 0
    out = capsys.readouterr().out
    assert "first page load" in out and "hcfl audit (baseline)" in out
    row = [line for line in out.splitlines() if line.strip().startswith("│      2 │")]
    assert row and row[0].rstrip(" │").endswith("2")  # the page's audit lists both rounds


def test_the_page_reads_a_node_that_behaves_like_a_public_provider(anvil, deployment, tmp_path):
    from hcfl_cli.web.app import Source, make_watcher
    from tests.strict_rpc import strict_proxy

    for batches in (True, False):  # without batches, the views are asked one at a time
        with strict_proxy(anvil, batches=batches) as url:
            w = make_watcher(Source(url, deployment.address), tmp_path)
            w.tick()
            w.stop()
        assert w.state.status.ok, w.state.status.message
        assert w.state.live.phase == 1 and len(w.state.model.rounds[1].members) == 3
        assert w.state.params is not None and w.state.params.phase_seconds == (600,) * 6
        assert 'id="phase"' in w.snapshot.live and "Register" in w.snapshot.live
