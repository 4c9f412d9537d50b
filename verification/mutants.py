"""Mutation testing of the proofs and the tests: ``python -m verification.mutants``.

Each mutant is one plausible mistake, written as an exact text replacement in one file of
``mechanism/`` or of the contracts (``contracts/HCFL.vy``, ``contracts/HCFLTraining.vy``), or a
coordinated one in two files (a rule changed in the contract and in its Python twin alike). It is applied to a temporary copy of the whole
repository tree (so the copy's ``contracts/build.py`` compiles the copy's mutated contract and
``import mechanism`` finds the copy's mutated code: nothing in the real tree is touched), then
the checks named for it run in that copy, in order, until one fails. A failing check
**kills** the mutant; a mutant no check kills **survives**. A pattern that is not in the
file (or is in it more than once) is reported as such and counts as a failure: the contract
in particular changes, and a mutant must be re-targeted rather than silently skipped.

    python -m verification.mutants [--quick] [--all-checks] [--only NAME ...] [--json FILE]

Exit status: 0 when every mutant is killed, 1 when one survives or its pattern is missing,
2 when the unmutated copy already fails a check (the baseline; nothing would mean anything).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

KILLED, SURVIVED, NOT_FOUND, AMBIGUOUS = "killed", "survived", "pattern not found", "pattern ambiguous"


@dataclass(frozen=True)
class Check:
    """One check a mutant is run against: a command run in the mutated copy."""

    name: str
    argv: tuple[str, ...]  # after the Python interpreter
    timeout_s: float


PYTEST = ("-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider", "-p", "verification.mutant_plugin", "--hypothesis-seed=0")

CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("verification --quick", ("-m", "verification.check", "--quick"), 240.0),
        Check(
            "mechanism tests",
            (*PYTEST, "tests/test_mechanism.py", "tests/test_mechanism_properties.py", "tests/test_verification_encoder.py",
             "tests/test_mechanism_bonus.py"),
            300.0,
        ),
        Check(
            "contract tests",
            (*PYTEST, "tests/test_contract_ties.py", "tests/test_contract_subsidy.py", "tests/test_contract_differential.py",
             "tests/test_contract_round.py"),
            400.0,
        ),
        Check(
            "contract rule tests",
            (*PYTEST[:5], "not slow and not anvil", *PYTEST[6:], "tests/test_contract_rules.py",
             "tests/test_contract_bonus.py", "tests/test_contract_revoke.py"),
            400.0,
        ),
    )
}

MECHANISM_CHECKS = ("verification --quick", "mechanism tests")
FAST_PATH_CHECKS = ("mechanism tests",)  # settle_fast is not the proved core: the differential tests cover it
CONTRACT_CHECKS = ("contract tests",)
RULE_CHECKS = ("contract rule tests",)  # the rules tests/test_contract_rules.py, _bonus.py and _revoke.py pin
TRAINING_SOURCE = "contracts/HCFLTraining.vy"
"""A mutant of this file is compiled into HCFL's creation code: the copy is rebuilt first."""


@dataclass(frozen=True)
class Mutant:
    """One mistake: replace ``old`` (exactly once) by ``new`` in ``path``."""

    name: str
    path: str  # relative to the repository root
    old: str
    new: str
    checks: tuple[str, ...]
    quick: bool = False  # part of the CI subset (``--quick``)
    also: tuple[tuple[str, str, str], ...] = ()  # the same mistake made in other files: (path, old, new)

    def apply(self, text: str) -> tuple[str, str | None]:
        """The mutated text, or the original and why the pattern does not apply."""
        return _replace_once(text, self.old, self.new)

    def edits(self) -> tuple[tuple[str, str, str], ...]:
        """Every (path, old, new) replacement of this mutant, its own first."""
        return ((self.path, self.old, self.new), *self.also)


def _replace_once(text: str, old: str, new: str) -> tuple[str, str | None]:
    count = text.count(old)
    if count == 0:
        return text, NOT_FOUND
    if count > 1:
        return text, AMBIGUOUS
    return text.replace(old, new), None


def _m(name: str, path: str, old: str, new: str, checks: tuple[str, ...] = MECHANISM_CHECKS, quick: bool = False) -> Mutant:
    return Mutant(name, path, old, new, checks, quick)


