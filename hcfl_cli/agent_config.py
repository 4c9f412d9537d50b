"""A participant agent's configuration (``hcfl agent --config PARTY.toml``) and its valuation.

One TOML file per party: its role, its deposit and ticket, where its own data and its Flower
key folder lie, how it publishes files, what it proposes (an owner may), and how it values
a proposal. Paths are relative to the file's folder. The valuation (SPEC sections 1-2, the
paper's section V-C) turns a proposal's description document into a claim, in wei:

- an owner: ``value_per_label`` (one amount per label of the dataset: what a perfect model
  of that label is worth to it), times the promised accuracy:
  ``sum(value_per_label[l] for l in targets) * accuracy_bps // 10000``;
- a station: ``global_rounds * (cost_per_round + cost_per_million_params * param_count // 10**6)``;
- or either side: ``claims_program``, run as ``PROGRAM ROLE DOC...`` with one description
  document per proposal; it prints the claims (a JSON list or comma-separated wei).

A proposal the participant cannot train or judge (its document does not fetch or parse, its
model is not buildable here, e.g. a plugin this participant has not installed, or its data does
not fit the participant's own folder) is valued so that it is not chosen for the participant:
a station claims its whole deposit, an owner 0 (``hcfl_cli.bidding.bid``); the agent says why in
one line.

A claim is cut to what the deposit covers (SPEC section 5 step 4), so that a reveal is never
refused; the agent says so when it cuts.

Format::

    name = "owner0"            # the agent's name in its printed lines
    role = "owner"             # or "station"
    rpc = "http://127.0.0.1:8545"
    ticket = "ticket.json"     # the organizer's admission ticket
    deposit = 1000000          # wei
    data = "data"              # owner: its held-out set; station: its own training data
    flower = "flower"          # station: its node key pair; owner: its TLS files
    work = "."                 # the agent's own folder (documents, model, state)
    publish = "http"           # or "file": how its documents and model are published
    http_host = "127.0.0.1"
    http_port = 0              # 0: any free port (a fixed one keeps its URIs across restarts)
    fleet_host = "127.0.0.1"   # where stations reach its SuperLink, should it win (its TLS name)
    fleet_bind = "127.0.0.1"   # the address its SuperLink listens on (default fleet_host; 0.0.0.0: all)
    [valuation]
    value_per_label = [10, 10, 0, 0, 5, 0, 0, 0, 0, 0]   # owner, wei
    # cost_per_round = 5 ; cost_per_million_params = 1    # station, wei
    # claims_program = "my-claims"
    proposals_dir = "proposals"  # an owner: more proposals, one TOML file each, read every round
    [[proposals]]              # an owner's proposals, in the order it wants them (or one [proposal])
    name = "digits-core"       # default proposalK; a folder file's name is its stem
    labels = [0, 1, 4]         # by index or by class name ("cat"), of its own data's classes
    accuracy_bps = 8000
    budget = 1000              # wei
    bond = 100                 # wei
    global_rounds = 2
    model = "cnn"              # a torchvision model's name, or an installed hcfl.models plugin's entry point
    # dataset = "cifar10"      # default: what its own data folder holds (else digits)
    param_count = 0            # 0: counted from the model
    [proposals.train]          # further hfl.TrainConfig fields of the job
    clients_per_station = 2
    [agent]
    poll_s = 0.5               # the first poll interval; doubles up to max_poll_s when idle
    max_poll_s = 4.0
    mover_delay_s = 2.0        # advance/close/finalize after a random delay up to this
    train_timeout_s = 0        # 0: until the Train deadline
    round_timeout_s = 120      # a station that has not answered a global round by then is dropped
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcfl_cli.documents import Description

ROLES = ("owner", "station")
PUBLISH = ("http", "file")
CLAIMS_PROGRAM_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ProposalPlan:
    """One proposal an owner wants trained: proposed each round until it wins and is trained
    (``hcfl_cli.agent_proposals``)."""

    labels: tuple[int | str, ...]  # indices or class names of the owner's data
    accuracy_bps: int
    budget: int
    bond: int
    global_rounds: int = 2
    model: str = "cnn"
    dataset: str | None = None  # None: what the owner's data folder holds (digits without one)
    param_count: int = 0
    train: dict[str, Any] = field(default_factory=dict)
    name: str = "proposal"


@dataclass(frozen=True)
class Valuation:
    value_per_label: tuple[int, ...] = ()
    cost_per_round: int = 0
    cost_per_million_params: int = 0
    claims_program: str | None = None


@dataclass(frozen=True)
class Testing:
    """Behaviours of a dishonest or faulty winner, for the tests of what the others do."""

    over_report_bps: int | None = None  # report this accuracy whatever the model achieved
    tamper_model: bool = False  # publish a model file other than the reported one


@dataclass(frozen=True)
class AgentConfig:
    path: Path
    name: str
    role: str
    rpc: str | None
    ticket: Path | None
    deposit: int
    data: Path | None
    flower: Path
    work: Path
    publish: str = "http"
    http_host: str = "127.0.0.1"
    http_port: int = 0
    fleet_host: str = "127.0.0.1"
    fleet_bind: str = "127.0.0.1"
    valuation: Valuation = field(default_factory=Valuation)
    proposals: tuple[ProposalPlan, ...] = ()
    proposals_dir: Path | None = None
    poll_s: float = 0.5
    max_poll_s: float = 4.0
    mover_delay_s: float = 2.0
    train_timeout_s: float = 0.0
    round_timeout_s: float = 120.0
    testing: Testing = field(default_factory=Testing)


def _int(obj: Mapping[str, Any], key: str, where: str, default: int | None = None, lo: int = 0) -> int:
    if key not in obj:
        if default is None:
            raise ValueError(f"{where}{key}: missing")
        return default
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{where}{key}: expected a whole number >= {lo}, got {v!r}")
    return v


def _num(obj: Mapping[str, Any], key: str, where: str, default: float) -> float:
    v = obj.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ValueError(f"{where}{key}: expected seconds >= 0, got {v!r}")
    return float(v)


def _path(base: Path, value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key}: expected a path, got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def config_from_dict(data: Mapping[str, Any], path: Path) -> AgentConfig:
    """Check and build the configuration (errors name the field)."""
    base = path.parent
    role = data.get("role")
    if role not in ROLES:
        raise ValueError(f"role: expected owner or station, got {role!r}")
    publish = data.get("publish", "http")
    if publish not in PUBLISH:
        raise ValueError(f"publish: expected http or file, got {publish!r}")
    v = data.get("valuation", {})
    if not isinstance(v, Mapping):
        raise ValueError("valuation: expected a table")
    per_label = v.get("value_per_label", [])
    if not isinstance(per_label, list) or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in per_label):
        raise ValueError(f"valuation.value_per_label: expected whole numbers of wei, got {per_label!r}")
    program = v.get("claims_program")
    valuation = Valuation(tuple(per_label), _int(v, "cost_per_round", "valuation.", 0),
                          _int(v, "cost_per_million_params", "valuation.", 0),
                          str(_path(base, program, "valuation.claims_program")) if program else None)
    if role == "owner" and not per_label and not program:
        raise ValueError("valuation.value_per_label: an owner needs its value per label (or a claims_program)")
    proposals = _proposals(data, role)
    folder = data.get("proposals_dir")
    if folder is not None and role != "owner":
        raise ValueError("proposals_dir: only an owner proposes")
    a = data.get("agent", {})
    t = data.get("testing", {})
    over = t.get("over_report_bps")
    if over is not None and (not isinstance(over, int) or not 0 <= over <= 10_000):
        raise ValueError(f"testing.over_report_bps: expected 0..10000, got {over!r}")
    name = data.get("name") or path.stem
    return AgentConfig(
        path=path, name=str(name), role=role, rpc=data.get("rpc"),
        ticket=_path(base, data["ticket"], "ticket") if data.get("ticket") else None,
        deposit=_int(data, "deposit", "", lo=1),
        data=_path(base, data["data"], "data") if data.get("data") else None,
        flower=_path(base, data.get("flower", "flower"), "flower"),
        work=_path(base, data.get("work", "."), "work"),
        publish=publish, http_host=str(data.get("http_host", "127.0.0.1")), http_port=_int(data, "http_port", "", 0),
        fleet_host=str(data.get("fleet_host", "127.0.0.1")),
        fleet_bind=str(data.get("fleet_bind", data.get("fleet_host", "127.0.0.1"))), valuation=valuation,
        proposals=proposals, proposals_dir=_path(base, folder, "proposals_dir") if folder is not None else None,
        poll_s=_num(a, "poll_s", "agent.", 0.5), max_poll_s=_num(a, "max_poll_s", "agent.", 4.0),
        mover_delay_s=_num(a, "mover_delay_s", "agent.", 2.0), train_timeout_s=_num(a, "train_timeout_s", "agent.", 0),
        round_timeout_s=_num(a, "round_timeout_s", "agent.", 120.0) or 120.0,
        testing=Testing(over, bool(t.get("tamper_model", False))),
    )


NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def proposal_from_dict(p: Any, where: str, name: str) -> ProposalPlan:
    """One proposal table (``[proposal]``, an entry of ``[[proposals]]`` or a file of the
    proposals folder); errors name the field under ``where`` (e.g. ``proposal.``)."""
    if not isinstance(p, Mapping):
        raise ValueError(f"{where.rstrip('.')}: expected a table")
    name = str(p.get("name", name))
    if not name or not set(name) <= NAME_CHARS:
        raise ValueError(f"{where}name: letters, digits, '-', '_' and '.' only, got {name!r}")
    labels = p.get("labels")
    if not isinstance(labels, list) or not labels or any(
            not (isinstance(x, str) and x) and (isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 256)
            for x in labels):
        raise ValueError(f"{where}labels: expected labels 0..255 or class names, got {labels!r}")
    acc = _int(p, "accuracy_bps", where)
    if acc > 10_000:
        raise ValueError(f"{where}accuracy_bps: at most 10000, got {acc}")
    train = p.get("train", {})
    if not isinstance(train, Mapping):
        raise ValueError(f"{where}train: expected a table of hfl.TrainConfig fields")
    return ProposalPlan(tuple(dict.fromkeys(labels)), acc, _int(p, "budget", where, lo=1),
                        _int(p, "bond", where, lo=1), _int(p, "global_rounds", where, 2, lo=1),
                        str(p.get("model", "cnn")), str(p["dataset"]) if p.get("dataset") else None,
                        _int(p, "param_count", where, 0), dict(train), name)


def _proposals(data: Mapping[str, Any], role: str) -> tuple[ProposalPlan, ...]:
    """``[proposal]`` (one) and ``[[proposals]]`` (several), names distinct."""
    found: list[ProposalPlan] = []
    if "proposal" in data:
        found.append(proposal_from_dict(data["proposal"], "proposal.", "proposal"))
    listed = data.get("proposals", [])
    if not isinstance(listed, list):
        raise ValueError("proposals: expected an array of tables ([[proposals]])")
    found += [proposal_from_dict(p, f"proposals[{k}].", f"proposal{k}") for k, p in enumerate(listed)]
    if found and role != "owner":
        raise ValueError("proposal: only an owner proposes")
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise ValueError(f"proposals: two proposals share a name: {names}")
    return tuple(found)


def read_config(path: Path) -> AgentConfig:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f"--config: cannot read {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config: {path} is not valid TOML: {e}") from None
    try:
        return config_from_dict(data, Path(path).resolve())
    except ValueError as e:
        raise ValueError(f"--config {path}: {e}") from None


# -- valuation ------------------------------------------------------------------------------
def value_of(value_per_label: Sequence[int], labels: Iterable[int], accuracy_bps: int) -> int:
    """An owner's value of a model: its value per target label, times the promised accuracy
    (exact integers); a label past the owner's list is worth 0."""
    return sum(value_per_label[lab] for lab in labels if lab < len(value_per_label)) * accuracy_bps // 10_000


