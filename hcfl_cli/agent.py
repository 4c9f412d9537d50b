"""The participant agent (``hcfl agent``): one long-running process per owner or station that
serves every round of its deployment (SPEC section 8), until it is stopped or has taken part
in ``--rounds N`` rounds.

The agent keeps nothing in memory that it cannot rebuild: every loop reads the round's view
from the chain (``contracts.round_view``: phase, deadline, its own record, the events
folded), its sealed claims are in the secret store, and what it made (documents, TLS files,
the model) lies in its own folder. Killed at any moment and restarted with the same command,
it carries on: at start it reads the deployment's whole history once, finishes what is left
of its own in earlier rounds (a payout, a bond, a bonus), learns which of its proposals were
trained, and counts the rounds it took part in.

This module is the loop across rounds; the parts live beside it:

- one round (``hcfl_cli.agent_round.RoundAgent``): its phase actions, a new one per round;
- bidding (``hcfl_cli.bidding``): its valuation of every proposal (a callable, by default
  ``hcfl_cli.agent_config.claims_for``) cut to what its deposit covers on ``mechanism``'s
  shares, the round's subsidy taken off the owners' shares;
- proposals over time (``hcfl_cli.agent_proposals``): what an owner still wants trained;
- training (``hcfl_cli.agent_train.FlowerRole``): a proposer's SuperLink, the winner's training
  on Flower, a station's SuperNode on its own data;
- judging (``hcfl_cli.judging``): an owner's own measurement of the model (a callable, by
  default ``hcfl_cli.agent_train.measure``) against the promised accuracy;
- its record (``hcfl_cli.agent_record``): ``work/agent.json``, one entry per round.

Between rounds: once a round is finalized and nothing of its own is left in it, it waits for
the next; whoever comes first after a random delay calls ``start_round`` (a lost race counts
as done, as for ``advance``), and the agent registers again with its ticket, read afresh. A
participant that leaves stops its agent: it registers no more, with nothing of its own left
in the contract. SIGTERM (or Ctrl-C) asks it to stop: it registers in no new round, finishes
the round it is registered in (a reveal not made, a training not reported or a payout not
withdrawn would lose money), withdraws what it can and exits 0; a second signal stops it at
once (a restart carries on).

It prints one line per action, prefixed with its name, and polls with back-off; it reads the
logs of the rounds it serves from the first block that can hold them, so a poll does not
grow with the deployment's history.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from contracts.keys import KeyOptions
from contracts.round_view import RoundView, fold_rounds
from contracts.transport import node_error
from hcfl_cli import participant as pt
from hcfl_cli.agent_config import AgentConfig, claims_for
from hcfl_cli.agent_proposals import proposed_in, trained_in
from hcfl_cli.agent_record import RESULT_FILE, Results, RoundRecord, measure
from hcfl_cli.agent_round import RoundAgent
from hcfl_cli.agent_train import ensure_node_keys
from hcfl_cli.bidding import Valuation
from hcfl_cli.documents import DocumentError, FolderServer
from hcfl_cli.judging import Judge

STATE_FILE = "agent-state.json"
"""The first block of the current round's logs, kept so that a restart need not read the
deployment's whole history at every poll of that round."""
NODE_ERRORS = (ConnectionError, OSError, TimeoutError)
View = RoundView
"""The round as the chain has it at one poll (the name the agent gave it before)."""


