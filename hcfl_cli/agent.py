"""The participant agent (``hcfl agent``): one long-running process per owner or station that
watches its round and acts at every phase with the participant commands (SPEC section 8).

The agent keeps nothing in memory that it cannot rebuild: every loop reads the round from
the chain (phase, deadline, its own record, the events), its sealed claims are in the secret
store, and what it made (documents, TLS files, the model) lies in its own folder. Killed at
any moment and restarted with the same command, it carries on.

At each phase it does what the participant's step says, through ``hcfl_cli.participant``
(each step reads the chain first, so a repeated step is "already done"):

- Register: ``register`` with its ticket, deposit and (a station) its Flower node public key.
- Propose: an owner with a ``[proposal]`` writes its description document (its SuperLink's
  fleet address and CA certificate hash in it), publishes it and ``propose``\\ s.
- Commit: fetches every proposal's document (refusing one whose sha256 is not the chain's),
  values each with its valuation, and ``commit``\\ s (the secret stored before the broadcast).
- Reveal: ``reveal`` from the secret store.
- Train: settles and withdraws its payout; the winner trains (``hcfl_cli.agent_train``),
  publishes the model and ``report``\\ s; a station runs its authenticated SuperNode on its own
  data until the phase ends.
- Vote: an owner other than the winner fetches the model, checks its hash against the
  report, measures it on its own held-out set and votes to punish exactly when its own
  measurement is below the promised accuracy (or when no model can be verified).
- Finalized: withdraws what is left (payout, released bond; a station of a deployment with a
  bonus, SPEC section 9, credits and withdraws its bonus) and exits. A station's claims leave
  room in its deposit for the bonus part of its share (``mechanism.station_bonus_hold``).

It keeps the round moving: after a deadline it calls ``advance``, ``close`` or ``finalize``
after a random delay; a lost race (someone else was first) counts as done. It prints one
line per action, prefixed with its name, and polls with back-off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.constants import BOND_RELEASED, BOND_SLASHED, BOND_WITHDRAWN, ROLE_OWNER, ROLE_STATION, STATUS_BONUS
from hcfl_cli import participant as pt
from hcfl_cli.agent_config import AgentConfig, claims_or_refusals
from hcfl_cli.documents import Description, DocumentError, FolderServer, fetch

RESULT_FILE = "agent.json"
"""What the agent measured, voted and was paid, written to its folder when it ends."""
NODE_ERRORS = (ConnectionError, OSError, TimeoutError)


@dataclass(frozen=True)
class View:
    """The round as the chain has it at one poll."""

    round_id: int
    phase: str
    deadline: int
    now: int
    me: Any  # contracts.records.ParticipantRecord
    proposals: tuple[dict[str, Any], ...]  # the Proposed events' arguments, by index
    registered: tuple[dict[str, Any], ...]  # the Registered events' arguments
    winner: int | None
    report: dict[str, Any] | None  # the TrainingReported event's arguments
    finalized: dict[str, Any] | None

    @property
    def over(self) -> bool:
        return self.now >= self.deadline


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
    """One participant's agent (see the module docstring)."""

    def __init__(self, cfg: AgentConfig, deployment: Path, keys: pt.KeyOptions, *, rpc: str,
                 say: Callable[[str], None] | None = None, expect_bonus_bps: int | None = None) -> None:
        self.cfg = cfg
        self.expect_bonus_bps = expect_bonus_bps
        self.bonus_bps = 0  # the deployment's station bonus (SPEC section 9), read at attach
        self.deployment = deployment
        self.keys = keys
        self.rpc = rpc
        self._print = say or (lambda line: print(line, flush=True))
        self.rng = random.Random()
        self.s: pt.Session | None = None
        self.server: FolderServer | None = None
        self.station_node: Any = None
        self.mem: Memory | None = None
        self._move_at: dict[tuple[str, int, str], float] = {}
        self._said: set[str] = set()
        self._train_failed = False
        self.link: Any = None  # agent_train.ReadySuperLink of a proposer, once the claims are sealed
        self.work = cfg.work
        self.work.mkdir(parents=True, exist_ok=True)

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
        key = self.keys.load()
        keys = pt.KeyOptions(private_key=key.key.hex())
        while not self.deployment.exists():
            self.say_once(f"waiting for the deployment file {self.deployment}")
            time.sleep(0.5)
        while True:
            try:
                s = pt.Session(self.rpc, self.deployment, keys, resend_after=pt.env_resend_after())
                break
            except NODE_ERRORS as e:
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
                try:
                    v = self.view()
                    acted = self.act(v)
                    if self.finished(v):
                        break
                except NODE_ERRORS as e:
                    self.say_once(f"node unreachable ({type(e).__name__}: {e}); retrying")
                    acted, v = False, None
                except DocumentError as e:
                    self.say_once(str(e))
                    acted, v = False, None
                interval = self.cfg.poll_s if acted else min(self.cfg.max_poll_s, interval * 2)
                time.sleep(self._sleep_for(interval, v))
        finally:
            self.stop_station()
            if self.link is not None:
                with contextlib.suppress(Exception):
                    self.link.stop()
            if self.server is not None:
                self.server.stop()
            self.write_result()
        self.say("done")
        return 0

    def _sleep_for(self, interval: float, v: View | None) -> float:
        """The back-off, cut short when a deadline or a planned move comes sooner."""
        waits = [interval]
        if v is not None and not v.over and v.phase != "Finalized":
            waits.append(max(0.2, v.deadline - v.now + 0.2))
        now = time.monotonic()
        waits += [max(0.1, t - now) for t in self._move_at.values() if t > now]
        return min(waits)

    def view(self) -> View:
        s = self.s
        assert s is not None
        events = s.d.load_events()
        r = s.round_id
        props = tuple(e.args for e in events if e.name == "Proposed" and int(e.args["round_id"]) == r)
        regs = tuple(e.args for e in events if e.name == "Registered" and int(e.args["round_id"]) == r)
        closed = [e.args for e in events if e.name == "Closed" and int(e.args["round_id"]) == r]
        report = [e.args for e in events if e.name == "TrainingReported" and int(e.args["round_id"]) == r]
        fin = [e.args for e in events if e.name == "Finalized" and int(e.args["round_id"]) == r]
        winner = int(closed[-1]["winner"]) if closed and closed[-1]["has_winner"] else None
        return View(r, s.phase(), s.deadline(), s.chain.now(), s.me(), props, regs, winner,
                    report[-1] if report else None, fin[-1] if fin else None)

    def finished(self, v: View) -> bool:
        if v.phase != "Finalized":
            return False
        if v.me.role and not v.me.withdrawn:
            return False
        if self.owes_bonus(v):
            return False
        s = self.s
        assert s is not None
        for p in v.proposals:
            if p["proposer"] == s.address and s.d.proposal(int(p["index"])).bond_state not in (BOND_WITHDRAWN,
                                                                                                 BOND_SLASHED):
                return False
        return True

    # -- one poll's actions -------------------------------------------------------------------
    def act(self, v: View) -> bool:
        """Do what this phase asks of this participant; True when something was sent or done."""
        from contracts.chain import Reverted

        s = self.s
        assert s is not None and self.mem is not None
        me = v.me
        if me.role:
            self.mem.index = int(me.index)
        try:
            if v.phase == "Register":
                if not me.role and not v.over:
                    return self.step(self.register)
                return v.over and self.move("advance", v)
            if not me.role:
                self.say_once(f"not registered in round {v.round_id}: watching")
                return self.keep_moving(v)
            if v.phase == "Propose":
                done = False
                if self.cfg.proposal is not None and not v.over and not self.proposed(v):
                    done = self.step(self.propose)
                return done or (v.over and self.move("advance", v))
            if v.phase == "Commit":
                if me.commitment == pt.ZERO32 and not v.over:
                    return self.step(lambda: self.commit(v))
                return v.over and self.move("advance", v)
            if v.phase == "Reveal":
                if not me.revealed and not v.over:
                    return self.step(lambda: pt.reveal(s))
                self.prepare_link(v)
                return v.over and self.move("close", v)
            acted = False
            if not me.withdrawn:
                acted = self.step(lambda: pt.withdraw(s))
            if v.phase == "Train" and not self.is_winner(v):
                self.stop_link()
            if v.phase == "Train":
                return self.train_phase(v) or acted
            self.stop_station()
            self.stop_link()
            if v.phase == "Vote":
                if me.role == ROLE_OWNER and not me.voted and not v.over and not self.is_winner(v):
                    acted = self.vote(v) or acted
                return acted or (v.over and self.move("finalize", v))
            # Finalized
            if self.has_released_bond(v):
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

    def keep_moving(self, v: View) -> bool:
        step = {"Register": "advance", "Propose": "advance", "Commit": "advance", "Reveal": "close",
                "Train": "advance", "Vote": "finalize"}.get(v.phase)
        return bool(step and v.over and self.move(step, v))

    def move(self, fn: str, v: View) -> bool:
        """``advance``/``close``/``finalize`` after the deadline, after a random delay; a lost
        race counts as done."""
        from contracts.chain import Reverted

        key = (fn, v.round_id, v.phase)
        now = time.monotonic()
        if key not in self._move_at:
            self._move_at[key] = now + self.rng.uniform(0, self.cfg.mover_delay_s)
            return False
        if now < self._move_at[key]:
            return False
        s = self.s
        assert s is not None
        try:
            if fn == "advance":
                r = pt.advance(s, v.phase)
            elif fn == "close":
                r = pt.close(s)
            else:
                r = pt.finalize(s)
        except Reverted as e:
            self.say_once(f"{fn} from {v.phase}: someone else was first (mine was refused: "
                          f"{e.reason.split(' (transaction')[0]})")
            self._move_at[key] = float("inf")
            return True
        except ValueError as e:
            self.say_once(f"{fn} from {v.phase}: someone else was first ({e})")
            self._move_at[key] = float("inf")
            return True
        if r.sent:
            self.said_step(r)
        else:
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

    def proposed(self, v: View) -> bool:
        s = self.s
        assert s is not None
        return any(p["proposer"] == s.address for p in v.proposals)

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
        job = pool.submit(agent_train.describe_proposal, p.model, p.dataset, p.labels, self.cfg.data, p.param_count)
        pool.shutdown(wait=False)
        return job

    def propose(self) -> pt.StepResult:
        from hcfl_cli import agent_train

        s, p = self.s, self.cfg.proposal
        assert s is not None and p is not None
        info = agent_train.prepare_superlink(self.cfg.flower / "tls", self.cfg.fleet_host)
        ca = self.work / "public" / "ca.pem"
        ca.parent.mkdir(parents=True, exist_ok=True)
        ca.write_bytes(Path(info["ca_cert"]).read_bytes())
        superlink = {"fleet_address": info["fleet_address"], "ca_sha256": info["ca_sha256"],
                     "ca_uri": self.publish(ca)}
        job = self._job.result()  # described while attaching (describe_my_proposal)
        params = job["param_count"]
        doc = Description(p.model, job["dataset"], job["labels"], p.accuracy_bps, p.global_rounds, params,
                          dict(p.train), superlink, s.address, job["classes"], job["input"], job["plugin"])
        path = self.work / "public" / f"proposal-round{s.round_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # a restart proposes the same document (propose checks its hash on chain)
            path.write_bytes(doc.to_bytes())
        self.say(f"propose: {doc.model} on {doc.dataset}, labels {list(doc.target_labels)}, promised accuracy "
                 f"{p.accuracy_bps / 100:.2f}%, budget {p.budget} wei, bond {p.bond} wei, {params} parameters, "
                 f"{p.global_rounds} global rounds"
                 + f", SuperLink {superlink['fleet_address']}")
        return pt.propose(s, budget=p.budget, bond=p.bond, document=path, uri=self.publish(path),
                          accuracy_bps=p.accuracy_bps, training_rounds=p.global_rounds, label_mask=doc.label_mask,
                          param_count=params)

    def document(self, v: View, index: int) -> tuple[Description, Path]:
        """Proposal ``index``'s description document, fetched once and checked against its
        content hash on chain."""
        p = v.proposals[index]
        dest = self.work / "documents" / f"round{v.round_id}-proposal{index}.json"
        fetch(str(p["uri"]), bytes(p["content_hash"]).hex(), dest, what=f"proposal {index}'s document")
        return Description.from_bytes(dest.read_bytes(), f"proposal {index}'s document"), dest

    def commit(self, v: View) -> pt.StepResult:
        from contracts.secret_store import SecretStore

        s, mem = self.s, self.mem
        assert s is not None and mem is not None
        store = SecretStore(s.key)
        if store.load(s.file.chain_id, s.file.address, s.round_id) is not None:
            return pt.commit(s, None)  # stored before a crash, maybe never sent: commit sends it
        from hcfl_cli.agent_train import cannot_use

        proposals: list[tuple[Description, Path] | str] = []
        for i in range(len(v.proposals)):
            try:
                d, path = self.document(v, i)
            except DocumentError as e:
                proposals.append(str(e))  # a job it cannot read: valued as one it cannot train or judge
                continue
            why = cannot_use(d, self.cfg.data, self.cfg.role)  # a model or data it cannot use, likewise
            proposals.append((d, path) if why is None else f"proposal {i}: {why}")
        limit = self.claim_limit(v)
        claims = claims_or_refusals(self.cfg, proposals, limit, self.say)
        cut = [min(c, limit) for c in claims]
        if cut != claims:
            self.say(f"commit: claims {claims} cut to {cut}, what the deposit covers")
        mem.claims = [str(c) for c in cut]
        self.say(f"commit: claims {cut} wei for proposals 0..{len(cut) - 1} (sealed)")
        return pt.commit(s, cut)

    def claim_limit(self, v: View) -> int:
        """The highest claim the deposit covers: a station's whole deposit; an owner's less its
        largest cost share (SPEC section 5 step 4)."""
        me = v.me
        if me.role == ROLE_STATION:
            return max(0, int(me.amount) - self.bonus_hold(v))
        total = sum(int(r["weight"]) for r in v.registered if int(r["role"]) == ROLE_OWNER)
        share = max((-(-int(p["budget"]) * int(me.weight) // total) for p in v.proposals), default=0)
        return max(0, int(me.amount) - share)

    def bonus_hold(self, v: View) -> int:
        """What a station's deposit keeps for the bonus part of its share (SPEC section 9;
        ``mechanism.station_bonus_hold``, 0 without a bonus): the rest covers its claims."""
        if not self.bonus_bps:
            return 0
        from mechanism import station_bonus_hold

        total = sum(int(r["weight"]) for r in v.registered if int(r["role"]) == ROLE_STATION)
        top = max((int(p["budget"]) for p in v.proposals), default=0)
        return int(station_bonus_hold(top, self.bonus_bps, int(v.me.weight), total))

    # -- train ----------------------------------------------------------------------------------
    def is_winner(self, v: View) -> bool:
        s = self.s
        assert s is not None
        return v.winner is not None and v.proposals[v.winner]["proposer"] == s.address

    def stations(self, v: View) -> dict[int, bytes]:
        """The round's registered stations' node public keys, by station index, each checked
        against the node key of its ticket (which the contract checked at registration)."""
        out = {}
        for r in v.registered:
            if int(r["role"]) != ROLE_STATION:
                continue
            pub = bytes(r["node_public_key"])
            if hashlib.sha256(pub).digest() != bytes(r["node_key"]):
                self.say_once(f"station {r['index']}: its published node key does not match its ticket's: left out")
                continue
            out[int(r["index"])] = pub
        return out

    def train_phase(self, v: View) -> bool:
        if v.report is None and v.over:
            return self.move("advance", v)
        if v.winner is None:
            return False
        if self.is_winner(v) and v.report is None:
            return self.train_and_report(v)
        if v.me.role == ROLE_STATION and v.report is None:
            return self.start_station(v)
        if v.me.role == ROLE_OWNER:
            self.warm_up()
        return False

    def warm_up(self) -> None:
        """An owner that will judge the model loads torch while the winner trains, so that
        its measurement fits in the Vote phase."""
        if getattr(self, "_warming", None) is None:
            import threading

            def load() -> None:
                with contextlib.suppress(Exception):
                    import hfl.local_data  # noqa: F401 (imports torch)

            self._warming = threading.Thread(target=load, daemon=True, name="hcfl-warm-up")
            self._warming.start()

    def train_and_report(self, v: View) -> bool:
        from hcfl_cli import agent_train

        s, mem = self.s, self.mem
        assert s is not None and mem is not None and v.winner is not None
        doc, _ = self.document(v, v.winner)
        n = sum(1 for r in v.registered if int(r["role"]) == ROLE_STATION)
        state_file = self.work / f"trained-round{v.round_id}.json"
        if state_file.exists():  # trained before a restart: report what was trained
            t = json.loads(state_file.read_text())
            trained = agent_train.Trained(Path(t["model"]), t["sha256"], float(t["accuracy"]),
                                          tuple(t["contributions"]), tuple(t["dropped"]), t["engine"])
        else:
            left = max(10.0, v.deadline - v.now - 5.0)
            timeout = min(left, self.cfg.train_timeout_s) if self.cfg.train_timeout_s else left
            if not doc.superlink:
                raise ValueError("proposal: the winning description document names no SuperLink")
            if self._train_failed:
                return False
            stations = self.stations(v)
            self.say(f"training proposal {v.winner} on Flower with the registered stations {sorted(stations)}: "
                     f"{doc.global_rounds} global rounds, labels {list(doc.target_labels)}")
            try:
                link = self.prepare_link(v)
                assert link is not None
                self.link = None
                trained = link.train(doc, eval_folder=self.cfg.data, timeout_s=timeout,
                                     round_timeout_s=self.cfg.round_timeout_s, progress=self.say)
            except (RuntimeError, ValueError, OSError) as e:  # FlowerRunError, no station left, ...
                self._train_failed = True
                self.say(f"training failed, nothing to report (the bond is lost at the deadline): {e}")
                return True
            public = self.work / "public" / f"model-round{v.round_id}.pt"
            public.parent.mkdir(parents=True, exist_ok=True)
            public.write_bytes(trained.model.read_bytes())
            trained = agent_train.Trained(public, trained.sha256, trained.accuracy, trained.contributions,
                                          trained.dropped, trained.engine)
            state_file.write_text(json.dumps({**asdict(trained), "model": str(public)}))
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

    def start_station(self, v: View) -> bool:
        from hcfl_cli import agent_train

        if self.station_node is not None:
            if self.station_node.poll() is not None:
                self.say_once(f"my SuperNode exited with code {self.station_node.poll()}")
            return False
        assert v.winner is not None
        doc, _ = self.document(v, v.winner)
        if not doc.superlink:
            raise ValueError("proposal: the winning description document names no SuperLink")
        if self.cfg.data is None:
            raise ValueError("data: a station needs its data folder")
        ca = self.work / "documents" / f"round{v.round_id}-ca.pem"
        fetch(doc.superlink["ca_uri"], doc.superlink["ca_sha256"], ca, what="the winner's CA certificate")
        self.say(f"starting this station's SuperNode on {self.cfg.data} for {doc.superlink['fleet_address']}")
        self.station_node = agent_train.start_station(doc, keys_folder=self.cfg.flower, data_folder=self.cfg.data,
                                                      work=self.work / "station", ca_cert=ca)
        return True

    def prepare_link(self, v: View) -> Any:
        """A proposer's SuperLink, started (in a thread) once the claims are sealed, so that
        should its proposal win the training starts at once; None for a non-proposer."""
        from hcfl_cli import agent_train

        if self.link is not None:
            return self.link
        s = self.s
        assert s is not None
        mine = [int(p["index"]) for p in v.proposals if p["proposer"] == s.address]
        if not mine:
            return None
        self.link = agent_train.ReadySuperLink(self.stations(v), tls_folder=self.cfg.flower / "tls",
                                               host=self.cfg.fleet_host, bind=self.cfg.fleet_bind,
                                               work=self.work / "training")
        self.say(f"starting my SuperLink while the claims are revealed (should proposal {mine[0]} win)")
        return self.link

    def stop_link(self) -> None:
        if self.link is not None:
            link, self.link = self.link, None
            with contextlib.suppress(Exception):
                link.stop()
            self.say("my proposal did not win: SuperLink stopped")

    def stop_station(self) -> None:
        if self.station_node is not None:
            with contextlib.suppress(Exception):
                self.station_node.stop()
            self.station_node = None
            self.say("SuperNode stopped")

    # -- vote, finalize -------------------------------------------------------------------------
    def vote(self, v: View) -> bool:
        from hcfl_cli import agent_train

        s, mem = self.s, self.mem
        assert s is not None and mem is not None and v.winner is not None
        promised = int(v.proposals[v.winner]["accuracy_bps"])
        mem.promised_accuracy_bps = promised
        if v.report is None:
            punish, why = True, "no model was reported"
        else:
            dest = self.work / "documents" / f"round{v.round_id}-model.pt"
            try:
                fetch(str(v.report["model_uri"]), bytes(v.report["model_hash"]).hex(), dest, what="the model")
            except DocumentError as e:
                mem.refused = str(e)
                punish, why = True, f"refused: {e}"
            else:
                doc, _ = self.document(v, v.winner)
                if self.cfg.data is None:
                    raise ValueError("data: an owner needs its held-out data folder to judge the model")
                try:
                    acc = agent_train.measure(dest, self.cfg.data, doc.target_labels)
                except ValueError as e:
                    mem.refused = str(e)
                    punish, why = True, f"the model file does not load: {e}"
                else:
                    mem.measured_accuracy = acc
                    punish = acc * 10_000 < promised
                    why = (f"my own measurement {acc:.2%} on my held-out set (labels {list(doc.target_labels)}) is "
                           f"{'below' if punish else 'at least'} the promised {promised / 100:.2f}% (the winner "
                           f"reported {int(v.report['accuracy_bps']) / 100:.2f}%)")
        mem.punish = punish
        self.say(f"vote: punish {'yes' if punish else 'no'}: {why}")
        return self.step(lambda: pt.vote(s, punish))

    def owes_bonus(self, v: View) -> bool:
        """A station of a deployment with a bonus whose bonus is not yet credited (it is, once
        the round is finalized: SPEC section 9, paid even after the settlement was withdrawn)."""
        return (self.bonus_bps > 0 and v.me.role == ROLE_STATION and v.phase == "Finalized"
                and not v.me.status & STATUS_BONUS)

    def has_released_bond(self, v: View) -> bool:
        s = self.s
        assert s is not None
        return any(p["proposer"] == s.address and s.d.proposal(int(p["index"])).bond_state == BOND_RELEASED
                   for p in v.proposals)

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


def run_agent(cfg: AgentConfig, deployment: Path, keys: pt.KeyOptions, rpc: str, *,
              expect_bonus_bps: int | None = None) -> int:
    """``hcfl agent``: run until done; SIGTERM stops it cleanly (its Flower processes too)."""

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if cfg.role == "station":
        ensure_node_keys(cfg.flower)
    return Agent(cfg, deployment, keys, rpc=rpc, expect_bonus_bps=expect_bonus_bps).run()


def ensure_node_keys(folder: Path) -> Path:
    """A station's Flower node key pair in ``folder``, made once; returns ``node.pub``, the
    public key bytes it publishes at registration (its ticket's node key is their sha256)."""
    pub = folder / "node.pub"
    if pub.exists():
        return pub
    from hcfl_cli import agent_train

    agent_train.node_keys(folder)  # writes node.key (0600) and node.pub
    return pub


__all__ = ["Agent", "Memory", "View", "ensure_node_keys", "run_agent"]
