"""The scenario of a local deployment (``hcfl localnet``): its options, its parties, and their
plan, drawn as in the paper's section V-C:
every owner values the labels of its target set (a common core plus a few of its own), every
station has a cost per global round and per million parameters, and the proposers want a
model of their targets trained.

Over several rounds each proposer wants one more model per round: its first proposal is in
its config, and the one it wants from round ``r`` on is a file that ``hcfl localnet`` drops
into its proposals folder once round ``r - 1`` has started (an owner adding a proposal while
its agent runs); a proposal that won and was trained is not proposed again, one that lost is.
Budgets cover the stations' costs with a fifth to spare, deposits cover every claim (and, with
a bonus, the bonus part of a station's share), so every agent's claims are its true values.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcfl_cli.agent_config import cost_of, value_of
from hcfl_cli.scenario import GWEI
from mechanism import least_deposit_per_weight, station_bonus_hold

DEFAULT_TRAIN: dict[str, Any] = {"clients_per_station": 2, "kappa1": 20, "kappa1_unit": "steps", "kappa2": 2,
                                 "batch_size": 16}
"""Every proposal's job unless told: 20 local steps of 16 images per edge round, 2 edge rounds
per global round, whatever a station holds, so that the paper's ten small stations learn as
much per global round as four large ones (``benchmarks.localnet_accuracy``: after 2 global
rounds every owner measured at least 86 % at 10x10 and 92 % at 4x4, against the 70 % promise;
docs/decisions.md)."""


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
    dataset: str | None = None  # digits without data_dir; with it, its format when the layout is ambiguous
    data_dir: Path | None = None  # a data folder in any format of hfl.folders, split among the participants
    model: str | None = None  # any model `hcfl models` lists; default resnet18 on CIFAR-10, else the small CNN
    seed: int = 0
    alpha: float = 0.5
    phases: tuple[int, ...] | None = None  # default: DEFAULT_PHASES, Train long enough for the rounds' timeouts
    global_rounds: int = 2
    promised_bps: int = 7000
    train: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TRAIN))
    deploy: DeployOptions = field(default_factory=DeployOptions)
    rpc: str | None = None  # a running node (funded by transfers from anvil's first development key)
    out: Path | None = None
    mover_delay_s: float = 3.0
    round_timeout_s: float | None = None  # the winner drops a station silent this long in a round (default: by size)
    testing: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent name -> its config's [testing]
    rounds: int = 1  # rounds of the deployment the agents play
    join_at: int = 0  # a newcomer owner joins from this round (0: none)
    leave_after: int = 0  # the last station leaves after this round (0: none)


@dataclass(frozen=True)
class Party:
    """One participant's machine: its folder (HCFL_HOME), name, address and config, and the
    rounds it takes part in (``first`` .. ``last``)."""

    name: str
    role: str
    home: Path
    address: str
    weight: int
    first: int = 1
    last: int = 1

    @property
    def rounds(self) -> int:
        return self.last - self.first + 1

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
class Plan:
    """Every participant's config part (valuation, proposals, deposit), the deployment's
    deposit per unit of weight, and the proposals added later: name -> [(round, proposal)]."""

    parties: dict[str, dict[str, Any]]
    deposit_per_weight: int
    later: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)


DRAWS = 64
"""How many scenarios ``draw_plan`` tries for one whose first round has a Clarke tax."""


def draw_plan(rng: random.Random, *, owners: Sequence[Any], stations: Sequence[Any], first_owners: Sequence[Any],
              proposers: int, rounds: int, labels: Sequence[int], n_labels: int, dataset: str, model: str,
              params: int, global_rounds: int, promised_bps: int, train: dict[str, Any], min_bond: int,
              bonus_bps: int) -> Plan:
    """The plan for ``owners`` and ``stations`` (``localnet.Party``: name, weight);
    ``first_owners``: those registered in round 1 (the budgets fit their weights); ``labels``:
    those the targets are drawn from (some station holds each), ``n_labels``: how many an
    owner values (its ``value_per_label``).

    The valuations are drawn again (up to ``DRAWS`` times, deterministically in ``rng``) until
    the first round, settled by ``mechanism.settle`` on the true values, has a pivotal
    participant: its tax, recycled, is the second round's subsidy, which is what a deployment
    of several rounds is there to show."""
    kw = dict(owners=owners, stations=stations, first_owners=first_owners, proposers=proposers, rounds=rounds,
              labels=labels, n_labels=n_labels, dataset=dataset, model=model, params=params, global_rounds=global_rounds, promised_bps=promised_bps,
              train=train, min_bond=min_bond, bonus_bps=bonus_bps)
    plan = _draw(rng, **kw)
    for _ in range(DRAWS - 1):
        if first_round_tax(plan, first_owners, stations) > 0:
            break
        plan = _draw(rng, **kw)
    return plan


def first_round_tax(plan: Plan, first_owners: Sequence[Any], stations: Sequence[Any]) -> int:
    """The taxes of round 1 if every participant claims its true values (what its agent does)."""
    from mechanism import settle

    proposals = [(p.name, plan.parties[p.name]["proposals"][0]) for p in first_owners
                 if plan.parties[p.name].get("proposals")]
    if not proposals:
        return 0

    def owner_value(name: str, prop: dict[str, Any]) -> int:
        return value_of(plan.parties[name]["valuation"]["value_per_label"], prop["labels"], prop["accuracy_bps"])

    def station_cost(name: str, prop: dict[str, Any]) -> int:
        v = plan.parties[name]["valuation"]
        return cost_of(v["cost_per_round"], v["cost_per_million_params"], prop["global_rounds"], prop["param_count"])

    out = settle(budgets=[prop["budget"] for _, prop in proposals],
                 owner_weights=[p.weight for p in first_owners], station_weights=[s.weight for s in stations],
                 owner_values=[[owner_value(p.name, prop) for _, prop in proposals] for p in first_owners],
                 station_costs=[[station_cost(s.name, prop) for _, prop in proposals] for s in stations])
    return sum(out.owner_tax) + sum(out.station_tax)


def _draw(rng: random.Random, *, owners: Sequence[Any], stations: Sequence[Any], first_owners: Sequence[Any],
          proposers: int, rounds: int, labels: Sequence[int], n_labels: int, dataset: str, model: str, params: int,
          global_rounds: int, promised_bps: int, train: dict[str, Any], min_bond: int, bonus_bps: int) -> Plan:
    """One draw of the plan (see ``draw_plan``)."""
    core = rng.sample(list(labels), 2)
    rest = [lab for lab in labels if lab not in core]

    def more() -> list[int]:
        return rng.sample(rest, rng.randint(1, 3) if len(rest) >= 3 else rng.randint(0, len(rest)))

    targets = {p.name: tuple(sorted(core + more())) for p in owners}
    parties: dict[str, dict[str, Any]] = {}
    for p in owners:
        values = [rng.randint(5, 20) * GWEI if lab in targets[p.name] else 0 for lab in range(n_labels)]
        parties[p.name] = {"valuation": {"value_per_label": values}}
    # A station's whole cost (over the global rounds) is drawn on the scale of what an owner
    # values one label at the promised accuracy, so that some proposal is worth training
    # whatever the promise and the number of global rounds.
    scale = promised_bps * GWEI // (10_000 * global_rounds)
    for p in stations:
        parties[p.name] = {"valuation": {"cost_per_round": rng.randint(1, 10) * scale,
                                         "cost_per_million_params": rng.randint(0, 20) * scale}}

    def cost(name: str) -> int:
        v = parties[name]["valuation"]
        return cost_of(v["cost_per_round"], v["cost_per_million_params"], global_rounds, params)

    budget = sum(cost(p.name) for p in stations) * 6 // 5 + 1

    def proposal(name: str, labels: Sequence[int]) -> dict[str, Any]:
        return {"name": name, "labels": list(labels), "accuracy_bps": promised_bps, "budget": budget,
                "bond": max(budget // 10, min_bond), "global_rounds": global_rounds, "model": model,
                "dataset": dataset, "param_count": params, "train": dict(train)}

    first = {p.name for p in first_owners}
    distinct = list({targets[p.name]: p for p in owners if p.name in first}.values())
    later: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for p in distinct[:proposers]:
        parties[p.name]["proposals"] = [proposal("p1", targets[p.name])]
        for r in range(2, rounds + 1):  # another model it wants, from round r on: the core and new labels
            later.setdefault(p.name, []).append((r, proposal(f"p{r}", sorted(set(core) | set(more())))))
    d = least_deposit_per_weight([budget], [p.weight for p in first_owners])
    for p in owners:
        parties[p.name]["deposit"] = p.weight * d + sum(parties[p.name]["valuation"]["value_per_label"]) + GWEI
    u_total = sum(p.weight for p in stations)
    for p in stations:
        # with a bonus the deposit also keeps the bonus part of the station's share (SPEC 9);
        # the fewest stations of any round give each the largest share: all of them but one
        hold = station_bonus_hold(budget, bonus_bps, p.weight, max(1, u_total - max(s.weight for s in stations)))
        parties[p.name]["deposit"] = cost(p.name) + GWEI + (hold if bonus_bps else 0)
    return Plan(parties, d, later)
