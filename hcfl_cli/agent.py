"""The participant agent (``hcfl agent``): one long-running process per owner or station that
watches its round and acts at every phase with the participant's steps (SPEC section 8).

The agent keeps nothing in memory that it cannot rebuild: every loop reads the round's view
from the chain (``contracts.round_view``: phase, deadline, its own record, the events
folded), its sealed claims are in the secret store, and what it made (documents, TLS files,
the model) lies in its own folder. Killed at any moment and restarted with the same command,
it carries on.

This module is the loop and the phase dispatch; the parts live beside it:

- bidding (``hcfl_cli.bidding``): its valuation of every proposal (a callable, by default
  ``hcfl_cli.agent_config.claims_for``) cut to what its deposit covers on ``mechanism``'s shares;
- training (``hcfl_cli.agent_train.FlowerRole``): a proposer's SuperLink, the winner's training
  on Flower, a station's SuperNode on its own data;
- judging (``hcfl_cli.judging``): an owner's own measurement of the model (a callable, by
  default ``hcfl_cli.agent_train.measure``) against the promised accuracy.

At each phase it does what the participant's step says, through ``hcfl_cli.participant``
(each step reads the chain first, so a repeated step is "already done"): Register with its
ticket and deposit (a station with its node public key); Propose (an owner with a
``[proposal]``: its description document, with its SuperLink's address and CA hash, published
first); Commit its valuation of every document it fetched and checked against the chain (the
secret stored before the broadcast); Reveal from the secret store; in Train settle and
withdraw, the winner trains, publishes the model and reports (which ends the phase at once),
a station runs its SuperNode; in Vote an owner other than the winner judges the model; once
Finalized it withdraws what is left (a released bond; a station of a bonus deployment, SPEC
section 9, its bonus) and exits.

It keeps the round moving: after a deadline it sends the phase's mover (``advance``,
``close`` or ``finalize``) after a random delay; a lost race (someone else was first) counts
as done. It prints one line per action, prefixed with its name, and polls with back-off.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.commitments import ZERO32
from contracts.constants import BOND_RELEASED, BOND_SLASHED, BOND_WITHDRAWN, ROLE_OWNER, ROLE_STATION, STATUS_BONUS
from contracts.keys import KeyOptions
from contracts.round_view import RoundView
from contracts.transport import node_error
from hcfl_cli import participant as pt
from hcfl_cli.agent_config import AgentConfig, claims_for
from hcfl_cli.agent_train import FlowerRole, ensure_node_keys
from hcfl_cli.bidding import Valuation, bid
from hcfl_cli.documents import Description, DocumentError, FolderServer, fetch
from hcfl_cli.judging import Judge, judge_report

RESULT_FILE = "agent.json"
"""What the agent measured, voted and was paid, written to its folder when it ends."""
NODE_ERRORS = (ConnectionError, OSError, TimeoutError)
View = RoundView
"""The round as the chain has it at one poll (the name the agent gave it before)."""


@dataclass
class Memory:
    """What the agent measured and did (its result file); rebuilt from the chain on a restart
    except for the measurements, which are re-made."""

    name: str
    role: str
    address: str
    index: int | None = None
    measured_accuracy: float | None = None
    promised_accuracy_bps: int | None = None
    punish: bool | None = None
    refused: str | None = None
    trained: dict[str, Any] | None = None
    claims: list[str] = field(default_factory=list)
    max_rss_kb: int = 0
    actions: int = 0


class Agent:
    """One participant's agent (see the module docstring). ``value``: its valuation (config,
    documents, their files -> claims); ``judge``: its measurement of a model (file, data
    folder, labels -> accuracy)."""

    def __init__(self, cfg: AgentConfig, deployment: Path, keys: KeyOptions, *, rpc: str,
                 say: Callable[[str], None] | None = None, expect_bonus_bps: int | None = None,
                 value: Valuation = claims_for, judge: Judge | None = None) -> None:
        self.cfg = cfg
        self.expect_bonus_bps = expect_bonus_bps
        self.bonus_bps = 0  # the deployment's station bonus (SPEC section 9), read at attach
        self.deployment = deployment
        self.keys = keys
        self.rpc = rpc
        self.value = value
        self.judge = judge
        self._print = say or (lambda line: print(line, flush=True))
        self.rng = random.Random()
        self.s: pt.Session | None = None
        self.server: FolderServer | None = None
        self.mem: Memory | None = None
        self._move_at: dict[tuple[str, int, str], float] = {}
        self._said: set[str] = set()
        self.work = cfg.work
        self.work.mkdir(parents=True, exist_ok=True)
        self.flower = FlowerRole(cfg, say=self.say, say_once=self.say_once, document=self.document)

    # -- output -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self._print(f"[{self.cfg.name}] {text}")

    def say_once(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.say(text)

    def said_step(self, r: pt.StepResult) -> None:
        for note in r.notes:
            self.say(f"{r.command}: {note}")
        for a in r.already:
            self.say_once(f"{r.command}: already done: {a}")
        for t in r.sent:
            self.say(f"{t.fn}: mined, gas {t.gas}" + (f": {t.note}" if t.note else ""))
            if self.mem:
                self.mem.actions += 1

    # -- the loop ---------------------------------------------------------------------------
    def connect(self) -> pt.Session:
        """The session, once the deployment file is there and the node answers (the key is
        decrypted first, once)."""
        keys = KeyOptions.of(self.keys.load())
        while not self.deployment.exists():
            self.say_once(f"waiting for the deployment file {self.deployment}")
            time.sleep(0.5)
        while True:
            try:
                s = pt.Session(self.rpc, self.deployment, keys, resend_after=pt.env_resend_after())
                break
            except Exception as e:  # noqa: BLE001 (only a node's failure is retried)
                if not isinstance(e, NODE_ERRORS) and node_error(e, self.rpc) is None:
                    raise
                self.say_once(f"node {self.rpc} unreachable ({e}); retrying")
                time.sleep(2.0)
        self.bonus_bps = s.d.bonus_bps()
        if self.expect_bonus_bps is not None and self.bonus_bps != self.expect_bonus_bps:
            raise ValueError(f"--bonus-bps: the deployment pays a station bonus of {self.bonus_bps} bps, "
                             f"not the {self.expect_bonus_bps} this agent takes part for")
        bonus = f", station bonus {self.bonus_bps} bps" if self.bonus_bps else ""
        self.say(f"attached to {s.file.address} on chain {s.file.chain_id} as {s.address}, round {s.round_id}{bonus}")
        return s

    def run(self) -> int:
        """Act until the round is finalized and this participant has taken out what is its."""
        self._job = self.describe_my_proposal()
        self.s = s = self.connect()
        self.mem = Memory(self.cfg.name, self.cfg.role, s.address)
        if self.cfg.publish == "http":
            self.server = FolderServer(self.work / "public", self.cfg.http_host, self.cfg.http_port).start()
        interval = self.cfg.poll_s
        try:
            while True:
                v: View | None = None
                try:
                    v = self.view()
                    acted = self.act(v)
                    if self.finished(v):
                        break
                except DocumentError as e:
                    self.say_once(str(e))
                    acted = False
                except Exception as e:  # noqa: BLE001 (only a node's failure is retried)
                    if not isinstance(e, NODE_ERRORS) and node_error(e, self.rpc) is None:
                        raise
                    self.say_once(f"node unreachable ({type(e).__name__}: {e}); retrying")
                    acted = False
                interval = self.cfg.poll_s if acted else min(self.cfg.max_poll_s, interval * 2)
                time.sleep(self._sleep_for(interval, v))
        finally:
            self.flower.stop()
            if self.server is not None:
                self.server.stop()
            self.write_result()
        self.say("done")
        return 0

    def _sleep_for(self, interval: float, v: View | None) -> float:
        """The back-off, cut short when a deadline or a planned move comes sooner."""
        waits = [interval]
        if v is not None and not v.over and v.phase != "Finalized":
            assert v.deadline is not None and v.now is not None
            waits.append(max(0.2, v.deadline - v.now + 0.2))
        now = time.monotonic()
        waits += [max(0.1, t - now) for t in self._move_at.values() if t > now]
        return min(waits)

    def view(self) -> View:
        assert self.s is not None
        return self.s.round()

    def finished(self, v: View) -> bool:
        me = v.me
        assert me is not None
        if v.phase != "Finalized" or (me.role and not me.withdrawn) or self.owes_bonus(v):
            return False
        return all(self.bond_state(p.index) in (BOND_WITHDRAWN, BOND_SLASHED) for p in self.mine(v))

    def mine(self, v: View) -> tuple[Any, ...]:
        """This participant's proposals in round ``v``."""
        assert self.s is not None
        return v.proposals_of(self.s.address)

    def bond_state(self, index: int) -> int:
        assert self.s is not None
        return self.s.d.proposal(index).bond_state

    # -- one poll's actions -------------------------------------------------------------------
    def act(self, v: View) -> bool:
        """Do what this phase asks of this participant; True when something was sent or done."""
        from contracts.chain import Reverted

        s, me = self.s, v.me
        assert s is not None and self.mem is not None and me is not None
        if me.role:
            self.mem.index = int(me.index)
        try:
            if v.phase == "Register":
                if not me.role and not v.over:
                    return self.step(self.register)
                return self.move(v)
            if not me.role:
                self.say_once(f"not registered in round {v.round_id}: watching")
                return self.move(v)
            if v.phase == "Propose":
                done = False
                if self.cfg.proposal is not None and not v.over and not self.mine(v):
                    done = self.step(self.propose)
                return done or self.move(v)
            if v.phase == "Commit":
                if me.commitment == ZERO32 and not v.over:
                    return self.step(lambda: self.commit(v))
                return self.move(v)
            if v.phase == "Reveal":
                if not me.revealed and not v.over:
                    return self.step(lambda: pt.reveal(s))
                self.flower.prepare_link(v, s.address)
                return self.move(v)
            acted = False
            if not me.withdrawn:
                acted = self.step(lambda: pt.withdraw(s))
            if v.phase == "Train":
                if not self.is_winner(v):
                    self.flower.stop_link()
                return self.train_phase(v) or acted
            self.flower.stop_station()
            self.flower.stop_link()
            if v.phase == "Vote":
                if me.role == ROLE_OWNER and not me.voted and not v.over and not self.is_winner(v):
                    acted = self.vote(v) or acted
                return acted or self.move(v)
            # Finalized
            if any(self.bond_state(p.index) == BOND_RELEASED for p in self.mine(v)):
                acted = self.step(lambda: pt.withdraw(s, bond=True)) or acted
            if self.owes_bonus(v):
                acted = self.step(lambda: pt.withdraw(s, bonus=True)) or acted
            return acted
        except Reverted as e:
            self.say(f"{e.fn}: refused by the contract: {e.reason}")
            return True

    def step(self, fn: Callable[[], pt.StepResult]) -> bool:
        """Run one participant step, print it; a refusal or a phase that moved on is printed once."""
        from contracts.chain import Reverted

        try:
            r = fn()
        except Reverted as e:
            self.say(f"{e.fn}: refused by the contract: {e.reason}")
            return True
        except DocumentError:
            raise
        except ValueError as e:
            self.say_once(f"cannot act yet: {e}")
            return False
        self.said_step(r)
        return bool(r.sent)

    def move(self, v: View) -> bool:
        """The phase's mover (``advance``/``close``/``finalize``) once its deadline passed,
        after a random delay; a lost race counts as done."""
        from contracts.chain import Reverted

        fn = v.mover
        if not (fn and v.over):
            return False
        key = (fn, v.round_id, str(v.phase))
        now = time.monotonic()
        if key not in self._move_at:
            self._move_at[key] = now + self.rng.uniform(0, self.cfg.mover_delay_s)
            return False
        if now < self._move_at[key]:
            return False
        s = self.s
        assert s is not None and v.phase is not None
        try:
            r = pt.move(s, v.phase)
        except Reverted as e:
            self.say_once(f"{fn} from {v.phase}: someone else was first (mine was refused: "
                          f"{e.reason.split(' (transaction')[0]})")
            r = None
        except ValueError as e:
            self.say_once(f"{fn} from {v.phase}: someone else was first ({e})")
            r = None
        if r is not None and r.sent:
            self.said_step(r)
        elif r is not None:
            self.say_once(f"{fn} from {v.phase}: someone else was first")
        self._move_at[key] = float("inf")
        return True

    # -- register, propose, commit --------------------------------------------------------------
    def register(self) -> pt.StepResult:
        s = self.s
        assert s is not None
        pub = None
        if self.cfg.role == "station":
            pub = self.cfg.flower / "node.pub"
            if not pub.exists():
                raise ValueError(f"flower: no node public key at {pub} (the station's Flower key pair)")
        return pt.register(s, ticket=self.cfg.ticket, deposit=self.cfg.deposit, role=self.cfg.role,
                           node_public_key_file=pub)

    def publish(self, path: Path) -> str:
        """The URI of a file in the agent's public folder."""
        if self.server is not None:
            return self.server.url_of(path)
        return path.resolve().as_uri()

    def describe_my_proposal(self) -> Any:
        """An owner's proposal described from its data (classes, input, plugin) in a thread while it
        waits to attach: a torchvision model's description loads torch, seconds a Propose phase lacks."""
        p = self.cfg.proposal
        if p is None:
            return None
        from concurrent.futures import ThreadPoolExecutor

        from hcfl_cli import agent_train

        pool = ThreadPoolExecutor(1, thread_name_prefix="hcfl-describe")
        job = pool.submit(agent_train.describe_job_fields, p.model, p.dataset, p.labels, self.cfg.data, p.param_count)
        pool.shutdown(wait=False)
        return job

    def propose(self) -> pt.StepResult:
        from hcfl_cli.agent_train import describe_proposal

        s, p = self.s, self.cfg.proposal
        assert s is not None and p is not None
        doc, path = describe_proposal(self.cfg, s.round_id, s.address, self.publish, self._job.result())
        self.say(f"propose: {doc.model} on {doc.dataset}, labels {list(doc.target_labels)}, promised accuracy "
                 f"{p.accuracy_bps / 100:.2f}%, budget {p.budget} wei, bond {p.bond} wei, {doc.param_count} parameters, "
                 f"{p.global_rounds} global rounds, SuperLink {doc.superlink['fleet_address']}")
        return pt.propose(s, budget=p.budget, bond=p.bond, document=path, uri=self.publish(path),
                          accuracy_bps=p.accuracy_bps, training_rounds=p.global_rounds, label_mask=doc.label_mask,
                          param_count=doc.param_count)

    def document(self, v: View, index: int) -> tuple[Description, Path]:
        """Proposal ``index``'s description document, fetched once and checked against its
        content hash on chain."""
        p = v.proposals[index]
        dest = self.work / "documents" / f"round{v.round_id}-proposal{index}.json"
        fetch(p.uri, p.content_hash.hex(), dest, what=f"proposal {index}'s document")
        return Description.from_bytes(dest.read_bytes(), f"proposal {index}'s document"), dest

    def commit(self, v: View) -> pt.StepResult:
        from contracts.secret_store import SecretStore

        s, mem = self.s, self.mem
        assert s is not None and mem is not None
        if SecretStore(s.key).load(s.file.chain_id, s.file.address, s.round_id) is not None:
            return pt.commit(s, None)  # stored before a crash, maybe never sent: commit sends it
        from hcfl_cli.agent_train import cannot_use

        docs: list[Description | None] = []
        paths: list[Path | None] = []
        refused: dict[int, str] = {}
        for i in range(len(v.proposals)):
            try:
                d, path = self.document(v, i)
            except DocumentError as e:
                self.say(f"{e}: valued as one I cannot {'train' if self.cfg.role == 'station' else 'judge'}")
                d, path = None, None
            else:
                why = cannot_use(d, self.cfg.data, self.cfg.role)  # a model or data it cannot use, likewise
                if why is not None:
                    refused[i] = f"proposal {i}: {why}"
                    d, path = None, None
            docs.append(d)
            paths.append(path)
        b = bid(self.cfg, v, docs, paths, value=self.value, bonus_bps=self.bonus_bps)
        verb = "train" if self.cfg.role == "station" else "judge"
        for i, why in refused.items():
            self.say(f"{why}: valued as one I cannot {verb} (claim {b.claims[i]} wei)")
        cut = list(b.claims)
        if b.cut:
            self.say(f"commit: claims {list(b.valued)} cut to {cut}, what the deposit covers")
        mem.claims = [str(c) for c in cut]
        self.say(f"commit: claims {cut} wei for proposals 0..{len(cut) - 1} (sealed)")
        return pt.commit(s, cut)

    # -- train ----------------------------------------------------------------------------------
    def is_winner(self, v: View) -> bool:
        w = v.winning_proposal
        return w is not None and self.s is not None and w.proposer == self.s.address

    def train_phase(self, v: View) -> bool:
        me = v.me
        assert me is not None
        if v.report is None and v.over:
            return self.move(v)
        if v.winner is None:
            return False
        if self.is_winner(v) and v.report is None:
            return self.train_and_report(v)
        if me.role == ROLE_STATION and v.report is None:
            return self.flower.start_station(v)
        if me.role == ROLE_OWNER:
            self.flower.warm_up()
        return False

    def train_and_report(self, v: View) -> bool:
        s, mem = self.s, self.mem
        assert s is not None and mem is not None
        failed_before = self.flower.failed
        trained = self.flower.train(v, s.address)
        if trained is None:
            return not failed_before  # a failure just now was an action; an old one is not
        if trained.dropped:
            self.say(f"stations {list(trained.dropped)} were lost during training and dropped from the later rounds")
        acc_bps = round(trained.accuracy * 10_000)
        if self.cfg.testing.over_report_bps is not None:
            acc_bps = self.cfg.testing.over_report_bps
        mem.trained = {"accuracy": trained.accuracy, "reported_bps": acc_bps, "sha256": trained.sha256,
                       "contributions": list(trained.contributions), "dropped": list(trained.dropped),
                       "engine": trained.engine}
        uri = self.publish(trained.model)
        self.say(f"report: model sha256 {trained.sha256[:16]}..., accuracy {acc_bps / 100:.2f}%, contributions "
                 f"{list(trained.contributions)}, at {uri}")
        ok = self.step(lambda: pt.report(s, model=trained.model, uri=uri, accuracy_bps=acc_bps,
                                         contributions=list(trained.contributions)))
        if self.cfg.testing.tamper_model:
            trained.model.write_bytes(trained.model.read_bytes() + b"tampered")
            self.say("testing: the published model file now differs from the reported one")
        return ok

    # -- vote, finalize -------------------------------------------------------------------------
    def vote(self, v: View) -> bool:
        s, mem = self.s, self.mem
        assert s is not None and mem is not None and v.winning_proposal is not None and v.winner is not None
        promised = v.winning_proposal.accuracy_bps
        mem.promised_accuracy_bps = promised
        doc = None if v.report is None else self.document(v, v.winner)[0]
        if doc is not None and self.cfg.data is None:
            raise ValueError("data: an owner needs its held-out data folder to judge the model")

        def fetch_model() -> Path:
            assert v.report is not None
            dest = self.work / "documents" / f"round{v.round_id}-model.pt"
            return fetch(v.report.model_uri, v.report.model_hash.hex(), dest, what="the model")

        if self.judge is None:
            from hcfl_cli.agent_train import measure

            self.judge = measure
        verdict = judge_report(promised_bps=promised, report=v.report, fetch_model=fetch_model, judge=self.judge,
                               data=self.cfg.data or Path("."), labels=doc.target_labels if doc else ())
        mem.measured_accuracy, mem.refused, mem.punish = verdict.measured, verdict.refused, verdict.punish
        self.say(f"vote: punish {'yes' if verdict.punish else 'no'}: {verdict.why}")
        return self.step(lambda: pt.vote(s, verdict.punish))

    def owes_bonus(self, v: View) -> bool:
        """A station of a deployment with a bonus whose bonus is not yet credited (it is, once
        the round is finalized: SPEC section 9, paid even after the settlement was withdrawn)."""
        me = v.me
        assert me is not None
        return (self.bonus_bps > 0 and me.role == ROLE_STATION and v.phase == "Finalized"
                and not me.status & STATUS_BONUS)

    def write_result(self) -> None:
        if self.mem is None:
            return
        self.mem.max_rss_kb = _vm_hwm_kb()
        (self.work / RESULT_FILE).write_text(json.dumps(asdict(self.mem), indent=1))


def _vm_hwm_kb() -> int:
    """This process's peak resident memory (kB) since it started (not its parent's before exec)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run_agent(cfg: AgentConfig, deployment: Path, keys: KeyOptions, rpc: str, *,
              expect_bonus_bps: int | None = None) -> int:
    """``hcfl agent``: run until done; SIGTERM stops it cleanly (its Flower processes too)."""

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if cfg.role == "station":
        ensure_node_keys(cfg.flower)
    return Agent(cfg, deployment, keys, rpc=rpc, expect_bonus_bps=expect_bonus_bps).run()


__all__ = ["Agent", "Memory", "View", "ensure_node_keys", "run_agent"]