MECHANISM_MUTANTS: tuple[Mutant, ...] = (
    _m("tax max without none", "mechanism/clarke.py",
       "return ops.fold_max(NONE_WELFARE, others_welfare)", "return ops.max_of(others_welfare)", quick=True),
    _m("tax max skips the first proposal", "mechanism/clarke.py",
       "return ops.fold_max(NONE_WELFARE, others_welfare)", "return ops.fold_max(NONE_WELFARE, others_welfare[1:])"),
    _m("ties to the highest index", "mechanism/clarke.py",
       "better = welfare > best", "better = welfare >= best", quick=True),
    _m("a zero-welfare proposal beats none", "mechanism/clarke.py",
       "return NONE_WELFARE, ops.NONE", "return NONE_WELFARE - 1, ops.NONE"),
    _m("winner index off by one", "mechanism/clarke.py",
       "choice_step(best, winner, s, ops.index(m), ops)", "choice_step(best, winner, s, ops.index(max(m - 1, 0)), ops)"),
    _m("last proposal never considered", "mechanism/clarke.py",
       "for m, s in enumerate(welfare):", "for m, s in enumerate(welfare[:-1]):"),
    _m("tax sign flipped", "mechanism/clarke.py", "return best - at_winner", "return at_winner - best"),
    _m("others' welfare adds own net value", "mechanism/clarke.py",
       "return [t - n for t, n in zip(total, own_net)]", "return [t + n for t, n in zip(total, own_net)]"),
    _m("owner shares rounded down", "mechanism/shares.py",
       "return [-ops.floor_div(-(budget * w), total) for w in owner_weights]",
       "return [ops.floor_div(budget * w, total) for w in owner_weights]", quick=True),
    _m("station shares rounded up", "mechanism/shares.py",
       "return [ops.floor_div(budget * u, total) for u in station_weights]",
       "return [-ops.floor_div(-(budget * u), total) for u in station_weights]"),
    _m("pool pays the whole subsidy, not min(subsidy, C)", "mechanism/shares.py",
       "return ops.minimum(subsidy, budget)", "return subsidy"),
    _m("owners' shares ignore the subsidy", "mechanism/shares.py",
       "return budget - subsidy_used(budget, subsidy, ops)", "return budget"),
    _m("owner net value ignores its share", "mechanism/shares.py",
       "return [b - c for b, c in zip(claims, shares)]", "return [b for b, c in zip(claims, shares)]"),
    _m("station net value sign flipped", "mechanism/shares.py",
       "return [r - k for k, r in zip(claims, shares)]", "return [k - r for k, r in zip(claims, shares)]"),
    _m("midpoint rounds up", "mechanism/shares.py",
       "return [ops.floor_div(lo + hi, 2) for lo, hi in zip(lows, highs)]",
       "return [ops.floor_div(lo + hi + 1, 2) for lo, hi in zip(lows, highs)]"),
    _m("uniform draw interval not ordered", "mechanism/shares.py",
       "draw(ops.minimum(lo, hi), ops.select(lo <= hi, hi, lo))", "draw(lo, hi)"),
    _m("owner deposit bound without the share", "mechanism/shares.py",
       "return maximum(list(claims)) + maximum(list(shares))", "return maximum(list(claims))", quick=True),
    _m("station deposit bound one short", "mechanism/shares.py",
       "    return maximum(list(claims)) + hold", "    return maximum(list(claims)) + hold - 1"),
    _m("welfare adds the costs", "mechanism/settle.py",
       "ops.total([row[m] for row in values]) - ops.total([row[m] for row in costs])",
       "ops.total([row[m] for row in values]) + ops.total([row[m] for row in costs])"),
    _m("rules swapped", "mechanism/settle.py", 'if rule == "clarke":', 'if rule == "paper":'),
    _m("dust forgets the pool's subsidy", "mechanism/settle.py",
       "d = ops.total(owner_share) + pool_pays - ops.total(station_paid)",
       "d = ops.total(owner_share) - ops.total(station_paid)", quick=True),
    _m("stations keep their tax", "mechanism/settle.py", "return share - tax", "return share + tax"),
    _m("owners pay their share only", "mechanism/settle.py", "return share + tax", "return share"),
    _m("surplus leaves out the stations' taxes", "mechanism/settle.py",
       "sum(owner_tax) + sum(station_tax) + dust", "sum(owner_tax) + dust"),
    _m("subsidy may be negative", "mechanism/settle.py",
       'check_int("subsidy", subsidy, minimum=0)', 'check_int("subsidy", subsidy, minimum=-(2**96))'),
    _m("settle_fast: ties to the highest index", "mechanism/fast.py",
       "top = int(np.argmax(welfare))", "top = int(len(welfare) - 1 - np.argmax(welfare[::-1]))", FAST_PATH_CHECKS, quick=True),
    _m("settle_fast: a zero maximum picks a proposal", "mechanism/fast.py",
       "winner = top if int(welfare[top]) > 0 else None", "winner = top if int(welfare[top]) >= 0 else None", FAST_PATH_CHECKS),
    _m("settle_fast: tax max without none", "mechanism/fast.py",
       "best = np.maximum(others.max(axis=1), 0)", "best = others.max(axis=1)", FAST_PATH_CHECKS),
    _m("settle_fast: subsidy not capped by the budget", "mechanism/fast.py",
       "owner_budget = C - np.minimum(C, subsidy)", "owner_budget = C - subsidy",
       FAST_PATH_CHECKS),
    # SPEC section 9's station bonus
    _m("bonus: the weight part shares the whole budget", "mechanism/settle.py",
       "weight_part = weight_parts(budget, pool_b, sw, ops)", "weight_part = weight_parts(budget, 0, sw, ops)"),
    _m("bonus: no fallback to weights when nothing is reported", "mechanism/shares.py",
       "ops.floor_div(pool * ops.select(none_reported, u, c), ops.select(none_reported, by_weight, reported))",
       "ops.floor_div(pool * c, ops.select(none_reported, by_weight, reported))"),
    _m("bonus: the rounding remainder goes to the first station", "mechanism/settle.py",
       "    bonus = bonus_shares(pool_b, list(contributions) if contributions is not None else list(sw), sw, ops)\n",
       "    bonus = bonus_shares(pool_b, list(contributions) if contributions is not None else list(sw), sw, ops)\n"
       "    bonus[0] = bonus[0] + pool_b - ops.total(bonus)\n"),
    _m("bonus: the station hold rounds down", "mechanism/shares.py",
       "return -ops.floor_div(-(bonus_pool(max_budget, bonus_bps, ops) * weight), total_weight)",
       "return ops.floor_div(bonus_pool(max_budget, bonus_bps, ops) * weight, total_weight)"),
    _m("no-show: a station that never revealed is charged its whole tax", "mechanism/settle.py",
       "return ops.select(silent, ops.minimum(tax, weight_part), tax)", "return tax"),
)
"""Mistakes in the reference (the proved core and its vectorized twin)."""


