"""contracts.nodes: nodes start, answer, and never outlive what started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from contracts import nodes
from contracts.nodes import JsonRpc, NodeUnavailable, start_node

def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.anvil
def test_anvil_starts_on_loopback_answers_and_leaves_no_process_behind() -> None:
    with start_node("anvil") as node:
        assert node.kind == "anvil" and node.block_time is None
        assert node.url.startswith("http://127.0.0.1:")
        assert node.chain_id == 31337
        with JsonRpc(node.url) as rpc:
            assert int(rpc.call("eth_blockNumber"), 16) == 0
        pid = node.pid
        assert pid is not None and process_alive(pid)
    assert not process_alive(pid)
    assert not group_alive(pid)


@pytest.mark.anvil
def test_a_failing_body_still_stops_the_node_and_the_error_propagates() -> None:
    pid = None
    with pytest.raises(RuntimeError, match="benchmark failed"):
        with start_node("anvil") as node:
            pid = node.pid
            raise RuntimeError("benchmark failed")
    assert pid is not None
    assert not process_alive(pid) and not group_alive(pid)


@pytest.mark.anvil
def test_a_keyboard_interrupt_still_stops_the_node() -> None:
    pid = None
    with pytest.raises(KeyboardInterrupt):
        with start_node("anvil") as node:
            pid = node.pid
            raise KeyboardInterrupt
    assert pid is not None and not process_alive(pid)


@pytest.mark.anvil
def test_a_killed_python_process_takes_its_node_with_it() -> None:
    # SIGKILL skips every finally and atexit handler: only the kernel's parent-death signal
    # can stop the node then.
    script = textwrap.dedent("""
        import sys, time
        from contracts.nodes import start_node
        with start_node("anvil") as node:
            print(node.pid, flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=nodes.REPO)
    try:
        assert child.stdout is not None
        node_pid = int(child.stdout.readline())
        assert process_alive(node_pid)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert wait_gone(node_pid), "anvil outlived the killed benchmark"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.anvil
def test_interval_mining_makes_blocks_without_transactions() -> None:
    with start_node("anvil", block_time=0.5) as node:
        assert node.block_time == 0.5
        with JsonRpc(node.url) as rpc:
            time.sleep(1.3)
            assert int(rpc.call("eth_blockNumber"), 16) >= 2


@pytest.mark.anvil
def test_an_outside_rpc_node_is_used_but_never_stopped() -> None:
    with start_node("anvil") as outer:
        with start_node(rpc=outer.url) as attached:
            assert attached.kind == "rpc" and attached.pid is None
            assert attached.chain_id == outer.chain_id
        assert outer.pid is not None and process_alive(outer.pid)
        with JsonRpc(outer.url) as rpc:
            assert rpc.call("eth_chainId") == hex(31337)


@pytest.mark.anvil
def test_funded_accounts_hold_the_requested_balance_and_dev_accounts_are_anvils() -> None:
    with start_node("anvil") as node:
        keys = nodes.funded_accounts(node, 3, wei=5 * nodes.ETHER)
        with JsonRpc(node.url) as rpc:
            for key in keys:
                assert int(rpc.call("eth_getBalance", [key.address, "latest"]), 16) \
                    == 5 * nodes.ETHER
            dev = nodes.dev_accounts(2)
            assert [a.address.lower() for a in dev] == rpc.call("eth_accounts")[:2]
    assert dev[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_geth_is_run_only_where_a_binary_exists() -> None:
    if nodes.shutil.which("geth") is None:
        with pytest.raises(NodeUnavailable, match="geth not found on PATH"):
            with start_node("geth", block_time=1):
                pass  # pragma: no cover
    else:  # pragma: no cover - no geth on the CI machine
        with start_node("geth", block_time=1) as node:
            pid = node.pid
            with JsonRpc(node.url) as rpc:
                assert rpc.call("eth_accounts")
        assert pid is not None and not process_alive(pid)


def test_a_missing_anvil_names_the_setup_script(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: object) -> None:
    monkeypatch.setenv("HCFL_ANVIL", "/nonexistent/anvil")
    monkeypatch.setattr(nodes, "ANVIL_NPM_PATH", nodes.REPO / "no/such/anvil")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NodeUnavailable, match="scripts/setup.sh"):
        with start_node("anvil"):
            pass  # pragma: no cover


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "ganache"}, "kind"),
    ({"block_time": -1}, "block_time"),
    ({"block_time": "1"}, "block_time"),
])
def test_bad_options_raise_value_errors_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        with start_node(**kwargs):
            pass  # pragma: no cover
