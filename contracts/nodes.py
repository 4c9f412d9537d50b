"""Ethereum nodes for the chain side, the benchmarks and the tests: start one, wait for it, always stop it.

``start_node`` is a context manager that yields a :class:`Node` with a JSON-RPC ``url``:

- ``kind="anvil"``: the anvil binary that ``scripts/setup.sh`` installs from npm into
  ``.tools/`` (or ``$HCFL_ANVIL``, or ``anvil`` on PATH), on a free port of 127.0.0.1 chosen
  by anvil itself (``--port 0``, so no other process can take the port between choosing it and
  binding it), automining every transaction, or mining a block every ``block_time`` seconds.
- ``kind="geth"``: ``geth --dev`` (``--dev.period`` seconds per block, 0 = a block per
  transaction) in a throw-away data directory, when a ``geth`` binary is on PATH.
- ``rpc="http://..."``: any running node; it is only waited for, never started or stopped.

What was started is stopped on every way out of the ``with`` block (normal exit, exception,
Ctrl-C) by killing its whole process group, and, as a last resort, at interpreter exit and by
the kernel when the Python process dies (``PR_SET_PDEATHSIG``), so a killed benchmark leaves
no node running.

``funded_accounts`` gives the load generator as many funded keys as it wants, on any of these
nodes: anvil's ``anvil_setBalance`` where the node has it, else transfers from the node's own
unlocked account (``eth_accounts[0]``, what ``geth --dev`` gives). ``dev_accounts`` derives
anvil's default accounts from its well-known mnemonic.

The JSON-RPC transport itself (``JsonRpc``, ``RpcError``, ``wait_for_receipts``) lives in
``contracts.transport`` (imported here too, for the callers that know it from here).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from contracts.transport import JsonRpc, RpcError, wait_for_receipts

REPO = Path(__file__).resolve().parent.parent
# Where scripts/setup.sh installs the binary that ships inside the npm package.
ANVIL_NPM_PATH = REPO / ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
# anvil's and hardhat's default mnemonic: the first accounts hold 10,000 ether each.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
KINDS = ("anvil", "geth")
ETHER = 10**18


class NodeUnavailable(RuntimeError):
    """The requested node cannot be run here (binary missing); tests skip on this."""


class NodeStartError(RuntimeError):
    """A node was started but did not answer; the message carries the tail of its log."""


@dataclass(frozen=True)
class Node:
    """A reachable JSON-RPC node.

    ``kind`` is ``"anvil"``, ``"geth"`` or ``"rpc"`` (an outside node we did not start);
    ``block_time`` is seconds per block, ``None`` for a block per transaction (automine) or
    unknown; ``pid`` is the started process (``None`` for an outside node).
    """

    kind: str
    url: str
    block_time: float | None
    chain_id: int
    pid: int | None = None


def wait_for_rpc(url: str, timeout: float = 30.0,
                 proc: subprocess.Popen[bytes] | None = None,
                 log: Path | None = None) -> int:
    """Poll ``eth_chainId`` until the node answers; return the chain id.

    Fails fast (``NodeStartError`` with the log's tail) if ``proc`` exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise NodeStartError(f"node exited with code {proc.returncode} before answering"
                                 f"{_log_tail(log)}")
        try:
            with JsonRpc(url, timeout=2.0) as rpc:
                return int(rpc.call("eth_chainId"), 16)
        except (OSError, RpcError, ValueError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.05)
    raise NodeStartError(f"no answer to eth_chainId from {url} within {timeout:.0f} s "
                         f"({last}){_log_tail(log)}")


# --------------------------------------------------------------------------------------------
# Process control.

_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def die_with_parent() -> None:
    """In the child before exec (``preexec_fn``): ask the kernel to SIGKILL it when its parent
    dies, so even a SIGKILLed benchmark or localnet leaves no process behind (Linux only;
    elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


def _spawn(args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C in the terminal does not reach it before we are
            # ready to stop it, and one killpg stops it with every child it spawned.
            start_new_session=True,
            preexec_fn=die_with_parent if os.name == "posix" else None,
        )
    _STARTED[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, and reap the process."""
    _STARTED.pop(proc.pid, None)
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    # The leader is gone; make sure nothing else of its group survives it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)


@atexit.register
def _stop_all() -> None:
    for proc in list(_STARTED.values()):
        stop_process(proc, grace=1.0)


def _log_tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- node log (tail) ---\n" + "\n".join(tail) if tail else ""