def _c(name: str, old: str, new: str, quick: bool = False, checks: tuple[str, ...] = CONTRACT_CHECKS,
       path: str = "contracts/HCFL.vy", also: tuple[tuple[str, str, str], ...] = ()) -> Mutant:
    return Mutant(name, path, old, new, checks, quick, also)


CONTRACT_MUTANTS: tuple[Mutant, ...] = (
    # Exact text of contracts/HCFL.vy (and HCFLTraining.vy) of today; when the contracts
    # change, a missing pattern fails loudly ("pattern not found") and the row is re-targeted here.
    _c("close: ties to the highest index",
       "        if s > best:\n            best = s\n            winner = m",
       "        if s > best or (found and s == best):\n            best = s\n            winner = m", quick=True),
    _c("close: a zero maximum picks a proposal",
       "        if s > best:\n            best = s\n            winner = m",
       "        if s >= best:\n            best = s\n            winner = m"),
    _c("close: subsidy used not capped by the budget",
       "used = min(sub, self._budget(round_id, winner))", "used = sub"),
    _c("settle: tax max without none",
       "    best: int256 = 0\n    at_winner: int256 = 0",
       "    best: int256 = min_value(int256)\n    at_winner: int256 = 0"),
    _c("settle: winner index off by one", "if m + 1 == wp1:", "if m == wp1:"),
    _c("settle: owner shares rounded down",
       "sh = self._ceil_div(budget * weight, total_w)", "sh = budget * weight // total_w"),
    _c("settle: station shares rounded up",
       "sh = budget * weight // total_w\n            net = convert(sh, int256) - claim",
       "sh = self._ceil_div(budget * weight, total_w)\n            net = convert(sh, int256) - claim"),
    _c("settle: owners' shares ignore the subsidy", "            budget -= min(budget, sub)\n", ""),
    _c("settle: station net value sign flipped",
       "net = convert(sh, int256) - claim", "net = claim - convert(sh, int256)"),
    _c("settle: no-show penalty not pooled", "to_pool: uint256 = tax + penalty", "to_pool: uint256 = tax"),
    _c("reveal: station claims counted as values",
       "            self.welfare_pair[round_id][k] -= both",
       "            self.welfare_pair[round_id][k] += both"),
    _c("reveal: owner deposit bound without the share",
       "        big = self.max_budget[round_id]\n        big -= min(big, self.subsidy[round_id])\n", "        pass\n"),
    _c("reveal: owner deposit bound ignores the subsidy", "        big -= min(big, self.subsidy[round_id])\n", ""),
    _c("settle: a station paid its nominal share despite the bonus",
       "                share = (budget - budget * BONUS_BPS // MAX_BPS) * weight // total_w\n", "                pass\n"),
    _c("credit_bonus: the bonus by weight although contributions were reported",
       "    if whole == 0:\n        part = (info >> INFO_WEIGHT_SHIFT)", "    if True:\n        part = (info >> INFO_WEIGHT_SHIFT)"),
    # issue 23: rules no test pinned (tests/test_contract_rules.py, _bonus.py, _revoke.py)
    _c("commitment: the contract and its Python twin both forget the deployment",
       "    return keccak256(abi_encode(self, round_id, who, claims, salt))",
       "    return keccak256(abi_encode(round_id, who, claims, salt))", checks=RULE_CHECKS,
       also=(("contracts/commitments.py",
              '["address", "uint256", "address", "uint256[]", "bytes32"],\n'
              "        [to_checksum_address(contract), round_id,",
              '["uint256", "address", "uint256[]", "bytes32"],\n        [round_id,'),)),
    _c("finalize: the majority counts the winner",
       "cut: bool = (not reported) or 2 * votes > others", "cut: bool = (not reported) or 2 * votes > others + 1",
       checks=RULE_CHECKS),
    _c("finalize: half of the others slash",
       "cut: bool = (not reported) or 2 * votes > others", "cut: bool = (not reported) or 2 * votes >= others",
       checks=RULE_CHECKS),
    _c("register: a ticket is expired at its expiry second",
       'assert block.timestamp <= expiry, "hcfl: ticket expired"', 'assert block.timestamp < expiry, "hcfl: ticket expired"',
       checks=RULE_CHECKS),
    _c("settle: a station that never revealed is charged its whole tax", "            tax = min(tax, share)\n", "",
       checks=RULE_CHECKS),
    _c("credit_bonus: a station that never revealed takes its bonus", "        part = 0\n", "        pass\n",
       checks=RULE_CHECKS),
    _c("register: a revoked participant registers", '        assert not self.revoked[msg.sender], "hcfl: admission revoked"\n',
       "", checks=RULE_CHECKS),
    _c("vote: an owner votes twice", '    assert bits & bit == 0, "hcfl: already voted"\n', "",
       checks=CONTRACT_CHECKS + RULE_CHECKS, path=TRAINING_SOURCE),
)
"""Mistakes in the contract, kept apart: its text is about to change in main."""