class Agent:
    """One participant's agent (see the module docstring). ``value``: its valuation (config,
    documents, their files -> claims); ``judge``: its measurement of a model (file, data
    folder, labels -> accuracy); ``rounds``: stop after taking part in this many rounds of
    the deployment (counted from the chain; 0: until stopped)."""

    def __init__(self, cfg: AgentConfig, deployment: Path, keys: KeyOptions, *, rpc: str,
                 say: Callable[[str], None] | None = None, expect_bonus_bps: int | None = None,
                 value: Valuation = claims_for, judge: Judge | None = None, rounds: int = 0) -> None:
        if rounds < 0:
            raise ValueError(f"--rounds: at least 0, got {rounds}")
        self.cfg = cfg
        self.expect_bonus_bps = expect_bonus_bps
        self.bonus_bps = 0  # the deployment's station bonus (SPEC section 9), read at attach
        self.deployment = deployment
        self.keys = keys
        self.rpc = rpc
        self.value = value
        self.judge = judge
        self.rounds = rounds
        self._print = say or (lambda line: print(line, flush=True))
        self.rng = random.Random()
        self.s: pt.Session | None = None
        self.server: FolderServer | None = None
        self.results: Results | None = None
        self.round: RoundAgent | None = None
        self.stopping = False
        self.wake = threading.Event()  # set to cut a sleep short (a stop signal)
        self.past: dict[int, int] = {}  # earlier round with something of mine left -> first block of its logs
        self.taken_part: set[int] = set()  # rounds it registered in that are over for it
        self.registered_in: set[int] = set()  # every round it registered in (what ``rounds`` counts)
        self.ended: set[int] = set()
        self.trained: set[str] = set()  # its proposals (plan names) that won and were trained
        self.next_from: int | None = None  # a block before the next round's first log
        self._ticket_said: set[str] = set()
        self._stop_said = False
        self._jobs: dict[str, Any] = {}  # a proposal (its repr) -> its description being made (a Future)
        self._describer: Any = None
        self.work = cfg.work
        self.work.mkdir(parents=True, exist_ok=True)

    # -- output -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self._print(f"[{self.cfg.name}] {text}")

    def say_for_ticket(self, text: str) -> None:
        """A refused registration, said once for as long as the reason and ticket stay the same."""
        key = text.split(": ", 2)[-1]
        with contextlib.suppress(OSError, TypeError):
            key += str(Path(self.cfg.ticket).stat().st_mtime_ns)  # type: ignore[arg-type]
        if key not in self._ticket_said:
            self._ticket_said.add(key)
            self.say(text)

    def stop(self) -> None:
        """Ask the agent to stop (a signal handler calls it): see the module docstring."""
        self.stopping = True
        self.wake.set()

    # -- attach -----------------------------------------------------------------------------
    def node_failure(self, e: BaseException) -> bool:
        """Whether ``e`` is the node's failure (retried), not this agent's own (raised)."""
        return isinstance(e, NODE_ERRORS) or node_error(e, self.rpc) is not None

    def connect(self) -> pt.Session | None:
        """The session, once the deployment file is there and the node answers (the key is
        decrypted first, once); None when it was stopped while waiting."""
        keys = KeyOptions.of(self.keys.load())
        said: set[str] = set()
        while not self.deployment.exists():
            if self.stopping:
                return None
            if "file" not in said:
                said.add("file")
                self.say(f"waiting for the deployment file {self.deployment}")
            self.wake.wait(0.5)
        while True:
            try:
                s = pt.Session(self.rpc, self.deployment, keys, resend_after=pt.env_resend_after())
                break
            except Exception as e:  # noqa: BLE001 (only a node's failure is retried)
                if not self.node_failure(e):
                    raise
                if self.stopping:
                    return None
                if "node" not in said:
                    said.add("node")
                    self.say(f"node {self.rpc} unreachable ({e}); retrying")
                self.wake.wait(2.0)
        self.bonus_bps = s.d.bonus_bps()
        if self.expect_bonus_bps is not None and self.bonus_bps != self.expect_bonus_bps:
            raise ValueError(f"--bonus-bps: the deployment pays a station bonus of {self.bonus_bps} bps, "
                             f"not the {self.expect_bonus_bps} this agent takes part for")
        bonus = f", station bonus {self.bonus_bps} bps" if self.bonus_bps else ""
        self.say(f"attached to {s.file.address} on chain {s.file.chain_id} as {s.address}, round {s.round_id}{bonus}")
        return s

    def survey(self) -> None:
        """Read the deployment's history once: the earlier rounds where something of this
        participant's is left, the rounds it took part in, its proposals that were trained."""
        s = self.s
        assert s is not None
        current = s.use_round()
        s.d.events_from = s.file.block
        me = s.address
        for q, v in fold_rounds(s.d.load_events()).items():
            name = trained_in(v, me, self.work)
            if name is not None:
                self.trained.add(name)
            if q >= current or (v.member(me) is None and not v.proposals_of(me)):
                continue
            if v.member(me) is not None:
                self.registered_in.add(q)
            if _done_by_logs(v, me, self.bonus_bps):
                self.ended.add(q)
                if v.member(me) is not None:
                    self.taken_part.add(q)
            else:
                self.past[q] = s.file.block
        what = [f"took part in {len(self.taken_part)} earlier rounds"] if self.taken_part else []
        what += [f"something of mine is left in rounds {sorted(self.past)}"] if self.past else []
        what += [f"trained proposals {sorted(self.trained)}"] if self.trained else []
        if what:
            self.say("history: " + "; ".join(what))

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Serve round after round until stopped or ``rounds`` are done."""
        self.describe(self.cfg.proposals)
        s = self.connect()
        if s is None:
            self.say("stopped before attaching")
            return 0
        self.s = s
        self.results = Results.load(self.work / RESULT_FILE, self.cfg.name, self.cfg.role, s.address, s.file.address)
        if self.cfg.publish == "http":
            self.server = FolderServer(self.work / "public", self.cfg.http_host, self.cfg.http_port).start()
        interval = self.cfg.poll_s
        surveyed = False
        try:
            while True:
                v: View | None = None
                try:
                    if not surveyed:  # in the loop: a node that fails here is retried like any other read
                        self.survey()
                        surveyed = True
                    v = self.poll()
                    if v.me is not None and v.me.role:
                        self.registered_in.add(v.round_id)
                    acted = self.finish_past()  # a round just left behind is finished first
                    assert self.round is not None
                    acted = self.round.act(v) or acted
                    if self.round.finished(v):
                        self.end_round(v)
                        if self.done():
                            break
                        acted = self.start_next(v) or acted
                    elif self.done() and not (v.me is not None and v.me.role):
                        break  # stopping, or its rounds are done: nothing of its own is open
                    self.say_stopping(v)
                except DocumentError as e:
                    assert self.round is not None
                    self.round.say_once(str(e))
                    acted = False
                except Exception as e:  # noqa: BLE001 (only a node's failure is retried)
                    if not self.node_failure(e):
                        raise
                    line = f"node unreachable ({type(e).__name__}: {e}); retrying"
                    self.round.say_once(line) if self.round is not None else self.say(line)
                    acted = False
                interval = self.cfg.poll_s if acted else min(self.cfg.max_poll_s, interval * 2)
                self.wake.wait(self._sleep_for(interval, v))
                self.wake.clear()
        finally:
            if self.round is not None:
                self.round.stop()
            if self.server is not None:
                self.server.stop()
            if self._describer is not None:
                self._describer.shutdown(wait=False, cancel_futures=True)
            self.write_results()
        self.say(f"done: took part in {len(self.taken_part)} rounds" if not self.stopping else
                 f"stopped: nothing of mine is left open (took part in {len(self.taken_part)} rounds)")
        return 0

    def done(self) -> bool:
        """Stopping, or its ``rounds`` registered in, with nothing of its own left in an earlier round."""
        return not self.will_register() and not self.past

    def will_register(self) -> bool:
        """Whether it registers in a new round: not when stopping or when it has registered in
        its ``rounds``."""
        return not self.stopping and not (self.rounds and len(self.registered_in) >= self.rounds)

    def say_stopping(self, v: View) -> None:
        if self.stopping and not self._stop_said:
            self._stop_said = True
            open_ = v.me is not None and v.me.role and v.round_id not in self.ended
            self.say(f"stopping: finishing round {v.round_id}, where I am registered, then exiting" if open_ else
                     "stopping: exiting once nothing of mine is left open")

    def _sleep_for(self, interval: float, v: View | None) -> float:
        """The back-off, cut short when a deadline or a planned move comes sooner."""
        waits = [interval]
        if v is not None and not v.over and v.phase != "Finalized":
            assert v.deadline is not None and v.now is not None
            waits.append(max(0.2, v.deadline - v.now + 0.2))
        if self.round is not None:
            now = time.monotonic()
            waits += [max(0.1, t - now) for t in self.round.next_move_at()]
        return min(waits)

    def poll(self) -> View:
        """The current round as the chain has it now (a new round is entered first)."""
        s = self.s
        assert s is not None
        current = s.d.views.current_round()
        if self.round is None or current != self.round.round_id:
            self.enter_round(current)
        head = s.d.head_block()
        v = s.round()
        if v.phase != "Finalized":
            self.next_from = head  # the round is not finalized at this block: the next one starts later
        return v

    def enter_round(self, round_id: int) -> None:
        """Follow the deployment into round ``round_id``: read its logs from a block before its
        start, and begin a fresh round of actions (the old one's Flower processes stopped)."""
        s = self.s
        assert s is not None and self.results is not None
        old = self.round
        start = None
        if old is not None:
            old.stop()
            if old.round_id not in self.ended:
                self.past[old.round_id] = s.d.events_from
            if old.round_id == round_id - 1:
                start = self.next_from
        if start is None:
            start = self._saved_start(round_id)
        s.use_round(round_id)
        s.d.events_from = start
        self._save_start(round_id, start)
        self.next_from = None
        self.round = RoundAgent(self, round_id, self.results.round(round_id))
        self.round.flower.prune()
        self.say(f"round {round_id}: following it" + (f" (its logs from block {start})" if start else ""))

    def _saved_start(self, round_id: int) -> int:
        assert self.s is not None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads((self.work / STATE_FILE).read_text())
            if data["deployment"] == self.s.file.address and int(data["round"]) == round_id:
                return int(data["events_from"])
        return self.s.file.block

    def _save_start(self, round_id: int, start: int) -> None:
        assert self.s is not None
        tmp = self.work / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps({"deployment": self.s.file.address, "round": round_id, "events_from": start}))
        tmp.replace(self.work / STATE_FILE)

    @contextlib.contextmanager
    def at_round(self, round_id: int) -> Iterator[pt.Session]:
        """The session acting on an earlier round for a while."""
        s = self.s
        assert s is not None
        kept = (s.d.round_id, s.d.events_from)
        s.use_round(round_id)
        s.d.events_from = self.past.get(round_id, s.file.block)
        try:
            yield s
        finally:
            s.d.round_id, s.d.events_from = kept

    def finish_past(self) -> bool:
        """Take out what is left of this participant's in earlier rounds."""
        acted = False
        assert self.results is not None
        for q in sorted(self.past):
            ra = RoundAgent(self, q, self.results.round(q))
            with self.at_round(q) as s:
                v = s.round()
                if ra.finished(v):
                    del self.past[q]
                    self._ended(v, ra.rec)
                else:
                    acted = ra.collect(v) or acted
        return acted

    def end_round(self, v: View) -> None:
        """The current round is over for this participant: record it once."""
        if v.round_id in self.ended:
            return
        assert self.round is not None
        self.round.stop()
        self._ended(v, self.round.rec)

    def _ended(self, v: View, rec: RoundRecord) -> None:
        assert self.s is not None
        self.ended.add(v.round_id)
        me = v.member(self.s.address)
        if me is not None:
            self.taken_part.add(v.round_id)
        rec.ended, rec.subsidy = True, v.subsidy
        rec.proposed = proposed_in(v, self.s.address, self.work)
        name = trained_in(v, self.s.address, self.work)
        if name is not None:
            self.trained.add(name)
            rec.trained_plan = name
        measure(rec)
        self.write_results()
        part = "took part" if me is not None else "did not take part"
        self.say(f"round {v.round_id} is over for me ({part}; {len(self.taken_part)} rounds taken part in): "
                 f"memory {rec.rss_kb // 1024} MiB, {rec.open_fds} open files, {rec.threads} threads, "
                 f"{rec.children} child processes")

    def start_next(self, v: View) -> bool:
        """After a finalize, open the next round (whoever comes first; a lost race is done), if
        it will take part in it: an agent that only watches (its ticket refused) opens none."""
        assert self.round is not None and self.s is not None
        if not self.will_register() or self.round.refused:
            return False
        s, r = self.s, v.round_id
        return self.round.move(v, "start_round", send=lambda: pt.start_round(s, after=r))

    # -- what the parts share ---------------------------------------------------------------
    def describe(self, plans: Any) -> None:
        """Describe each proposal's model and data from this owner's own folder (its classes,
        input, plugin, parameter count) in a thread, ahead of the Propose phase: a torchvision
        model's description loads torch, seconds a Propose phase lacks. Once per proposal."""
        from concurrent.futures import ThreadPoolExecutor

        from hcfl_cli import agent_train

        for p in plans:
            if repr(p) in self._jobs:
                continue
            if self._describer is None:
                self._describer = ThreadPoolExecutor(1, thread_name_prefix="hcfl-describe")
            self._jobs[repr(p)] = self._describer.submit(agent_train.describe_job_fields, p.model, p.dataset,
                                                         p.labels, self.cfg.data, p.param_count)

    def job(self, plan: Any) -> dict[str, Any]:
        """Proposal ``plan``'s description (``describe``), waited for."""
        self.describe([plan])
        return self._jobs[repr(plan)].result()


    def publish(self, path: Path) -> str:
        """The URI of a file in the agent's public folder."""
        if self.server is not None:
            return self.server.url_of(path)
        return path.resolve().as_uri()

    def judge_fn(self) -> Judge:
        if self.judge is None:
            from hcfl_cli.agent_train import measure as measure_model

            self.judge = measure_model
        return self.judge

    def write_results(self) -> None:
        if self.results is not None:
            self.results.save(self.work / RESULT_FILE)


