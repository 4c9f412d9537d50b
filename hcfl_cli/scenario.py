"""Crowdfunding scenarios: who takes part, what is proposed, and everyone's true values.

A scenario is what ``hcfl round`` plays: owners and stations with weights and deposits,
proposals with target label sets, budgets and bonds, and the participants' true values and
costs (which truthful participants claim). ``sample_scenario`` draws one as in the paper's
section V-C: every owner has a target label set sharing a common core, values each label of
it at a random amount (mean 10 Gwei), and every station's cost of training a proposal is a
random amount per target label (mean 5 Gwei). ``load_scenario`` reads one from JSON or
TOML; amounts in files are integer Gwei, amounts in memory exact wei.
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mechanism import MAX_AMOUNT, deposit_bounds, least_deposit_per_weight

GWEI = 10**9
N_LABELS = 10
LEAST_BOND = GWEI
"""The least responsibility bond of the deployment ``hcfl round`` makes, and the floor of a
proposal's default bond (a tenth of its budget), so that no default is refused on chain."""


def default_bond(budget: int) -> int:
    """A tenth of the budget, and never less than ``LEAST_BOND``."""
    return max(budget // 10, LEAST_BOND)


@dataclass(frozen=True)
class Proposal:
    owner: int  # index of the proposing owner
    labels: tuple[int, ...]  # target label set
    expected_accuracy_bps: int  # promised accuracy on the target labels, basis points
    rounds: int  # global training rounds promised
    budget: int  # C_m, wei
    bond: int  # responsibility bond, wei

    @property
    def label_mask(self) -> int:
        return sum(1 << label for label in self.labels)


@dataclass(frozen=True)
class Scenario:
    owner_weights: list[int]
    station_weights: list[int]
    owner_values: list[list[int]]  # true v[i][m], wei
    station_costs: list[list[int]]  # true kappa[j][m], wei
    proposals: list[Proposal]
    owner_deposits: list[int]
    station_deposits: list[int]
    seed: int = 0
    owner_targets: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def budgets(self) -> list[int]:
        return [p.budget for p in self.proposals]

    @property
    def deposit_per_weight(self) -> int:
        """The deployment's ``d`` this scenario needs (every budget at most ``W * d``)."""
        return least_deposit_per_weight(self.budgets, self.owner_weights)

    def profile(self) -> dict[str, Any]:
        """The truthful profile: the keyword arguments of ``mechanism.settle``."""
        return {
            "budgets": self.budgets,
            "owner_weights": self.owner_weights,
            "station_weights": self.station_weights,
            "owner_values": self.owner_values,
            "station_costs": self.station_costs,
        }

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["proposals"] = [asdict(p) for p in self.proposals]
        return d


def sample_scenario(seed: int = 0, owners: int = 10, stations: int = 10, proposals: int = 4,
                    core: int = 2, extra: int = 4) -> Scenario:
    """A seeded scenario after the paper's section V-C (see the module docstring)."""
    if not 1 <= proposals <= owners:
        raise ValueError(f"proposals: must be between 1 and the number of owners ({owners}), got {proposals}")
    rng = random.Random(seed)
    common = rng.sample(range(N_LABELS), core)
    rest = [label for label in range(N_LABELS) if label not in common]
    targets = [tuple(sorted(common + rng.sample(rest, rng.randint(1, extra)))) for _ in range(owners)]
    label_value = [[rng.randint(0, 20) * GWEI for _ in range(N_LABELS)] for _ in range(owners)]
    label_cost = [[rng.randint(0, 10) * GWEI for _ in range(N_LABELS)] for _ in range(stations)]
    # Owners with distinct targets propose, so the proposals differ.
    distinct = list({t: o for o, t in enumerate(targets)}.values())
    proposers = rng.sample(distinct, min(proposals, len(distinct)))
    props = []
    for o in proposers:
        labels = targets[o]
        # The budget pays the stations' expected cost (5 Gwei per label each) plus 20%.
        budget = stations * 5 * len(labels) * GWEI * 6 // 5
        props.append(Proposal(owner=o, labels=labels, expected_accuracy_bps=rng.choice([7000, 8000, 9000]),
                              rounds=5, budget=budget, bond=default_bond(budget)))
    values = [[sum(label_value[i][lab] for lab in p.labels if lab in targets[i]) for p in props] for i in range(owners)]
    costs = [[sum(label_cost[j][lab] for lab in p.labels) for p in props] for j in range(stations)]
    ow = [rng.randint(1, 3) for _ in range(owners)]
    sw = [rng.randint(1, 3) for _ in range(stations)]
    budgets = [p.budget for p in props]
    od, sd = deposit_bounds(budgets, ow, values, costs, deposit_per_weight=least_deposit_per_weight(budgets, ow))
    # A margin over the least deposit, as a careful participant would inject.
    return Scenario(ow, sw, values, costs, props, [d + 10 * GWEI for d in od], [d + 10 * GWEI for d in sd],
                    seed=seed, owner_targets=targets)


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ValueError(f"{where}.{key}: missing")
    return obj[key]


def _gwei(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: expected a non-negative integer amount in Gwei, got {value!r}")
    wei = value * GWEI
    if wei > MAX_AMOUNT:
        raise ValueError(f"{where}: {value} Gwei exceeds the maximum 2**96-1 wei")
    return wei


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{where}: expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _bond(p: Mapping[str, Any], budget: int, where: str) -> int:
    if "bond" not in p:
        return default_bond(budget)
    bond = _gwei(p["bond"], f"{where}.bond")
    if bond < LEAST_BOND:
        raise ValueError(f"{where}.bond: {bond // GWEI} Gwei is below the contract's least bond of "
                         f"{LEAST_BOND // GWEI} Gwei")
    return bond


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Build a scenario from the file format (amounts in Gwei); errors name the field.

    Format::

        seed = 1
        [[owners]]            # one table per owner
        weight = 1
        values = [30, 0]      # true value of each proposal, Gwei
        deposit = 100         # optional: the least deposit that lets it reveal, + 10 Gwei
        [[stations]]
        weight = 2
        costs = [5, 9]
        [[proposals]]
        owner = 0
        labels = [0, 1]
        budget = 40
        bond = 4              # optional, default budget/10 and at least 1 Gwei (the least bond)
        expected_accuracy_bps = 8000   # optional
        rounds = 3            # optional
    """
    if not isinstance(data, Mapping):
        raise ValueError("scenario: expected a table/object at the top level")
    owners, stations, proposals = (_get(data, k, "scenario") for k in ("owners", "stations", "proposals"))
    for name, seq in (("owners", owners), ("stations", stations), ("proposals", proposals)):
        if not isinstance(seq, list) or not seq:
            raise ValueError(f"scenario.{name}: expected a non-empty list")
    n_m = len(proposals)
    props = []
    for m, p in enumerate(proposals):
        where = f"proposals[{m}]"
        labels = _get(p, "labels", where)
        if not isinstance(labels, list) or not labels:
            raise ValueError(f"{where}.labels: expected a non-empty list of labels 0..{N_LABELS - 1}")
        labels = tuple(sorted({_int(v, f"{where}.labels", 0, N_LABELS - 1) for v in labels}))
        budget = _gwei(_get(p, "budget", where), f"{where}.budget")
        props.append(Proposal(
            owner=_int(_get(p, "owner", where), f"{where}.owner", 0, len(owners) - 1),
            labels=labels,
            expected_accuracy_bps=_int(p.get("expected_accuracy_bps", 8000), f"{where}.expected_accuracy_bps", 0, 10000),
            rounds=_int(p.get("rounds", 3), f"{where}.rounds", 1, 10_000),
            budget=budget,
            bond=_bond(p, budget, where),
        ))

    def rows(seq: list, key: str, side: str) -> tuple[list[int], list[list[int]], list[int | None]]:
        weights, claims, deposits = [], [], []
        for i, item in enumerate(seq):
            where = f"{side}[{i}]"
            weights.append(_int(item.get("weight", 1), f"{where}.weight", 1, MAX_AMOUNT))
            vals = _get(item, key, where)
            if not isinstance(vals, list) or len(vals) != n_m:
                raise ValueError(f"{where}.{key}: expected {n_m} amounts (one per proposal)")
            claims.append([_gwei(v, f"{where}.{key}[{k}]") for k, v in enumerate(vals)])
            deposits.append(_gwei(item["deposit"], f"{where}.deposit") if "deposit" in item else None)
        return weights, claims, deposits

    ow, values, odep = rows(owners, "values", "owners")
    sw, costs, sdep = rows(stations, "costs", "stations")
    budgets = [p.budget for p in props]
    need_o, need_s = deposit_bounds(budgets, ow, values, costs,
                                    deposit_per_weight=least_deposit_per_weight(budgets, ow))
    for side, given, need in (("owners", odep, need_o), ("stations", sdep, need_s)):
        for i, (g, n) in enumerate(zip(given, need)):
            if g is not None and g < n:
                raise ValueError(f"{side}[{i}].deposit: {g // GWEI} Gwei is below the {-(-n // GWEI)} Gwei "
                                 "its claims and weight need (SPEC section 5 steps 1 and 4)")
    return Scenario(
        ow, sw, values, costs, props,
        [g if g is not None else n + 10 * GWEI for g, n in zip(odep, need_o)],
        [g if g is not None else n + 10 * GWEI for g, n in zip(sdep, need_s)],
        seed=_int(data.get("seed", 0), "scenario.seed", 0, 2**63),
    )


def load_scenario(path: Path) -> Scenario:
    """Read a scenario from a ``.json`` or ``.toml`` file; errors name the file and field."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"--scenario: cannot read {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"--scenario: {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None
    try:
        return scenario_from_dict(data)
    except ValueError as e:
        raise ValueError(f"--scenario {path}: {e}") from None