ALL_MUTANTS: tuple[Mutant, ...] = MECHANISM_MUTANTS + CONTRACT_MUTANTS


@dataclass(frozen=True)
class MutantResult:
    """What happened to one mutant."""

    name: str
    path: str
    status: str  # killed | survived | pattern not found | pattern ambiguous
    killed_by: tuple[str, ...]  # the checks that failed (the first only, unless --all-checks)
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {"mutant": self.name, "file": self.path, "status": self.status, "killed_by": list(self.killed_by),
                "seconds": round(self.seconds, 1)}


def _copy_tree(dest: Path) -> None:
    """The working tree's files (tracked and untracked-not-ignored), without the venv links."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if rel.split("/")[0] in (".venv", ".tools") or not (ROOT / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)


Runner = Callable[[Check, Path], bool]
"""Runs one check in a tree; True when it passes."""


def run_check(check: Check, tree: Path) -> bool:
    try:
        proc = subprocess.run([sys.executable, *check.argv], cwd=tree, capture_output=True, timeout=check.timeout_s)
    except subprocess.TimeoutExpired:
        return False  # a mutant that makes a check hang is caught too
    return proc.returncode == 0


def baseline(checks: Sequence[str], runner: Runner = run_check) -> list[str]:
    """The checks that fail on an unmutated copy (should be none)."""
    with tempfile.TemporaryDirectory(prefix="hcfl-baseline-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        return [name for name in checks if not runner(CHECKS[name], tree)]


def run_mutant(mutant: Mutant, *, all_checks: bool = False, runner: Runner = run_check) -> MutantResult:
    """Apply ``mutant`` to a fresh copy and run its checks until one fails."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hcfl-mutant-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        for path, old, new in mutant.edits():
            target = tree / path
            mutated, problem = _replace_once(target.read_text(), old, new)
            if problem is not None:
                return MutantResult(mutant.name, mutant.path, problem, (), time.perf_counter() - start)
            target.write_text(mutated)
        if any(path == TRAINING_SOURCE for path, _, _ in mutant.edits()):
            # HCFL's creation code embeds HCFLTraining's: rebuild the copy's generated module
            subprocess.run([sys.executable, "-m", "contracts.build"], cwd=tree, capture_output=True, check=True)
        killers: list[str] = []
        for name in mutant.checks:
            if not runner(CHECKS[name], tree):
                killers.append(name)
                if not all_checks:
                    break
    status = KILLED if killers else SURVIVED
    return MutantResult(mutant.name, mutant.path, status, tuple(killers), time.perf_counter() - start)


