"""``hcfl localnet``: a whole round among independent agents on this machine.

It plays the organizer and the machine room, and nobody's part in the round: it starts
anvil (a block a second, so deadlines pass without any time control), makes one encrypted
keystore per participant, funds them, deploys the contract, signs every participant's
admission ticket (a station's with the hash of its Flower node key), writes every
participant's own data folder (each station its own Dirichlet label-skewed share of the
training data, each owner its own held-out set), its valuation and its config, then starts
``hcfl agent`` for every participant as an OS process of its own, with its own HCFL_HOME.
The agents do the round; this process only shows their lines and the round's phase, and at
the end reads the outcome back from the chain: the outcome table, each participant's
utility with its true values, the owners' own accuracy measurements and votes, the audit of
the logs against ``mechanism.settle`` and the reconciliation of every wei. Everything it
started is stopped on every way out (end, error, Ctrl-C).

The scenario is drawn as in the paper's section V-C (``hcfl_cli.scenario``): every owner
values the labels of its target set (a common core plus a few of its own), every station
has a cost per global round and per million parameters.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcfl_cli.scenario import GWEI, N_LABELS
from mechanism import station_bonus_hold

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "localnet only: a throw-away key"
DEFAULT_PHASES = (15, 6, 10, 8, 300, 15)
"""Seconds of Register (every agent starts, decrypts its key and registers), Propose,
Commit (documents fetched and valued), Reveal, Train (the winner's SuperLink, the stations'
SuperNodes and every global round on Flower; the report ends it early) and Vote (each owner
measures the model: torch is loaded during Train)."""
FUNDS = 10 * 10**18
AGENT_ENV_TAG = "HCFL_LOCALNET"
"""Every process a localnet starts carries this variable (its folder), so a check can find
any one left behind."""
AGENT_NAME_ENV = "HCFL_AGENT"
"""...and this one, the agent's name: its Flower processes run in sessions of their own, so
an agent's whole machine is found by its environment, not by its process group."""


@dataclass(frozen=True)
class DeployOptions:
    """The deployment's parameters (``hcfl deploy``'s options) other than the phases."""

    no_show_penalty: int = 0
    min_bond: int = 1
    max_proposals: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # later constructor options (e.g. a bonus fraction)


@dataclass(frozen=True)
class LocalnetOptions:
    owners: int = 4
    stations: int = 4
    proposals: int = 2
    dataset: str = "digits"
    data_dir: Path | None = None  # CIFAR-10's folder (then dataset cifar10)
    seed: int = 0
    alpha: float = 0.5
    phases: tuple[int, ...] | None = None  # default: DEFAULT_PHASES, Train long enough for the rounds' timeouts
    global_rounds: int = 2
    promised_bps: int = 7000
    train: dict[str, Any] = field(default_factory=lambda: {"clients_per_station": 2, "kappa1": 2, "kappa2": 2})
    deploy: DeployOptions = field(default_factory=DeployOptions)
    rpc: str | None = None  # a running node (funded by transfers from anvil's first development key)
    out: Path | None = None
    mover_delay_s: float = 3.0
    round_timeout_s: float | None = None  # the winner drops a station silent this long in a round (default: by size)
    testing: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent name -> its config's [testing]


@dataclass(frozen=True)
class Party:
    """One participant's machine: its folder (HCFL_HOME), name, address and config."""

    name: str
    role: str
    home: Path
    address: str
    weight: int

    @property
    def config(self) -> Path:
        return self.home / "agent.toml"

    @property
    def log(self) -> Path:
        return self.home / "agent.log"

    @property
    def key_args(self) -> list[str]:
        return ["--account", self.name, "--password-file", str(self.home / "password")]


@dataclass(frozen=True)
class Row:
    """One participant at the end."""

    name: str
    role: str
    index: int
    address: str
    weight: int
    true_claims: tuple[int, ...]
    revealed: tuple[int, ...] | None
    withdrawn: int | None
    expected: int
    utility: int
    measured: float | None = None
    punish: bool | None = None
    refused: str | None = None


