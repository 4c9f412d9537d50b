"""Agents that serve round after round of one deployment on a node that mines a block a second,
each with its own key (three agents in threads of this process; no proposal, so every round
is cancelled at close and refunds everyone, in seconds). Whoever comes first starts the next
round; an agent whose ticket expired, and one whose admission the organizer revoked, say so in
one line and do not spin; asked to stop, an
agent registered in the round finishes it and withdraws, one that is not exits at once; an
agent with ``rounds`` stops by itself; nothing is left in the contract and no thread is left."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import tomli_w
from eth_account import Account

from contracts import tickets
from contracts.keys import KeyOptions
from contracts.nodes import dev_accounts, fund_addresses, start_node
from hcfl_cli.agent import Agent
from hcfl_cli.agent_config import read_config
from hcfl_cli.agent_train import ensure_node_keys

PHASES = (8, 2, 2, 2, 30, 2)  # Register: four agents funded and admitted one after the other


class Runner:
    """One agent in a thread of its own, its lines kept."""

    def __init__(self, agent: Agent, lines: list[str]) -> None:
        self.agent, self.lines = agent, lines
        self.code: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.code = self.agent.run()
        except BaseException as e:  # noqa: BLE001 (reported by the test)
            self.error = e

    def said(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def _agent(tmp: Path, name: str, role: str, rpc: str, dep: Path, org: KeyOptions, *, valid_for: int,
           rounds: int = 0) -> Runner:
    from hcfl_cli.organizer import admit

    acct = Account.create()
    fund_addresses(rpc, [acct.address], 10**18, funder=dev_accounts(1)[0])
    home = tmp / name
    home.mkdir()
    pub = ensure_node_keys(home / "flower") if role == "station" else None
    admit(dep, org, home / "ticket.json", participant=acct.address, role=role, weight=1, max_proposals=None,
          node_public_key_file=pub, valid_for=valid_for, rpc=rpc)
    cfg = {"name": name, "role": role, "rpc": rpc, "ticket": "ticket.json", "deposit": 5000, "publish": "file",
           "valuation": {"value_per_label": [1] * 10} if role == "owner" else {"cost_per_round": 1},
           "agent": {"poll_s": 0.2, "max_poll_s": 1.0, "mover_delay_s": 0.5}}
    (home / "agent.toml").write_text(tomli_w.dumps(cfg))
    lines: list[str] = []
    agent = Agent(read_config(home / "agent.toml"), dep, KeyOptions(private_key=acct.key.hex()), rpc=rpc,
                  say=lines.append, rounds=rounds)
    return Runner(agent, lines)


@pytest.mark.anvil
def test_agents_serve_rounds_one_after_the_other_and_stop_without_leaving_anything(tmp_path: Path,
                                                                                  monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from contracts.chain import connect
    from contracts.client import DeploymentClient
    from contracts.deployment_file import DeploymentFile
    from hcfl_cli.organizer import deploy

    monkeypatch.setenv("HCFL_HOME", str(tmp_path / "home"))
    threads_before = threading.active_count()
    with start_node("anvil", block_time=1) as node:
        org_acct = Account.create()
        fund_addresses(node.url, [org_acct.address], 10**18, funder=dev_accounts(1)[0])
        org = KeyOptions(private_key=org_acct.key.hex())
        dep = tmp_path / "deployment.json"
        deploy(node.url, org, dep, phase_seconds=PHASES, no_show_penalty=0, min_bond=1, organizer="self",
               deposit_per_weight=10, max_proposals=1)
        # the stayer is asked to stop in round 2; the station takes part in 2 rounds; the
        # short-lived owner's ticket expires during round 1
        stayer = _agent(tmp_path, "stayer", "owner", node.url, dep, org, valid_for=3600)
        station = _agent(tmp_path, "station", "station", node.url, dep, org, valid_for=3600, rounds=2)
        brief = _agent(tmp_path, "brief", "owner", node.url, dep, org, valid_for=6)
        revoked = _agent(tmp_path, "revoked", "owner", node.url, dep, org, valid_for=3600)
        everyone = (stayer, station, brief, revoked)
        d = DeploymentClient.attach(DeploymentFile.read(dep).address, chain=connect(node.url), sender=org_acct.address)

        def wait(cond, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
            end = time.monotonic() + timeout
            while not cond():
                assert time.monotonic() < end, "\n".join(line for r in everyone for line in r.lines)
                for r in everyone:
                    assert r.error is None, r.error
                time.sleep(0.2)

        wait(lambda: revoked.said("register: mined") == 1)
        tickets.revoke(d.chain, d.chain.add_account(org_acct.key), revoked.agent.s.address)  # type: ignore[union-attr]
        wait(lambda: d.views.current_round() == 2 and d.views.phase(2) == "Propose")
        stayer.agent.stop()
        brief.agent.stop()
        revoked.agent.stop()
        for r in everyone:
            r.thread.join(timeout=60)
            assert not r.thread.is_alive() and r.error is None and r.code == 0
        assert d.views.current_round() == 2 and d.views.phase(2) == "Finalized"  # nobody opened round 3
        # round 1: all three registered, the round was cancelled (no proposal) and refunded
        for r in everyone:
            assert r.said("register: mined") >= 1 and r.said("round 1 is over for me (took part") == 1
        # the next round was started once, by whoever came first; the others lost the race
        assert sum(r.said("start_round: mined") for r in everyone) == 1
        # round 2: the expired ticket said once, the rounds after it not spinning
        assert brief.said("register: not taking part in round 2: my ticket has expired (hcfl: ticket expired)") == 1
        assert brief.said("register: mined") == 1 and len(brief.lines) < 20
        assert brief.said("stopped: nothing of mine is left open") == 1
        assert revoked.said("register: not taking part in round 2: the organizer revoked my admission "
                            "(hcfl: admission revoked)") == 1
        assert revoked.said("register: mined") == 1 and len(revoked.lines) < 20
        # asked to stop while registered, the stayer finished round 2 and withdrew its deposit
        assert stayer.said("stopping: finishing round 2, where I am registered") == 1
        assert stayer.said("round 2 is over for me (took part; 2 rounds") == 1
        assert station.said("done: took part in 2 rounds") == 1
        for rid in (1, 2):
            for r in (stayer, station) + ((brief, revoked) if rid == 1 else ()):
                assert d.participant(r.agent.s.address, rid).withdrawn  # type: ignore[union-attr]
        assert d.contract_balance() == d.pool() == 0  # nothing of anyone's is left in the contract
    end = time.monotonic() + 5
    while threading.active_count() > threads_before and time.monotonic() < end:
        time.sleep(0.1)
    assert threading.active_count() == threads_before