def select(quick: bool, only: Sequence[str] = ()) -> list[Mutant]:
    if only:
        unknown = set(only) - {m.name for m in ALL_MUTANTS}
        if unknown:
            raise ValueError(f"only: no mutant named {sorted(unknown)!r}")
        return [m for m in ALL_MUTANTS if m.name in only]
    return [m for m in ALL_MUTANTS if m.quick] if quick else list(ALL_MUTANTS)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m verification.mutants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the CI subset of mutants")
    parser.add_argument("--all-checks", action="store_true", help="run every check on every mutant (slower)")
    parser.add_argument("--only", nargs="+", default=(), metavar="NAME", help="only these mutants (by name)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the checks")
    parser.add_argument("--json", type=Path, default=Path("mutants.json"), metavar="FILE", help="default mutants.json")
    args = parser.parse_args(argv)
    try:
        mutants = select(args.quick, args.only)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.json.parent.is_dir():
        parser.error(f"--json: directory {str(args.json.parent)!r} does not exist")
    used = sorted({c for m in mutants for c in m.checks}, key=list(CHECKS).index)
    if not args.no_baseline:
        failing = baseline(used)
        if failing:
            print(f"baseline: the unmutated tree fails {', '.join(failing)}; no verdict on mutants", flush=True)
            return 2
        print(f"baseline: the unmutated tree passes {', '.join(used)}", flush=True)
    results = []
    for mutant in mutants:
        result = run_mutant(mutant, all_checks=args.all_checks)
        results.append(result)
        by = ", ".join(result.killed_by) if result.killed_by else "-"
        print(f"{result.status:18} {mutant.path:22} {mutant.name:50} by {by} ({result.seconds:.0f} s)", flush=True)
    args.json.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    bad = [r for r in results if r.status != KILLED]
    print(f"{len(results) - len(bad)}/{len(results)} mutants killed; wrote {args.json}")
    for r in bad:
        print(f"NOT KILLED: {r.name} ({r.path}): {r.status}")
    return 1 if bad else 0


# -- mistakes in the participant's side (hcfl_cli), each with the quick check that kills it ---
# The copies are made without .tools/, so a check that needs anvil uses the real tree's.
_ANVIL = ROOT / ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if _ANVIL.exists():
    import os

    os.environ.setdefault("HCFL_ANVIL", str(_ANVIL))

CHECKS.update({
    c.name: c
    for c in (
        Check("agent tests", (*PYTEST, "tests/test_agent_parts.py", "tests/test_agent.py"), 300.0),
        Check("participant recovery tests", (*PYTEST, "tests/test_participant_recovery.py"), 300.0),
    )
})

PARTICIPANT_MUTANTS: tuple[Mutant, ...] = (
    Mutant("agent: votes against the reported accuracy, not the promised one", "hcfl_cli/judging.py",
           "punish = acc * 10_000 < promised_bps", "punish = acc * 10_000 < report.accuracy_bps",
           ("agent tests",)),
    Mutant("command: skips its outbox recovery", "hcfl_cli/participant.py",
           "if catch_up if catch_up is not None else not dry_run:", "if False:",
           ("participant recovery tests",)),
)
"""Mistakes in the participant's agent and commands (issue 23 point 4)."""

ALL_MUTANTS = ALL_MUTANTS + PARTICIPANT_MUTANTS


if __name__ == "__main__":
    sys.exit(main())
