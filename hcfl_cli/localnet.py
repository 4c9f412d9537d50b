"""``hcfl localnet``: whole rounds of one deployment among independent agents on this machine.

It plays the organizer and the machine room, and nobody's part in a round: it starts
anvil (a block a second, so deadlines pass without any time control), makes one encrypted
keystore per participant, funds them, deploys the contract, signs every participant's
admission ticket (a station's with the hash of its Flower node key), writes every
participant's own data folder (each station its own Dirichlet label-skewed share of the
training data, each owner its own held-out set, as ``.npz`` folders split from digits or from
any data folder ``hfl.folders`` reads), its valuation and its config, then starts
``hcfl agent`` for every participant as an OS process of its own, with its own HCFL_HOME
and ``--rounds``: the rounds it takes part in. The agents do the rounds, one after the other
(whoever comes first starts the next); this process only shows their lines and the round's
phase. Over several rounds one participant joins later (the organizer admits it while the
round before runs, and its agent registers from the next registration) and one leaves (its
agent stops after its rounds), and each proposer drops the proposal it wants next into its
proposals folder. At the end it reads every round back from the chain: the outcome table,
each participant's utility with its true values, the owners' own accuracy measurements and
votes, the audit of the logs against ``mechanism.settle`` and the reconciliation of every
wei, round by round (``hcfl_cli.localnet_outcome``). Everything it started is stopped on
every way out (end, error, Ctrl-C).

The scenario is drawn as in the paper's section V-C (``hcfl_cli.localnet_plan``).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from contracts.parameters import check_phase_seconds
from hcfl_cli.localnet_outcome import LocalnetOutcome, LocalnetRun, Row, read_run
from hcfl_cli.localnet_plan import DeployOptions, LocalnetOptions, Party
from hcfl_cli.localnet_watch import AGENT_ENV_TAG, AGENT_NAME_ENV, RoundWatch, leftover_processes, pss_kb

__all__ = ["DeployOptions", "Localnet", "LocalnetOptions", "LocalnetOutcome", "LocalnetRun", "Party", "Row",
           "leftover_processes"]

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "localnet only: a throw-away key"
DEFAULT_PHASES = (10, 5, 6, 6, 300, 10)
"""Seconds of Register (every agent is up and waiting before the deployment, so it only
attaches and registers; later rounds' agents are attached already), Propose, Commit
(documents fetched and valued), Reveal, Train (the winner's SuperLink, the stations'
SuperNodes and every global round on Flower; the report ends it early) and Vote (each owner
measures the model: torch is loaded during Train)."""
READY_LINE = "waiting for the deployment file"
"""What an agent prints once its key is decrypted and it waits for the deployment."""
FUNDS = 10 * 10**18


class Localnet:
    """The machine room of one local round (see the module docstring); a context manager
    that stops whatever it started."""

    def __init__(self, opts: LocalnetOptions, say: Callable[[str], None] = print) -> None:
        if opts.owners < 2 or opts.stations < 1:
            raise ValueError("--owners/--stations: a round needs at least 2 owners and 1 station")
        if not 1 <= opts.proposals <= opts.owners:
            raise ValueError(f"--proposals: between 1 and the number of owners ({opts.owners})")
        if opts.phases is not None:
            check_phase_seconds(tuple(opts.phases), "--phases")
        if opts.rounds < 1:
            raise ValueError(f"--rounds: at least 1, got {opts.rounds}")
        if opts.join_at and not 2 <= opts.join_at <= opts.rounds:
            raise ValueError(f"--join-at: a round from 2 to --rounds ({opts.rounds}), or 0 for nobody, got {opts.join_at}")
        if opts.leave_after and not 1 <= opts.leave_after < opts.rounds:
            raise ValueError(f"--leave-after: a round before the last ({opts.rounds}), or 0 for nobody, "
                             f"got {opts.leave_after}")
        if opts.leave_after and opts.stations < 2:
            raise ValueError("--leave-after: a station leaves, so at least 2 stations are needed")
        if opts.data_dir is not None:  # a bad folder is said before any node or key is made
            from hfl.data import load_folder

            load_folder(opts.data_dir, fmt=opts.dataset)  # decoded once: the split reads it again from memory
        # Every station's ClientApp of a round shares this machine's cores: a round of N
        # stations takes about N times one station's, so a station is only called lost after
        # that, and the Train phase leaves room for every round to wait that long.
        self.round_timeout_s = opts.round_timeout_s or 60.0 + 25.0 * opts.stations
        self.phases = opts.phases or (*DEFAULT_PHASES[:4],
                                      max(DEFAULT_PHASES[4], int(60 + opts.global_rounds * self.round_timeout_s)),
                                      DEFAULT_PHASES[5])
        self.opts = opts
        self.bonus_bps = int(opts.deploy.extra.get("bonus_bps", 0))  # SPEC section 9's beta
        self.say = say
        self._stack = contextlib.ExitStack()
        self._tmp: str | None = None
        self.folder = opts.out or Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="hcfl-localnet-")))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rpc = ""
        self.parties: list[Party] = []
        self.organizer: Party | None = None
        self.deployment = self.folder / "deployment.json"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_pos: dict[str, int] = {}
        self.peak_total_kb = 0  # the most resident memory all its processes held at once (sampled)
        self.watch = RoundWatch(self.deployment, lambda: self.rpc, lambda: self.parties[0].address)
        self.joined = False
        self.added: set[tuple[str, int]] = set()  # (proposer, round) of the proposals dropped in its folder
        self.plan: dict[str, dict[str, Any]] = {}
        self.later: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.data: Any = None  # hfl.local_data.LocalnetSplit, once the data folders are written
        self.t0 = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Localnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        # a process an agent started and did not stop (a crash leaves its Flower nodes)
        for _ in range(3):
            left = leftover_processes(str(self.folder))
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        self._stack.close()

    # -- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Node, keys, data and configs; then every agent starts (each waits for the
        deployment file and its ticket, as on a machine of its own), and the organizer
        deploys and signs the tickets, so the Register phase opens on agents that are ready."""
        self.prepare()
        self.launch()
        self.wait_ready()
        self.deploy_and_admit()

    def prepare(self) -> None:
        """Everything before the agents run: node, keys, funds, data folders, configs."""
        from contracts.nodes import dev_accounts, fund_addresses, start_node

        o = self.opts
        if o.rpc:
            self.rpc = o.rpc
        else:
            node = self._stack.enter_context(start_node("anvil", block_time=1))
            self.rpc = node.url
        self.say(f"node: {self.rpc} (a block a second)")
        n_owners = o.owners + (1 if o.join_at else 0)
        names = ["organizer"] + [f"owner{i}" for i in range(n_owners)] + [f"station{j}" for j in range(o.stations)]
        rng = random.Random(o.seed)
        weights = {n: (rng.randint(1, 3) if n != "organizer" else 0) for n in names}
        for name in names:
            role = "organizer" if name == "organizer" else name.rstrip("0123456789")
            first = o.join_at if name == f"owner{o.owners}" and o.join_at else 1
            last = o.leave_after if name == f"station{o.stations - 1}" and o.leave_after else o.rounds
            party = Party(name, role, self.folder / name, self._make_key(name), weights[name], first, last)
            if role == "organizer":
                self.organizer = party
            else:
                self.parties.append(party)
        self.say(f"keys: {len(names)} encrypted keystores, each in its participant's own HCFL_HOME")
        fund_addresses(self.rpc, [p.address for p in [self.organizer, *self.parties] if p], FUNDS,
                       funder=dev_accounts(1)[0])
        self._write_data()
        self._draw_plan(rng)
        self._configure()

    def deploy_and_admit(self) -> None:
        self._deploy()
        self._admit()

    def _make_key(self, name: str) -> str:
        """A fresh key in a Web3 Secret Storage keystore (what ``hcfl account new`` writes)
        under the participant's own HCFL_HOME. These keys live for one local round, so the
        keystore's scrypt work factor is 2**14 instead of 2**18: the same format, decrypted
        in milliseconds instead of a second by each agent at start."""
        from contracts.keys import new_account

        home = self.folder / name
        home.mkdir(parents=True, exist_ok=True)
        (home / "password").write_text(PASSWORD + "\n")
        return new_account(name, PASSWORD, home / "keystores", scrypt_n=2**14).address

    def _write_data(self) -> None:
        from hfl.local_data import split_for_localnet, write_data_folder

        o = self.opts
        t = time.monotonic()
        split = split_for_localnet(o.dataset, o.stations, len(self.owners), seed=o.seed, alpha=o.alpha,
                                   data_dir=o.data_dir)
        for p, (x, y) in zip(self.stations + self.owners, split.stations + split.owners):
            write_data_folder(p.home / "data", x, y, split.dataset, classes=split.classes)
        self.data = split
        self.say(f"data: {split.dataset} ({len(split.classes)} classes, {'x'.join(map(str, split.shape))} images), "
                 f"each station its own non-IID share of the training split "
                 f"({', '.join(str(len(y)) for _, y in split.stations)} images), each owner its own held-out set "
                 f"({', '.join(str(len(y)) for _, y in split.owners)} images) in {time.monotonic() - t:.1f} s")

    @property
    def dataset(self) -> str:
        return str(self.data.dataset)

    @property
    def owners(self) -> list[Party]:
        return [p for p in self.parties if p.role == "owner"]

    @property
    def stations(self) -> list[Party]:
        return [p for p in self.parties if p.role == "station"]

    @property
    def joiner(self) -> Party | None:
        return next((p for p in self.parties if p.first > 1), None)

    @property
    def leaver(self) -> Party | None:
        return next((p for p in self.parties if p.last < self.opts.rounds), None)

    def _draw_plan(self, rng: random.Random) -> None:
        """Every participant's valuation, proposals and deposit (``hcfl_cli.localnet_plan``), the
        targets among the labels some station holds (at most what the contract's label set holds)."""
        from hcfl_cli.localnet_plan import draw_plan
        from hfl.proposals import MAX_LABELS, describe_job

        o = self.opts
        n_labels = min(len(self.data.classes), MAX_LABELS)
        held = sorted({int(lab) for _, y in self.data.stations for lab in set(y.tolist())} & set(range(n_labels)))
        model = o.model or ("resnet18" if self.dataset == "cifar10" else "cnn")
        params = describe_job(model, self.owners[0].home / "data", dataset=self.dataset).param_count
        plan = draw_plan(rng, owners=self.owners, stations=self.stations,
                         first_owners=[p for p in self.owners if p.first == 1], proposers=o.proposals,
                         rounds=o.rounds, labels=held, n_labels=n_labels, dataset=self.dataset, model=model,
                         params=params, global_rounds=o.global_rounds, promised_bps=o.promised_bps,
                         train=dict(o.train), min_bond=o.deploy.min_bond, bonus_bps=self.bonus_bps)
        self.plan, self.later, self.deposit_per_weight = plan.parties, plan.later, plan.deposit_per_weight

    def _organizer_key(self) -> Any:
        """The organizer's key options: decrypted once, signed with in this process."""
        from contracts.keys import KeyOptions

        org = self.organizer
        assert org is not None
        if not hasattr(self, "_org_key"):
            key = KeyOptions(keystore=org.home / "keystores" / org.name, password_file=org.home / "password").load()
            self._org_key = KeyOptions.of(key)
        return self._org_key

    def _deploy(self) -> None:
        from hcfl_cli.organizer import deploy

        o = self.opts
        r = deploy(self.rpc, self._organizer_key(), self.deployment, phase_seconds=list(self.phases),
                   no_show_penalty=o.deploy.no_show_penalty, min_bond=o.deploy.min_bond, organizer="self",
                   deposit_per_weight=self.deposit_per_weight, max_proposals=o.deploy.max_proposals,
                   **o.deploy.extra)
        self.t0 = time.monotonic()
        self.say(f"deployed {r.file.address}; phases {','.join(map(str, self.phases))} s")

    def _configure(self) -> None:
        """Every participant's config (and a station's Flower node key pair)."""
        import tomli_w

        from hcfl_cli.agent_train import ensure_node_keys
        from hfl.flower.procs import free_ports

        for p in self.parties:
            if p.role == "station":
                ensure_node_keys(p.home / "flower")
            cfg: dict[str, Any] = {
                "name": p.name, "role": p.role, "rpc": self.rpc, "ticket": "ticket.json",
                "deposit": self.plan[p.name]["deposit"], "data": "data", "flower": "flower", "work": ".",
                "publish": "http", "http_host": "127.0.0.1", "http_port": free_ports(1)[0], "fleet_host": "127.0.0.1",
                "valuation": self.plan[p.name]["valuation"],
                "agent": {"poll_s": 0.5, "max_poll_s": 3.0, "mover_delay_s": self.opts.mover_delay_s,
                          "round_timeout_s": self.round_timeout_s},
            }
            if p.role == "owner":
                cfg["proposals_dir"] = "proposals"
            if "proposals" in self.plan[p.name]:
                cfg["proposals"] = self.plan[p.name]["proposals"]
            if p.name in self.opts.testing:
                cfg["testing"] = self.opts.testing[p.name]
            p.config.write_text(tomli_w.dumps(cfg))

    def _admit(self, parties: Sequence[Party] | None = None) -> None:
        from hcfl_cli.organizer import admit

        keys = self._organizer_key()
        for p in parties if parties is not None else [p for p in self.parties if p.first == 1]:
            pub = p.home / "flower" / "node.pub" if p.role == "station" else None
            admit(self.deployment, keys, p.home / "ticket.json", participant=p.address, role=p.role, weight=p.weight,
                  max_proposals=None, node_public_key_file=pub, valid_for=86_400)
        if parties is None:
            first = [p for p in self.parties if p.first == 1]
            self.say(f"tickets: {sum(p.role == 'owner' for p in first)} owners, "
                     f"{sum(p.role == 'station' for p in first)} stations "
                     f"(a station's ticket carries the sha256 of its Flower node public key)")

    # -- agents -------------------------------------------------------------------------------
    def party(self, name: str) -> Party:
        for p in self.parties:
            if p.name == name:
                return p
        raise KeyError(name)

    def launch(self, names: Sequence[str] | None = None) -> None:
        """Start ``hcfl agent`` for each participant (all by default), each its own process
        group, with its own HCFL_HOME; its output goes to its folder's agent.log."""
        from contracts.nodes import die_with_parent

        for p in [self.party(n) for n in names] if names else [p for p in self.parties if p.first == 1]:
            env = {**os.environ, "HCFL_HOME": str(p.home), "PYTHONPATH": str(ROOT), AGENT_ENV_TAG: str(self.folder),
                   AGENT_NAME_ENV: p.name, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
            with open(p.log, "ab") as log:
                self.procs[p.name] = subprocess.Popen(
                    [sys.executable, "-m", "hcfl_cli.main", "agent", "--deployment", str(self.deployment),
                     "--config", str(p.config), "--rounds", str(p.rounds), *p.key_args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Until every launched agent has decrypted its key and waits for the deployment file
        (or exited), so that the Register phase opens on agents that only have to attach."""
        return self.wait(lambda: self.deployment.exists() or all(
            READY_LINE in self.log_text(n) or self.procs[n].poll() is not None
                                     for n in self.procs), timeout=timeout)

    def kill(self, name: str) -> None:
        """SIGKILL one agent and everything it started, its Flower processes included: its
        machine fails (the fault tests)."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in leftover_processes(str(self.folder), agent=name):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, name: str, grace: float = 5.0) -> None:
        from contracts.nodes import stop_process

        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process(proc, grace)

    def running(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is None]

    def new_lines(self) -> Iterator[str]:
        """Agent lines written since the last call, in agent order."""
        for p in self.parties:
            if not p.log.exists():
                continue
            with open(p.log, "rb") as f:
                f.seek(self._log_pos.get(p.name, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1
            self._log_pos[p.name] = self._log_pos.get(p.name, 0) + end
            for line in data[:end].decode(errors="replace").splitlines():
                if line.strip():
                    yield line

    def log_text(self, name: str) -> str:
        p = self.party(name)
        return p.log.read_text(errors="replace") if p.log.exists() else ""

    def wait(self, until: Callable[[], bool] | None = None, *, timeout: float,
             show: Callable[[str], None] | None = None, tick: Callable[[], None] | None = None) -> bool:
        """Until ``until()`` (default: every launched agent exited) or ``timeout`` seconds,
        following the deployment meanwhile (``follow``)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.new_lines():
                (show or (lambda _l: None))(line)
            self.follow()
            if tick is not None:
                tick()
            if (until() if until is not None else not self.running()):
                for line in self.new_lines():
                    (show or (lambda _l: None))(line)
                return True
            time.sleep(0.3)
        return False

    def follow(self) -> None:
        """One look at the deployment: the memory of every process it started, counted to the
        current round; when each round was first seen started and finalized; the newcomer
        admitted and started once the round before its first has closed (so that it waits
        for the next registration, as one admitted mid-round would); the proposal each
        proposer wants from round ``r`` on dropped into its proposals folder once round
        ``r - 1`` runs."""
        total = self.sample_memory()
        rid, phase, _ = self.watch.note(total, time.monotonic() - self.t0)
        if not rid:
            return
        j = self.joiner
        if j is not None and not self.joined and (rid >= j.first or (rid == j.first - 1 and phase in
                                                                        ("Train", "Vote", "Finalized"))):
            self.joined = True
            self._admit([j])
            self.launch([j.name])
            self.say(f"{j.name} joins: the organizer admits it (a new ticket) while round {rid} runs; its agent "
                     f"starts and registers from round {j.first}")
        for name, items in self.later.items():
            for r, proposal in items:
                if (name, r) not in self.added and rid >= r - 1:
                    self.added.add((name, r))
                    self._add_proposal(self.party(name), proposal)

    def _add_proposal(self, p: Party, proposal: dict[str, Any]) -> None:
        import tomli_w

        folder = p.home / "proposals"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{proposal['name']}.toml.part"
        tmp.write_text(tomli_w.dumps({k: v for k, v in proposal.items() if k != "name"}))
        tmp.replace(folder / f"{proposal['name']}.toml")
        self.say(f"{p.name} adds proposal {proposal['name']} (labels {proposal['labels']}) to its proposals folder")

    def sample_memory(self) -> int:
        """The memory of every process it started (agents and their Flower processes) added
        up now, each process's proportional set size (a page shared by k processes, such as
        torch's libraries, counts 1/k in each); the largest such sum is what all agents
        needed together."""
        total = sum(pss_kb(pid) for pid in leftover_processes(str(self.folder)))
        self.peak_total_kb = max(self.peak_total_kb, total)
        return total

    def failed(self) -> dict[str, int]:
        """Agents that exited with an error: name -> exit code."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None and p.returncode != 0}

    def round_budget_s(self) -> float:
        """The longest the rounds can take from now: every phase's length, and some slack, per round."""
        return (sum(self.phases) + 60.0) * self.opts.rounds

    # -- the end ------------------------------------------------------------------------------
    def run_outcome(self) -> LocalnetRun:
        """Every round as the chain logged it, against the reference and the true values
        (``hcfl_cli.localnet_outcome``)."""
        return read_run(self.rpc, self.deployment, self.parties, bonus_bps=self.bonus_bps,
                        peak_by_round=dict(self.watch.peak_by_round), times=dict(self.watch.times),
                        peak_rss_kb=self.peak_total_kb, wall_s=time.monotonic() - self.t0)

    def outcome(self) -> LocalnetOutcome:
        """The last round's outcome (``run_outcome`` for every round)."""
        return self.run_outcome().rounds[-1]

    def look(self) -> tuple[int, str, int]:
        """The current round, its phase and the seconds to its deadline (``RoundWatch.look``)."""
        return self.watch.look()

    def phase_line(self) -> str:
        """``round 1: Commit, 7 s left`` (one read of the chain)."""
        return self.watch.phase_line()
