"""What an agent does in one round (``hcfl_cli.agent`` runs one of these per round it serves).

At each phase it does what the participant's step says, through ``hcfl_cli.participant``
(each step reads the chain first, so a repeated step is "already done"): Register with its
ticket and deposit (a station with its node public key), unless its ticket is expired or
revoked, said in one line; Propose what it still wants trained (``hcfl_cli.agent_proposals``:
each proposal's description document, with its SuperLink's address and CA hash, published
first); Commit its valuation of every document it fetched and checked against the chain,
cut to what its deposit covers with the round's subsidy in the owners' shares (the secret
stored before the broadcast); Reveal from the secret store; in Train settle and withdraw,
the winner trains, publishes the model and reports (which ends the phase at once), a station
runs its SuperNode; in Vote an owner other than the winner judges the model; once Finalized
it withdraws what is left (a released bond; a station of a bonus deployment, SPEC section 9,
its bonus).

It keeps the round moving: after a deadline it sends the phase's mover (``advance``, ``close``
or ``finalize``) after a random delay; a lost race (someone else was first) counts as done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.commitments import ZERO32
from contracts.constants import BOND_RELEASED, BOND_SLASHED, BOND_WITHDRAWN, ROLE_OWNER, ROLE_STATION, STATUS_BONUS
from contracts.round_view import RoundView
from hcfl_cli import participant as pt
from hcfl_cli.agent_train import FlowerRole
from hcfl_cli.bidding import bid, owner_shares
from hcfl_cli.documents import Description, DocumentError, fetch
from hcfl_cli.judging import judge_report

if TYPE_CHECKING:
    from hcfl_cli.agent import Agent, RoundRecord

TICKET_REASONS = {"ticket expired": "my ticket has expired", "admission revoked": "the organizer revoked my admission",
                  "ticket for another round": "my ticket is for another round"}
"""The contract's reasons for refusing a registration that a new ticket (or nothing) cures."""