def cost_of(cost_per_round: int, cost_per_million_params: int, global_rounds: int, param_count: int) -> int:
    """A station's cost of training: per global round, a fixed part and a part per million
    parameters."""
    return global_rounds * (cost_per_round + cost_per_million_params * param_count // 10**6)


def owner_value(v: Valuation, doc: Description) -> int:
    """What a model of ``doc`` is worth to the owner (``value_of``)."""
    return value_of(v.value_per_label, doc.target_labels, doc.accuracy_bps)


def station_cost(v: Valuation, doc: Description) -> int:
    """What training ``doc`` costs the station (``cost_of``)."""
    return cost_of(v.cost_per_round, v.cost_per_million_params, doc.global_rounds, doc.param_count)


def claims_for(cfg: AgentConfig, docs: Sequence[Description], doc_paths: Sequence[Path]) -> list[int]:
    """One claim per proposal, from the valuation or the claims program."""
    v = cfg.valuation
    if v.claims_program:
        try:
            done = subprocess.run([v.claims_program, cfg.role, *map(str, doc_paths)], capture_output=True, text=True,
                                  timeout=CLAIMS_PROGRAM_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ValueError(f"valuation.claims_program: {v.claims_program} did not run: {e}") from None
        if done.returncode != 0:
            raise ValueError(f"valuation.claims_program: {v.claims_program} exited {done.returncode}: "
                             f"{done.stderr.strip()[-200:]}")
        from hcfl_cli.inputs import parse_amounts

        text = done.stdout.strip().removeprefix("[").removesuffix("]")
        claims = parse_amounts(text, "valuation.claims_program")
        if len(claims) != len(docs):
            raise ValueError(f"valuation.claims_program: printed {len(claims)} claims for {len(docs)} proposals")
        return claims
    if cfg.role == "owner":
        return [owner_value(v, d) for d in docs]
    return [station_cost(v, d) for d in docs]