@dataclass(frozen=True)
class LocalnetOutcome:
    address: str
    winner: int | None
    proposals: list[dict[str, Any]]
    rows: list[Row]
    reference: Any  # mechanism.Outcome on the revealed claims
    slashed: bool | None
    reported: dict[str, Any] | None
    audit_ok: bool
    audit_lines: list[str]
    pool: int
    expected_pool: int
    contract_balance: int
    expected_balance: int
    bonds: dict[int, tuple[int | None, int]]  # proposal -> (withdrawn, expected)
    peak_rss_kb: int
    wall_s: float

    @property
    def reconciled(self) -> bool:
        return (all(r.withdrawn is None or r.withdrawn == r.expected for r in self.rows)
                and all(w is None or w == e for w, e in self.bonds.values())
                and self.pool == self.expected_pool and self.contract_balance == self.expected_balance)

    @property
    def ok(self) -> bool:
        return self.audit_ok and self.reconciled


def _die_with_parent() -> None:
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Localnet:
    """The machine room of one local round (see the module docstring); a context manager
    that stops whatever it started."""

    def __init__(self, opts: LocalnetOptions, say: Callable[[str], None] = print) -> None:
        if opts.owners < 2 or opts.stations < 1:
            raise ValueError("--owners/--stations: a round needs at least 2 owners and 1 station")
        if not 1 <= opts.proposals <= opts.owners:
            raise ValueError(f"--proposals: between 1 and the number of owners ({opts.owners})")
        if opts.phases is not None and (len(opts.phases) != 6 or any(p <= 0 for p in opts.phases)):
            raise ValueError("--phases: six positive lengths in seconds")
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
        self.plan: dict[str, dict[str, Any]] = {}
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
        names = ["organizer"] + [f"owner{i}" for i in range(o.owners)] + [f"station{j}" for j in range(o.stations)]
        rng = random.Random(o.seed)
        weights = {n: (rng.randint(1, 3) if n != "organizer" else 0) for n in names}
        for name in names:
            role = "organizer" if name == "organizer" else name.rstrip("0123456789")
            party = Party(name, role, self.folder / name, self._make_key(name), weights[name])
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
        from eth_account import Account

        home = self.folder / name
        (home / "keystores").mkdir(parents=True, exist_ok=True, mode=0o700)
        (home / "password").write_text(PASSWORD + "\n")
        acct = Account.create()
        path = home / "keystores" / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(Account.encrypt(acct.key, PASSWORD, kdf="scrypt", iterations=2**14)))
        return str(acct.address)

    def _write_data(self) -> None:
        from hfl.local_data import split_for_localnet, write_data_folder

        o = self.opts
        t = time.monotonic()
        stations, owners = split_for_localnet(self.dataset, o.stations, o.owners, seed=o.seed, alpha=o.alpha,
                                              data_dir=o.data_dir)
        for p, (x, y) in zip(self.stations, stations):
            write_data_folder(p.home / "data", x, y, self.dataset)
        for p, (x, y) in zip(self.owners, owners):
            write_data_folder(p.home / "data", x, y, self.dataset)
        self.say(f"data: {self.dataset}, each station its own non-IID share of the training split "
                 f"({', '.join(str(len(y)) for _, y in stations)} images), each owner its own held-out set "
                 f"({', '.join(str(len(y)) for _, y in owners)} images) in {time.monotonic() - t:.1f} s")

    @property
    def dataset(self) -> str:
        return "cifar10" if self.opts.data_dir else self.opts.dataset

    @property
    def owners(self) -> list[Party]:
        return [p for p in self.parties if p.role == "owner"]

    @property
    def stations(self) -> list[Party]:
        return [p for p in self.parties if p.role == "station"]

    def _draw_plan(self, rng: random.Random) -> None:
        """Every participant's valuation and the proposals, after the paper's section V-C."""
        from hcfl_cli.agent_train import train_config
        from hcfl_cli.documents import Description

        o = self.opts
        core = rng.sample(range(N_LABELS), 2)
        rest = [lab for lab in range(N_LABELS) if lab not in core]
        targets = {p.name: tuple(sorted(core + rng.sample(rest, rng.randint(1, 3)))) for p in self.owners}
        model = "resnet18" if self.dataset == "cifar10" else "cnn"
        probe = Description(model, self.dataset, (0,), 0, o.global_rounds, 0, dict(o.train))
        params = _param_count(train_config(probe, 1))
        for p in self.owners:
            values = [rng.randint(5, 20) * GWEI if lab in targets[p.name] else 0 for lab in range(N_LABELS)]
            self.plan[p.name] = {"valuation": {"value_per_label": values}}
        # A station's whole cost (over the rounds) is drawn on the scale of what an owner values
        # one label at the promised accuracy, so that some proposal is worth training whatever
        # the promise and the number of rounds.
        scale = o.promised_bps * GWEI // (10_000 * o.global_rounds)
        for p in self.stations:
            self.plan[p.name] = {"valuation": {"cost_per_round": rng.randint(1, 10) * scale,
                                               "cost_per_million_params": rng.randint(0, 20) * scale}}
        distinct = list({targets[p.name]: p for p in self.owners}.values())
        proposers = distinct[:o.proposals]
        cost = sum(o.global_rounds * (v["valuation"]["cost_per_round"] + v["valuation"]["cost_per_million_params"]
                                      * params // 10**6) for k, v in self.plan.items() if k.startswith("station"))
        for p in proposers:
            budget = cost * 6 // 5 + 1
            self.plan[p.name]["proposal"] = {
                "labels": list(targets[p.name]), "accuracy_bps": o.promised_bps, "budget": budget,
                "bond": max(budget // 10, o.deploy.min_bond), "global_rounds": o.global_rounds, "model": model,
                "dataset": self.dataset, "param_count": params, "train": dict(o.train)}
        budgets = [self.plan[p.name]["proposal"]["budget"] for p in proposers]
        w = sum(p.weight for p in self.owners)
        self.deposit_per_weight = max(1, -(-max(budgets) // w))
        for p in self.owners:
            self.plan[p.name]["deposit"] = (p.weight * self.deposit_per_weight
                                            + sum(self.plan[p.name]["valuation"]["value_per_label"]) + GWEI)
        u_total = sum(p.weight for p in self.stations)
        for p in self.stations:
            v = self.plan[p.name]["valuation"]
            # with a bonus the deposit also keeps the bonus part of the station's share (SPEC 9)
            hold = station_bonus_hold(max(budgets), self.bonus_bps, p.weight, u_total)
            self.plan[p.name]["deposit"] = o.global_rounds * (v["cost_per_round"] + v["cost_per_million_params"]
                                                              * params // 10**6) + GWEI + hold

    def _organizer_key(self) -> Any:
        """The organizer's key options: decrypted once, signed with in this process."""
        from hcfl_cli.participant import KeyOptions

        org = self.organizer
        assert org is not None
        if not hasattr(self, "_org_key"):
            key = KeyOptions(keystore=org.home / "keystores" / org.name, password_file=org.home / "password").load()
            self._org_key = KeyOptions(private_key=key.key.hex())
        return self._org_key

    def _deploy(self) -> None:
        from hcfl_cli.participant import deploy

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

        from hcfl_cli.agent import ensure_node_keys

        for p in self.parties:
            if p.role == "station":
                ensure_node_keys(p.home / "flower")
            cfg: dict[str, Any] = {
                "name": p.name, "role": p.role, "rpc": self.rpc, "ticket": "ticket.json",
                "deposit": self.plan[p.name]["deposit"], "data": "data", "flower": "flower", "work": ".",
                "publish": "http", "http_host": "127.0.0.1", "http_port": _free_port(), "fleet_host": "127.0.0.1",
                "valuation": self.plan[p.name]["valuation"],
                "agent": {"poll_s": 0.5, "max_poll_s": 3.0, "mover_delay_s": self.opts.mover_delay_s,
                          "round_timeout_s": self.round_timeout_s},
            }
            if "proposal" in self.plan[p.name]:
                cfg["proposal"] = self.plan[p.name]["proposal"]
            if p.name in self.opts.testing:
                cfg["testing"] = self.opts.testing[p.name]
            p.config.write_text(tomli_w.dumps(cfg))

    def _admit(self) -> None:
        from hcfl_cli.participant import admit

        keys = self._organizer_key()
        for p in self.parties:
            pub = p.home / "flower" / "node.pub" if p.role == "station" else None
            admit(self.deployment, keys, p.home / "ticket.json", participant=p.address, role=p.role, weight=p.weight,
                  max_proposals=None, node_public_key_file=pub, valid_for=86_400)
        self.say(f"tickets: {len(self.owners)} owners, {len(self.stations)} stations "
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
        for p in [self.party(n) for n in names] if names else self.parties:
            env = {**os.environ, "HCFL_HOME": str(p.home), "PYTHONPATH": str(ROOT), AGENT_ENV_TAG: str(self.folder),
                   AGENT_NAME_ENV: p.name, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
            with open(p.log, "ab") as log:
                self.procs[p.name] = subprocess.Popen(
                    [sys.executable, "-m", "hcfl_cli.main", "agent", "--deployment", str(self.deployment),
                     "--config", str(p.config), *p.key_args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)

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
        """Until ``until()`` (default: every launched agent exited) or ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.new_lines():
                (show or (lambda _l: None))(line)
            if tick is not None:
                tick()
            self.sample_memory()
            if (until() if until is not None else not self.running()):
                for line in self.new_lines():
                    (show or (lambda _l: None))(line)
                return True
            time.sleep(0.3)
        return False

    def sample_memory(self) -> None:
        """The memory of every process it started (agents and their Flower processes) added
        up now, each process's proportional set size (a page shared by k processes, such as
        torch's libraries, counts 1/k in each); the largest such sum is what all agents
        needed together."""
        total = sum(_pss_kb(pid) for pid in leftover_processes(str(self.folder)))
        self.peak_total_kb = max(self.peak_total_kb, total)

    def failed(self) -> dict[str, int]:
        """Agents that exited with an error: name -> exit code."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None and p.returncode != 0}

    def round_budget_s(self) -> float:
        """The longest the round can take from now: every phase's length, and some slack."""
        return sum(self.phases) + 60.0

    # -- the end ------------------------------------------------------------------------------
    def outcome(self) -> LocalnetOutcome:
        """The round as the chain logged it, against the reference and the true values."""
        from contracts.chain import connect
        from contracts.constants import BOND_RELEASED, BOND_WITHDRAWN, ROLE_OWNER
        from contracts.driver import Deployment
        from hcfl_cli.agent_config import owner_value, read_config, station_cost
        from hcfl_cli.audit import audit_events, rebuild, stored_contribution_hashes
        from hcfl_cli.documents import Description
        from mechanism import settle, utility

        dep = json.loads(self.deployment.read_text())
        chain = connect(self.rpc)
        d = Deployment.attach(dep["address"], chain=chain, sender=self.parties[0].address)
        events = d.load_events()
        r = d.round_id
        evs = [e for e in events if int(e.args.get("round_id", -1)) == r]
        regs = [e.args for e in evs if e.name == "Registered"]
        props = [dict(e.args) for e in evs if e.name == "Proposed"]
        revealed = {e.args["participant"]: tuple(int(c) for c in e.args["claims"]) for e in evs if e.name == "Revealed"}
        withdrawn: dict[str, int] = {}  # a station of a bonus deployment withdraws twice: settlement, then bonus
        for e in evs:
            if e.name == "Withdrawn":
                withdrawn[e.args["participant"]] = withdrawn.get(e.args["participant"], 0) + int(e.args["amount"])
        bonds_out = {int(e.args["index"]): int(e.args["amount"]) for e in evs if e.name == "BondWithdrawn"}
        closed = [e.args for e in evs if e.name == "Closed"]
        fin = [e.args for e in evs if e.name == "Finalized"]
        report = next((dict(e.args) for e in evs if e.name == "TrainingReported"), None)
        winner = int(closed[-1]["winner"]) if closed and closed[-1]["has_winner"] else None
        by_addr = {p.address: p for p in self.parties}
        docs = []
        for p in props:
            raw = (self.party(by_addr[p["proposer"]].name).home / "public" / f"proposal-round{r}.json").read_bytes()
            docs.append(Description.from_bytes(raw))
        owners = sorted((a for a in regs if int(a["role"]) == ROLE_OWNER), key=lambda a: int(a["index"]))
        stations = sorted((a for a in regs if int(a["role"]) != ROLE_OWNER), key=lambda a: int(a["index"]))
        m = len(props)
        zeros = (0,) * m
        ref = None
        if owners and stations and m:
            contributions = None  # no report: the bonus goes by weight (SPEC section 9)
            if self.bonus_bps and report is not None:
                contributions = [int(c) for c in report["contributions"]]
                contributions += [int(c) for e in evs if e.name == "ContributionsReported"
                                  for c in e.args["contributions"]]
            ref = settle([int(p["budget"]) for p in props], [int(a["weight"]) for a in owners],
                         [int(a["weight"]) for a in stations], [list(revealed.get(a["participant"], zeros)) for a in owners],
                         [list(revealed.get(a["participant"], zeros)) for a in stations],
                         bonus_bps=self.bonus_bps, contributions=contributions,
                         no_show_stations=[j for j, a in enumerate(stations) if a["participant"] not in revealed])
        rows = []
        results = {p.name: _read_json(p.home / "agent.json") for p in self.parties}
        penalty = self.opts.deploy.no_show_penalty
        for side, regs_side in (("owner", owners), ("station", stations)):
            for a in regs_side:
                p = by_addr[a["participant"]]
                cfg = read_config(p.config)
                true = tuple(owner_value(cfg.valuation, doc) if side == "owner" else station_cost(cfg.valuation, doc)
                             for doc in docs)
                i = int(a["index"])
                no_show = penalty if a["participant"] not in revealed else 0
                if ref is None:
                    expected, util = int(a["deposit"]), 0
                elif side == "owner":
                    expected = int(a["deposit"]) - ref.owner_pays[i] - no_show
                    util = utility(ref, "owner", i, list(true))
                else:
                    expected = int(a["deposit"]) + ref.station_receives[i] - no_show
                    util = utility(ref, "station", i, list(true))
                res = results.get(p.name) or {}
                rows.append(Row(p.name, side, i, p.address, int(a["weight"]), true, revealed.get(a["participant"]),
                                withdrawn.get(a["participant"]), expected, util, res.get("measured_accuracy"),
                                res.get("punish"), res.get("refused")))
        slashed = bool(fin[-1]["slashed"]) if fin else None
        bonds: dict[int, tuple[int | None, int]] = {}
        for k, p in enumerate(props):
            state = d.proposal(k).bond_state
            if state in (BOND_RELEASED, BOND_WITHDRAWN):
                bonds[k] = (bonds_out.get(k), int(p["bond"]))
        surplus = ref.surplus if ref is not None and winner is not None else 0
        slashed_bond = int(props[winner]["bond"]) if slashed and winner is not None else 0
        pool = d.pool()
        held = sum(row.expected for row in rows if row.withdrawn is None)
        held += sum(e for w, e in bonds.values() if w is None)
        expected_pool = surplus + slashed_bond
        balance = d.contract_balance()
        reported = [x.round_id for x in rebuild(events) if x.report is not None]
        audits = audit_events(events, contribution_hashes=stored_contribution_hashes(chain, reported),
                              address=d.address, bonus_bps=d.bonus_bps())
        lines = []
        for a in audits:
            state = ("not auditable: " + str(a.unauditable)) if not a.auditable else (
                "matches the reference" if a.ok else "DIFFERS")
            lines.append(f"round {a.round_id}: {a.participants} participants, {a.proposals} proposals: {state}")
            lines += [f"   {x}" for x in a.differences]
        return LocalnetOutcome(d.address, winner, props, rows, ref, slashed, report,
                               bool(audits) and all(a.ok for a in audits), lines, pool, expected_pool, balance,
                               expected_pool + held, bonds, self.peak_total_kb,
                               time.monotonic() - self.t0)

    def phase_line(self) -> str:
        """``round 1: Commit, 7 s left`` (one read of the chain)."""
        try:
            from contracts.chain import connect
            from contracts.driver import Deployment

            if not hasattr(self, "_watch"):
                dep = json.loads(self.deployment.read_text())
                self._watch = Deployment.attach(dep["address"], chain=connect(self.rpc),
                                                sender=self.parties[0].address)
            d = self._watch
            ph = d.phase()
            if ph == "Finalized":
                return f"round {d.round_id}: Finalized"
            left = int(d.chain.call("deadline", [d.round_id])) - d.chain.now()
            return f"round {d.round_id}: {ph}, {max(0, left)} s to its deadline"
        except Exception as e:  # noqa: BLE001 (a status line never stops the round)
            return f"(node: {type(e).__name__})"


def _param_count(cfg: Any) -> int:
    from hfl.train import init_state

    return int(sum(t.numel() for t in init_state(cfg, "cpu").values() if t.is_floating_point()))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def leftover_processes(tag: str, agent: str | None = None) -> list[int]:
    """Live processes (other than this one, zombies left out) whose environment carries
    ``AGENT_ENV_TAG=tag`` (and, given ``agent``, ``AGENT_NAME_ENV=agent``)."""
    needles = [f"{AGENT_ENV_TAG}={tag}".encode()] + ([f"{AGENT_NAME_ENV}={agent}".encode()] if agent else [])
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            env = (entry / "environ").read_bytes().split(b"\0")
            if all(n in env for n in needles) and " Z " not in (entry / "stat").read_text().rsplit(")", 1)[-1][:3]:
                found.append(int(entry.name))
    return found