class RoundAgent:
    """One agent in one round: its phase actions and what it keeps of that round (lines said
    once, planned moves, its Flower processes, its record in the result file)."""

    def __init__(self, agent: Agent, round_id: int, record: RoundRecord) -> None:
        self.a = agent
        self.cfg = agent.cfg
        self.round_id = round_id
        self.rec = record
        self.refused = False  # its registration was refused in this round: not asked again
        self._said: set[str] = set()
        self._move_at: dict[tuple[str, str], float] = {}
        self.flower = FlowerRole(agent.cfg, say=agent.say, say_once=self.say_once, document=self.document,
                                 round_id=round_id)

    @property
    def s(self) -> pt.Session:
        assert self.a.s is not None
        return self.a.s

    def say_once(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.a.say(text)

    def said_step(self, r: pt.StepResult) -> None:
        for note in r.notes:
            self.a.say(f"{r.command}: {note}")
        for a in r.already:
            self.say_once(f"{r.command}: already done: {a}")
        for t in r.sent:
            self.a.say(f"{t.fn}: mined, gas {t.gas}" + (f": {t.note}" if t.note else ""))
            self.rec.actions += 1

    # -- one poll's actions -------------------------------------------------------------------
    def act(self, v: RoundView) -> bool:
        """Do what this phase asks of this participant; True when something was sent or done."""
        from contracts.chain import Reverted

        me = v.me
        assert me is not None
        if me.role:
            self.rec.index = int(me.index)
            self.rec.registered = True
        try:
            if v.phase == "Register":
                if not me.role and not v.over and not self.refused and self.a.will_register():
                    return self.register(v)
                if me.role:
                    self.describe_ahead()
                return self.move(v)
            if not me.role:
                if not self.refused:  # a refused ticket was said already
                    self.say_once(f"not registered in round {v.round_id}: watching (registering from the next "
                                  "round whose registration is open)" if self.a.will_register() else
                                  f"not registered in round {v.round_id}: watching")
                return self.move(v)
            if v.phase == "Propose":
                done = False
                if not v.over and not self.a.stopping:
                    done = self.propose_wanted(v)
                return done or self.move(v)
            if v.phase == "Commit":
                if me.commitment == ZERO32 and not v.over:
                    return self.step(lambda: self.commit(v))
                return self.move(v)
            if v.phase == "Reveal":
                if not me.revealed and not v.over:
                    return self.step(lambda: pt.reveal(self.s))
                self.flower.prepare_link(v, self.s.address)
                return self.move(v)
            acted = False
            if not me.withdrawn:
                acted = self.step(lambda: pt.withdraw(self.s))
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
            return self.collect(v) or acted
        except Reverted as e:
            self.a.say(f"{e.fn}: refused by the contract: {e.reason}")
            return True

    def collect(self, v: RoundView) -> bool:
        """Once the round is finalized: take out what is left of this participant's (its
        payout, its released bonds, a station's bonus)."""
        me = v.me
        assert me is not None
        acted = False
        if me.role and not me.withdrawn:
            acted = self.step(lambda: pt.withdraw(self.s))
        if any(self.bond_state(p.index) == BOND_RELEASED for p in self.mine(v)):
            acted = self.step(lambda: pt.withdraw(self.s, bond=True)) or acted
        if self.owes_bonus(v):
            acted = self.step(lambda: pt.withdraw(self.s, bonus=True)) or acted
        return acted

    def finished(self, v: RoundView) -> bool:
        """The round is finalized and nothing of this participant's is left in it."""
        me = v.me
        assert me is not None
        if v.phase != "Finalized" or (me.role and not me.withdrawn) or self.owes_bonus(v):
            return False
        return all(self.bond_state(p.index) in (BOND_WITHDRAWN, BOND_SLASHED) for p in self.mine(v))

    def mine(self, v: RoundView) -> tuple[Any, ...]:
        """This participant's proposals in round ``v``."""
        return v.proposals_of(self.s.address)

    def bond_state(self, index: int) -> int:
        return self.s.d.proposal(index).bond_state

    def step(self, fn: Callable[[], pt.StepResult]) -> bool:
        """Run one participant step, print it; a refusal or a phase that moved on is printed once."""
        from contracts.chain import Reverted

        try:
            r = fn()
        except Reverted as e:
            self.a.say(f"{e.fn}: refused by the contract: {e.reason}")
            return True
        except DocumentError:
            raise
        except ValueError as e:
            self.say_once(f"cannot act yet: {e}")
            return False
        self.said_step(r)
        return bool(r.sent)

    def move(self, v: RoundView, fn: str | None = None, send: Callable[[], pt.StepResult] | None = None) -> bool:
        """The phase's mover (``advance``/``close``/``finalize``) once its deadline passed, or
        ``fn`` by ``send``, after a random delay; a lost race counts as done."""
        from contracts.chain import Reverted

        fn = fn or v.mover
        if send is None and not (fn and v.over):
            return False
        assert fn is not None and v.phase is not None
        key = (fn, str(v.phase))
        now = time.monotonic()
        if key not in self._move_at:
            self._move_at[key] = now + self.a.rng.uniform(0, self.cfg.mover_delay_s)
            return False
        if now < self._move_at[key]:
            return False
        phase = v.phase
        try:
            r = send() if send is not None else pt.move(self.s, phase)
        except Reverted as e:
            self.say_once(f"{fn} from {phase}: someone else was first (mine was refused: "
                          f"{e.reason.split(' (transaction')[0]})")
            r = None
        except ValueError as e:
            self.say_once(f"{fn} from {phase}: someone else was first ({e})")
            r = None
        if r is not None and r.sent:
            self.said_step(r)
        elif r is not None:
            self.say_once(f"{fn} from {phase}: someone else was first")
        self._move_at[key] = float("inf")
        return True

    def next_move_at(self) -> list[float]:
        now = time.monotonic()
        return [t for t in self._move_at.values() if now < t < float("inf")]

    # -- register, propose, commit --------------------------------------------------------------
    def register(self, v: RoundView) -> bool:
        """Register with the ticket (read again each round: a new one is taken); a ticket the
        contract would refuse (expired, revoked, for another round) is said in one line and
        not tried again in this round."""
        from contracts.chain import Reverted

        pub = None
        if self.cfg.role == "station":
            pub = self.cfg.flower / "node.pub"
        try:
            if pub is not None and not pub.exists():
                raise ValueError(f"flower: no node public key at {pub} (the station's Flower key pair)")
            r = pt.register(self.s, ticket=self.cfg.ticket, deposit=self.cfg.deposit, role=self.cfg.role,
                            node_public_key_file=pub)
        except Reverted as e:
            reason = e.reason.split(" (transaction")[0]
            why = next((text for key, text in TICKET_REASONS.items() if key in reason), None)
            self.not_registering(v, f"{why} ({reason})" if why else f"refused by the contract: {reason}")
            return False
        except ValueError as e:
            self.not_registering(v, str(e))
            return False
        self.said_step(r)
        return bool(r.sent)

    def not_registering(self, v: RoundView, why: str) -> None:
        self.refused = True
        self.rec.registration = why
        ticket = f"; a new ticket at {self.cfg.ticket} is read at the next registration" if self.cfg.ticket else ""
        self.a.say_for_ticket(f"register: not taking part in round {v.round_id}: {why}{ticket}")

    def publish(self, path: Path) -> str:
        return self.a.publish(path)

    def propose_wanted(self, v: RoundView) -> bool:
        """Propose what this owner still wants trained, up to its allowance of the round."""
        from hcfl_cli.agent_proposals import proposed_in, wanted

        member = v.member(self.s.address)
        if member is None or self.cfg.role != "owner":
            return False
        left = member.registered.max_proposals - len(self.mine(v))
        if left <= 0:
            return False
        done = set(proposed_in(v, self.s.address, self.cfg.work))
        plans = [p for p in wanted(self.cfg.proposals, self.cfg.proposals_dir, self.a.trained, self.say_once)
                 if p.name not in done]
        acted = False
        for plan in plans[:left]:
            acted = self.step(lambda plan=plan: self.propose(plan)) or acted
        return acted

    def describe_ahead(self) -> None:
        """Describe what this owner still wants (the folder read now) while the round registers."""
        from hcfl_cli.agent_proposals import wanted

        if self.cfg.role == "owner":
            self.a.describe(wanted(self.cfg.proposals, self.cfg.proposals_dir, self.a.trained, self.say_once))

    def propose(self, plan: Any) -> pt.StepResult:
        from hcfl_cli.agent_train import describe_proposal

        s = self.s
        doc, path = describe_proposal(self.cfg, plan, s.round_id, s.address, self.publish, self.a.job(plan))
        self.a.say(f"propose {plan.name}: {doc.model} on {doc.dataset}, labels {list(doc.target_labels)}, promised "
                   f"accuracy {plan.accuracy_bps / 100:.2f}%, budget {plan.budget} wei, bond {plan.bond} wei, "
                   f"{doc.param_count} parameters, {plan.global_rounds} global rounds, "
                   f"SuperLink {doc.superlink['fleet_address']}")
        return pt.propose(s, budget=plan.budget, bond=plan.bond, document=path, uri=self.publish(path),
                          accuracy_bps=plan.accuracy_bps, training_rounds=plan.global_rounds,
                          label_mask=doc.label_mask, param_count=doc.param_count)

    def document(self, v: RoundView, index: int) -> tuple[Description, Path]:
        """Proposal ``index``'s description document, fetched once and checked against its
        content hash on chain."""
        p = v.proposals[index]
        dest = self.cfg.work / "documents" / f"round{v.round_id}-proposal{index}.json"
        fetch(p.uri, p.content_hash.hex(), dest, what=f"proposal {index}'s document")
        return Description.from_bytes(dest.read_bytes(), f"proposal {index}'s document"), dest

    def commit(self, v: RoundView) -> pt.StepResult:
        from contracts.secret_store import SecretStore

        s = self.s
        if SecretStore(s.key).load(s.file.chain_id, s.file.address, s.round_id) is not None:
            return pt.commit(s, None)  # stored before a crash, maybe never sent: commit sends it
        from hcfl_cli.agent_train import cannot_use

        docs: list[Description | None] = []
        paths: list[Path | None] = []
        refused: dict[int, str] = {}
        verb = "train" if self.cfg.role == "station" else "judge"
        for i in range(len(v.proposals)):
            try:
                d, path = self.document(v, i)
            except DocumentError as e:
                self.a.say(f"{e}: valued as one I cannot {verb}")
                d, path = None, None
            else:
                why = cannot_use(d, self.cfg.data, self.cfg.role)  # a model or data it cannot use, likewise
                if why is not None:
                    refused[i] = f"proposal {i}: {why}"
                    d, path = None, None
            docs.append(d)
            paths.append(path)
        b = bid(self.cfg, v, docs, paths, value=self.a.value, bonus_bps=self.a.bonus_bps)
        for i, why in refused.items():
            self.a.say(f"{why}: valued as one I cannot {verb} (claim {b.claims[i]} wei)")
        if v.subsidy and self.cfg.role == "owner" and v.me is not None:
            plain, now = owner_shares(v, v.me.index, 0), owner_shares(v, v.me.index)
            self.a.say(f"round {v.round_id}: the pool's subsidy of {v.subsidy} wei lowers my cost share of each "
                       f"proposal from {plain} to {now} wei")
        cut = list(b.claims)
        if b.cut:
            self.a.say(f"commit: claims {list(b.valued)} cut to {cut}, what the deposit covers")
        self.rec.claims = [str(c) for c in cut]
        self.a.say(f"commit: claims {cut} wei for proposals 0..{len(cut) - 1} (sealed)")
        return pt.commit(s, cut)

    # -- train ----------------------------------------------------------------------------------
    def is_winner(self, v: RoundView) -> bool:
        w = v.winning_proposal
        return w is not None and w.proposer == self.s.address

    def train_phase(self, v: RoundView) -> bool:
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

    def train_and_report(self, v: RoundView) -> bool:
        s = self.s
        failed_before = self.flower.failed
        trained = self.flower.train(v, s.address)
        if trained is None:
            return not failed_before  # a failure just now was an action; an old one is not
        if trained.dropped:
            self.a.say(f"stations {list(trained.dropped)} were lost during training and dropped from the later rounds")
        acc_bps = round(trained.accuracy * 10_000)
        if self.cfg.testing.over_report_bps is not None:
            acc_bps = self.cfg.testing.over_report_bps
        self.rec.trained = {"accuracy": trained.accuracy, "reported_bps": acc_bps, "sha256": trained.sha256,
                            "contributions": list(trained.contributions), "dropped": list(trained.dropped),
                            "engine": trained.engine}
        uri = self.publish(trained.model)
        self.a.say(f"report: model sha256 {trained.sha256[:16]}..., accuracy {acc_bps / 100:.2f}%, contributions "
                   f"{list(trained.contributions)}, at {uri}")
        ok = self.step(lambda: pt.report(s, model=trained.model, uri=uri, accuracy_bps=acc_bps,
                                         contributions=list(trained.contributions)))
        if self.cfg.testing.tamper_model:
            trained.model.write_bytes(trained.model.read_bytes() + b"tampered")
            self.a.say("testing: the published model file now differs from the reported one")
        return ok

    # -- vote, finalize -------------------------------------------------------------------------
    def vote(self, v: RoundView) -> bool:
        s = self.s
        assert v.winning_proposal is not None and v.winner is not None
        promised = v.winning_proposal.accuracy_bps
        self.rec.promised_accuracy_bps = promised
        doc = None if v.report is None else self.document(v, v.winner)[0]
        if doc is not None and self.cfg.data is None:
            raise ValueError("data: an owner needs its held-out data folder to judge the model")

        def fetch_model() -> Path:
            assert v.report is not None
            dest = self.cfg.work / "documents" / f"round{v.round_id}-model.pt"
            return fetch(v.report.model_uri, v.report.model_hash.hex(), dest, what="the model")

        verdict = judge_report(promised_bps=promised, report=v.report, fetch_model=fetch_model, judge=self.a.judge_fn(),
                               data=self.cfg.data or Path("."), labels=doc.target_labels if doc else ())
        self.rec.measured_accuracy, self.rec.refused, self.rec.punish = verdict.measured, verdict.refused, verdict.punish
        self.a.say(f"vote: punish {'yes' if verdict.punish else 'no'}: {verdict.why}")
        return self.step(lambda: pt.vote(s, verdict.punish))

    def owes_bonus(self, v: RoundView) -> bool:
        """A station of a deployment with a bonus whose bonus is not yet credited (it is, once
        the round is finalized: SPEC section 9, paid even after the settlement was withdrawn)."""
        me = v.me
        assert me is not None
        return (self.a.bonus_bps > 0 and me.role == ROLE_STATION and v.phase == "Finalized"
                and not me.status & STATUS_BONUS)

    def stop(self) -> None:
        self.flower.stop()