def _done_by_logs(v: RoundView, me: str, bonus_bps: int) -> bool:
    """Whether the logs alone show that nothing of ``me``'s is left in round ``v`` (withdrawn,
    every bond withdrawn or slashed). A station of a bonus deployment is always checked on
    the chain (its bonus is a second withdrawal)."""
    m = v.member(me)
    if v.finalized is None or (m is not None and (m.withdrawn is None or (bonus_bps and m.role == "station"))):
        return False
    for p in v.proposals_of(me):
        if p.index not in v.bond_withdrawals and not (v.slashed and v.winner == p.index):
            return False
    return True


def run_agent(cfg: AgentConfig, deployment: Path, keys: KeyOptions, rpc: str, *,
              expect_bonus_bps: int | None = None, rounds: int = 0) -> int:
    """``hcfl agent``: serve rounds until stopped or ``rounds`` are done. SIGTERM or Ctrl-C
    stops it cleanly (exit 0); a second one at once (KeyboardInterrupt)."""
    agent = Agent(cfg, deployment, keys, rpc=rpc, expect_bonus_bps=expect_bonus_bps, rounds=rounds)

    def on_signal(signum: int, _frame: Any) -> None:
        if agent.stopping:
            raise KeyboardInterrupt
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if cfg.role == "station":
        ensure_node_keys(cfg.flower)
    return agent.run()


__all__ = ["Agent", "RoundAgent", "RoundRecord", "View", "ensure_node_keys", "run_agent"]