def anvil_path() -> Path:
    """The anvil binary: ``$HCFL_ANVIL``, else the npm install of scripts/setup.sh, else PATH."""
    env = os.environ.get("HCFL_ANVIL")
    candidates = [Path(env)] if env else []
    candidates.append(ANVIL_NPM_PATH)
    on_path = shutil.which("anvil")
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise NodeUnavailable(f"anvil not found at {ANVIL_NPM_PATH.relative_to(REPO)} (nor "
                          "$HCFL_ANVIL, nor on PATH): run `bash scripts/setup.sh`")


def geth_path() -> Path:
    found = shutil.which("geth")
    if not found:
        raise NodeUnavailable("geth not found on PATH: install go-ethereum to benchmark "
                              "`geth --dev`, or pass --rpc URL of a running node")
    return Path(found)


def _free_port() -> int:
    """A port that was free a moment ago (for geth, which has no equivalent of --port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_listen_line(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """anvil prints ``Listening on 127.0.0.1:PORT`` once bound; return that address."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        for line in text.splitlines():
            if line.startswith("Listening on "):
                return line.removeprefix("Listening on ").strip()
        if proc.poll() is not None:
            raise NodeStartError(f"anvil exited with code {proc.returncode} before listening"
                                 f"{_log_tail(log)}")
        time.sleep(0.02)
    raise NodeStartError(f"anvil did not listen within {timeout:.0f} s{_log_tail(log)}")


def _check_block_time(block_time: float | None) -> float | None:
    if block_time is None:
        return None
    if isinstance(block_time, bool) or not isinstance(block_time, (int, float)) \
            or not block_time >= 0:
        raise ValueError(f"block_time: expected seconds >= 0 or None, got {block_time!r}")
    # 0 means "a block per transaction" for both anvil's automine and geth's dev.period.
    return None if block_time == 0 else float(block_time)


def _seconds_arg(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@contextlib.contextmanager
def start_node(kind: str = "anvil", block_time: float | None = None, rpc: str | None = None,
               *, accounts: int = 10, balance_ether: int = 10_000,
               gas_limit: int | None = None, extra_args: Sequence[str] = (),
               startup_timeout: float = 30.0) -> Iterator[Node]:
    """Start (or attach to) a node for the duration of the ``with`` block.

    ``block_time`` is seconds per block (``None`` or 0: a block per transaction). With
    ``rpc`` the node at that URL is used as it is (``kind`` and ``block_time`` only label it).
    ``accounts``/``balance_ether`` configure anvil's funded default accounts; ``gas_limit``
    the block gas limit (anvil's and geth's default is 30,000,000 here).
    """
    block_time = _check_block_time(block_time)
    if rpc is not None:
        chain_id = wait_for_rpc(rpc, timeout=startup_timeout)
        yield Node(kind="rpc", url=rpc, block_time=block_time, chain_id=chain_id)
        return
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if accounts < 1:
        raise ValueError(f"accounts: expected >= 1, got {accounts}")

    with tempfile.TemporaryDirectory(prefix=f"hcfl-{kind}-") as tmp:
        log = Path(tmp) / "node.log"
        if kind == "anvil":
            args = [str(anvil_path()), "--host", "127.0.0.1", "--port", "0",
                    "--accounts", str(accounts), "--balance", str(balance_ether),
                    # Batches of thousands of raw transactions exceed the 2 MB default.
                    "--no-request-size-limit",
                    # anvil writes old states under ~/.foundry/anvil/tmp and leaves them there
                    # when killed: keep them in our temporary folder, deleted with the node
                    "--cache-path", str(Path(tmp) / "cache")]
            if block_time is not None:
                args += ["--block-time", _seconds_arg(block_time)]
            if gas_limit is not None:
                args += ["--gas-limit", str(gas_limit)]
        else:
            http_port, auth_port = _free_port(), _free_port()
            args = [str(geth_path()), "--dev", "--dev.period",
                    str(0 if block_time is None else max(1, round(block_time))),
                    "--datadir", str(Path(tmp) / "data"), "--ipcdisable",
                    "--http", "--http.addr", "127.0.0.1", "--http.port", str(http_port),
                    "--http.api", "eth,net,web3,txpool", "--authrpc.addr", "127.0.0.1",
                    "--authrpc.port", str(auth_port), "--port", "0", "--nodiscover",
                    "--maxpeers", "0", "--verbosity", "2",
                    "--txpool.globalslots", "100000", "--txpool.accountslots", "10000",
                    "--txpool.globalqueue", "100000", "--txpool.accountqueue", "10000"]
            if gas_limit is not None:
                args += ["--dev.gaslimit", str(gas_limit), "--miner.gaslimit", str(gas_limit)]
        args += list(extra_args)

        proc = _spawn(args, log)
        try:
            if kind == "anvil":
                url = "http://" + _wait_for_listen_line(proc, log, startup_timeout)
            else:
                url = f"http://127.0.0.1:{http_port}"
            chain_id = wait_for_rpc(url, timeout=startup_timeout, proc=proc, log=log)
            yield Node(kind=kind, url=url, block_time=block_time, chain_id=chain_id,
                       pid=proc.pid)
        finally:
            stop_process(proc)


# --------------------------------------------------------------------------------------------
# Accounts.


def dev_accounts(n: int = 10, mnemonic: str = DEV_MNEMONIC) -> list[LocalAccount]:
    """anvil's default accounts (each holds ``balance_ether`` on a fresh anvil)."""
    if n < 0:
        raise ValueError(f"n: expected >= 0, got {n}")
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
            for i in range(n)]


def bench_keys(n: int, seed: str = "hcfl-bench") -> list[LocalAccount]:
    """``n`` deterministic throw-away keys (derived by hashing, far faster than a mnemonic)."""
    if n < 0:
        raise ValueError(f"n: expected >= 0, got {n}")
    return [Account.from_key(keccak(f"{seed}/{i}".encode())) for i in range(n)]


def funded_accounts(node: Node | str, n: int, wei: int = 1_000 * ETHER,
                    seed: str = "hcfl-bench") -> list[LocalAccount]:
    """``n`` keys holding at least ``wei`` each on ``node``.

    Uses ``anvil_setBalance`` (instant, no transaction) when the node has it, otherwise sends
    the money from the node's first unlocked account (``eth_accounts[0]``, as ``geth --dev``
    has) and waits until every transfer is mined.
    """
    keys = bench_keys(n, seed)
    fund_addresses(node, [k.address for k in keys], wei)
    return keys


def fund_addresses(node: Node | str, addresses: Sequence[str], wei: int | Sequence[int],
                   funder: LocalAccount | None = None) -> None:
    """Give every address at least ``wei`` (one amount for all, or one per address):
    ``anvil_setBalance`` where the node has it, else transfers from ``funder`` (a key,
    signed here) or from the node's unlocked account, all sent before any is waited for."""
    amounts = [wei] * len(addresses) if isinstance(wei, int) else list(wei)
    if len(amounts) != len(addresses) or any(a < 0 for a in amounts):
        raise ValueError(f"wei: expected amounts >= 0, one per address, got {wei}")
    url = node.url if isinstance(node, Node) else node
    with JsonRpc(url) as rpc:
        try:
            ok = True
            for i in range(0, len(addresses), 2000):
                answers = rpc.batch([("anvil_setBalance", [a, hex(w)])
                                     for a, w in zip(addresses[i:i + 2000], amounts[i:i + 2000])])
                ok = ok and all("error" not in a for a in answers)
                if not ok:
                    break
            if ok:
                return
        except RpcError:
            pass
        if funder is not None:
            wait_for_receipts(rpc, _signed_transfers(rpc, funder, addresses, amounts))
            return
        unlocked = rpc.call("eth_accounts")
        if not unlocked:
            raise NodeUnavailable(f"{url} has neither anvil_setBalance nor an unlocked "
                                  "account to fund keys from (pass a funder key)")
        sender = unlocked[0]
        hashes = []
        for address, w in zip(addresses, amounts):
            have = int(rpc.call("eth_getBalance", [address, "latest"]), 16)
            if have < w:
                hashes.append(rpc.call("eth_sendTransaction", [
                    {"from": sender, "to": address, "value": hex(w - have)}]))
        wait_for_receipts(rpc, hashes)


def _signed_transfers(rpc: JsonRpc, funder: LocalAccount, addresses: Sequence[str],
                      amounts: Sequence[int]) -> list[str]:
    """Send each address what it lacks of its amount from ``funder``; the transactions' hashes."""
    chain_id = int(rpc.call("eth_chainId"), 16)
    nonce = int(rpc.call("eth_getTransactionCount", [funder.address, "pending"]), 16)
    price = 2 * int(rpc.call("eth_gasPrice"), 16) + 1
    hashes = []
    for address, wei in zip(addresses, amounts):
        have = int(rpc.call("eth_getBalance", [address, "latest"]), 16)
        if have >= wei:
            continue
        signed = funder.sign_transaction({"to": address, "value": wei - have, "gas": 21_000, "gasPrice": price,
                                          "nonce": nonce, "chainId": chain_id})
        hashes.append(rpc.call("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]))
        nonce += 1
    return hashes
