"""The z3 checker: its verdicts, its witnesses, its unbounded proofs and its CLI.

``python -m verification.check --quick`` runs once per session (it is what CI runs); the
other tests call the checks directly with small bounds, and break the encoding on purpose
to see that the checker notices.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

import mechanism
from verification import check, checks, induction, replay, report, suite
from verification import encoder as enc
from verification.checks import Bounds
from verification.results import FAILS, HOLDS, JSON_KEYS, OPEN, CheckResult, EncodingError
from verification.z3ops import Z3Ops

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("verification") / "quick.json"
    # CPU seconds, not wall: beside the other tests on the same cores (pytest-xdist) the check
    # waits for a core, which says nothing of its own cost (z3 runs single-threaded)
    before = os.times()
    proc = subprocess.run(
        [sys.executable, "-m", "verification.check", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"proc": proc, "cpu_seconds": cpu, "rows": json.loads(out.read_text()) if out.exists() else None}


def _rows(quick_run: dict[str, Any], **match: str) -> list[dict[str, Any]]:
    return [r for r in quick_run["rows"] if all(r[k] == v for k, v in match.items())]


# --- the quick check, as CI runs it -----------------------------------------------------------


def test_the_quick_check_exits_zero_within_a_minute(quick_run: dict[str, Any]) -> None:
    assert quick_run["proc"].returncode == 0, quick_run["proc"].stdout + quick_run["proc"].stderr
    assert 0 < quick_run["cpu_seconds"] < 60


def test_the_quick_check_prints_a_table_with_every_property(quick_run: dict[str, Any]) -> None:
    text = quick_run["proc"].stdout
    for name in ("truthfulness", "weak budget balance", "exact accounting", "solvency", "efficiency", "ex-post individual rationality"):
        assert name in text
    assert "Traceback" not in quick_run["proc"].stderr


def test_the_json_rows_have_exactly_the_spec_keys_and_verdicts(quick_run: dict[str, Any]) -> None:
    rows = quick_run["rows"]
    assert rows
    for row in rows:
        assert tuple(row) == JSON_KEYS
        assert row["verdict"] in ("proved", "refuted", "unknown")
        assert isinstance(row["seconds"], float)
        assert (row["witness"] is None) == (row["verdict"] != "refuted")


def test_truthfulness_for_clarke_and_budget_is_proved_for_every_n_and_every_m(quick_run: dict[str, Any]) -> None:
    for side in ("owner", "station"):
        rows = _rows(quick_run, property="truthfulness", rule="clarke", budget_policy="budget", side=side)
        bounds = {r["bounds"].split(";")[0].split(" (")[0]: r["verdict"] for r in rows}
        assert bounds["any N, any M"] == "proved"
        assert bounds[f"M={suite.QUICK_DIRECT_M}"] == "proved"
        assert all(v == "proved" for v in bounds.values())


def test_budget_balance_accounting_solvency_and_efficiency_are_proved(quick_run: dict[str, Any]) -> None:
    for prop in ("weak budget balance", "exact accounting", "solvency", "efficiency", "tie rule"):
        rows = _rows(quick_run, property=prop, rule="clarke", budget_policy="budget")
        assert rows and all(row["verdict"] == "proved" for row in rows), prop


def test_budget_balance_and_solvency_are_proved_for_every_n_and_every_m(quick_run: dict[str, Any]) -> None:
    for prop in ("weak budget balance", "solvency"):
        (row,) = [r for r in _rows(quick_run, property=prop) if r["bounds"].startswith("any N, any M")]
        assert row["verdict"] == "proved"


def test_every_truthfulness_witness_replays_in_settle_with_the_stated_utilities(quick_run: dict[str, Any]) -> None:
    witnesses = [r["witness"] for r in _rows(quick_run, property="truthfulness", verdict="refuted")]
    # the paper rule, midpoint and uniform budgets: both sides each
    assert len(witnesses) == 6
    for w in witnesses:
        truthful, lying = replay.replay_truthfulness(w)
        assert (truthful, lying) == (w["truthful_utility"], w["lie_utility"])
        assert lying > truthful
        assert set(w) == {"profile", "rule", "side", "index", "lie", "truthful_utility", "lie_utility"}


def test_ex_post_individual_rationality_is_refuted_by_a_replayed_witness(quick_run: dict[str, Any]) -> None:
    for side in ("owner", "station"):
        (row,) = _rows(quick_run, property="ex-post individual rationality", side=side)
        assert row["verdict"] == "refuted"
        w = row["witness"]
        out = mechanism.settle(**w["profile"])
        key = "owner_values" if side == "owner" else "station_costs"
        assert mechanism.utility(out, side, w["index"], w["profile"][key][w["index"]]) == w["utility"] < 0


def test_the_uniform_witnesses_carry_the_seed_that_reproduces_them(quick_run: dict[str, Any]) -> None:
    rows = _rows(quick_run, property="truthfulness", budget_policy="uniform")
    assert {r["verdict"] for r in rows} == {"refuted"}
    for r in rows:
        assert isinstance(r["witness"]["profile"]["seed"], int)


# --- the checker notices a broken encoding --------------------------------------------------


def test_a_witness_that_settle_does_not_reproduce_raises_an_encoding_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one place the two paths can part is the operations layer: z3's floor rounding up
    # makes owners' shares round down in the encoding only, so z3 finds "negative dust" that
    # the reference, which rounds up, cannot reproduce.
    monkeypatch.setattr(Z3Ops, "floor_div", staticmethod(lambda a, d: (a + d - 1) / d))
    with pytest.raises(EncodingError):
        checks.check_budget_balance("clarke", "budget", Bounds(1, (1, 2), (1,)), timeout_s=30)


def test_a_tax_whose_max_forgets_none_in_the_code_breaks_budget_balance_and_the_every_m_proof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The review's mutant: the change is in mechanism, not in a twin, so settle and the
    # proofs both see it, and the witness replays (owners pay 0, stations receive 1).
    from mechanism import clarke

    monkeypatch.setattr(clarke, "best_without", lambda others, ops=mechanism.INT: ops.max_of(others))
    result = checks.check_budget_balance("clarke", "budget", Bounds(2), timeout_s=30)
    assert result.verdict == "refuted"
    assert result.witness is not None
    out = mechanism.settle(**result.witness["profile"])
    assert sum(out.owner_pays) < sum(out.station_receives)
    assert induction.check_every_m("owner", timeout_s=30).verdict == "unknown"


def test_a_choice_step_that_breaks_the_tie_rule_fails_the_inductive_step() -> None:
    def later_ties_win(best: enc.Term, winner: enc.Term, welfare: enc.Term, index: enc.Term) -> tuple[enc.Term, enc.Term]:
        better = welfare >= best
        return z3.If(better, welfare, best), z3.If(better, index, winner)

    answers = induction.fold_obligations(30, step=later_ties_win)
    assert answers["choice step"].verdict == "refuted"
    assert answers["choice step hypotheses consistent"].verdict == "proved"
    assert answers["max step"].verdict == "proved"


def test_the_encoders_choice_step_passes_every_fold_obligation() -> None:
    answers = induction.fold_obligations(30)
    assert {name: a.verdict for name, a in answers.items()} == dict.fromkeys(answers, "proved")


def test_a_timeout_is_reported_unknown_and_never_proved() -> None:
    result = checks.check_truthfulness("clarke", "budget", "owner", Bounds(96), timeout_s=0.2)
    assert result.verdict == "unknown"
    assert not result.as_expected
    assert report.failures([result]) == [result]


def test_the_paper_rule_breaks_solvency_with_a_replayed_witness() -> None:
    result = checks.check_solvency("paper", "budget", Bounds(2), expected=OPEN, timeout_s=30)
    assert result.verdict == "refuted"
    w = result.witness
    assert w is not None
    out = mechanism.settle(**w["profile"])
    owes = out.owner_pays[w["index"]] if w["side"] == "owner" else -out.station_receives[w["index"]]
    assert owes == w["owes"] > w["deposit"]


# --- the unbounded proof's abstraction is faithful ------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["owner", "station"]),
    st.lists(st.tuples(st.integers(-(10**6), 10**6), st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=4),
)
def test_a_realized_abstract_point_gives_the_participant_that_share_and_those_others(side: str, points: list[tuple[int, int, int]]) -> None:
    others, share, true = (list(x) for x in zip(*points))
    profile = induction.realize(side, others, share, true)
    out = mechanism.settle(**profile)
    c, r = replay.shares_by_participant(out.budgets, profile)
    own = c[0] if side == "owner" else r[0]
    claims = profile["owner_values" if side == "owner" else "station_costs"][0]
    net = [enc_net(side, x, s) for x, s in zip(claims, own)]
    assert own == share
    assert claims == true
    assert [s - n for s, n in zip(out.welfare, net)] == others  # S_-p(x) = S(x) - n_p(x)


def enc_net(side: str, claim: int, share: int) -> int:
    return claim - share if side == "owner" else share - claim


def test_the_abstraction_step_holds_under_budget_and_fails_when_shares_follow_the_claims() -> None:
    assert induction.abstraction_obligation("owner", 2, (1, 2), (2, 3)).verdict == "proved"
    assert induction.abstraction_obligation("station", 2, (1, 2), (2, 3)).verdict == "proved"
    assert induction.abstraction_obligation("owner", 2, (1, 2), (2, 3), budget_policy="midpoint").verdict == "refuted"


# --- results and CLI ---------------------------------------------------------------------------


def test_a_refuted_result_without_a_witness_is_refused() -> None:
    with pytest.raises(ValueError, match="witness"):
        CheckResult("efficiency", "clarke", "budget", "all", "M=1", "refuted", None, 0.0)


def test_expectations_decide_what_counts_as_a_failure() -> None:
    w = {"profile": {}, "rule": "clarke"}
    assert CheckResult("p", "clarke", "budget", "all", "b", "proved", None, 0.0, HOLDS).as_expected
    assert not CheckResult("p", "clarke", "budget", "all", "b", "refuted", w, 0.0, HOLDS).as_expected
    assert CheckResult("p", "clarke", "budget", "all", "b", "refuted", w, 0.0, FAILS).as_expected
    assert not CheckResult("p", "clarke", "budget", "all", "b", "proved", None, 0.0, FAILS).as_expected
    assert CheckResult("p", "clarke", "budget", "all", "b", "unknown", None, 0.0, OPEN).as_expected


def test_the_cli_exits_one_when_a_property_expected_to_hold_is_unknown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stuck = CheckResult("solvency", "clarke", "budget", "all", "M=9", "unknown", None, 60.0, HOLDS)
    monkeypatch.setattr(suite, "run", lambda quick, timeout_s, on_start=None: iter([stuck]))
    assert check.main(["--quick"]) == 1
    assert "unexpected" in capsys.readouterr().out


def test_the_reach_is_the_largest_m_proved_within_the_cpu_limit() -> None:
    def row(m: int, verdict: str, cpu: float) -> CheckResult:
        return CheckResult("truthfulness", "clarke", "budget", "owner", f"M={m}; w=(1,2)", verdict, None, 3 * cpu, OPEN, cpu)

    rows = [row(32, "proved", 2.0), row(48, "proved", 50.0), row(64, "proved", 70.0), row(80, "unknown", 180.0)]
    assert report.direct_reach(rows, "owner", 60.0) == 48
    assert report.direct_reach(rows, "station", 60.0) is None


def test_a_bad_option_gives_a_one_line_error_and_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "verification.check", "--timeout", "-3"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "--timeout" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_direct_bounded_check_proves_truthfulness_at_m_32_for_both_sides() -> None:
    for side in ("owner", "station"):
        assert checks.check_truthfulness("clarke", "budget", side, Bounds(32), timeout_s=600).verdict == "proved"


# --- what the money checks are about ---------------------------------------------------------


def test_a_counterexample_no_seed_reproduces_then_unsat_is_unknown_not_proved() -> None:
    # One model only (x == 5), which the decoder never reproduces: after blocking it z3 says
    # unsat, yet a counterexample of the encoding exists.
    x = z3.Int("x")
    encoded = checks._Encoded(lambda cap: [0 <= x, x <= 100], x == 5, lambda model: None, (x,))
    result = checks._run("solvency", "clarke", "uniform", "all", Bounds(1), encoded, expected=HOLDS, timeout_s=10)
    assert result.verdict == "unknown"
    assert "unsat without them" in result.bounds


def test_a_pool_that_pays_nothing_while_owners_pay_less_breaks_budget_balance(monkeypatch: pytest.MonkeyPatch) -> None:
    settle_module = importlib.import_module("mechanism.settle")

    monkeypatch.setattr(settle_module, "subsidy_used", lambda budget, subsidy, ops=mechanism.INT: 0)
    result = checks.check_budget_balance("clarke", "budget", Bounds(1), timeout_s=30)
    assert result.verdict == "refuted"
    assert result.witness is not None and result.witness["profile"]["subsidy"] > 0
    assert checks.check_accounting("clarke", "budget", Bounds(1), timeout_s=30).verdict == "refuted"


def test_stations_that_keep_their_tax_break_exact_accounting(monkeypatch: pytest.MonkeyPatch) -> None:
    settle_module = importlib.import_module("mechanism.settle")

    monkeypatch.setattr(settle_module, "station_receipt", lambda share, tax: share + tax)
    assert checks.check_accounting("clarke", "budget", Bounds(2), timeout_s=30).verdict == "refuted"


def test_a_winner_taken_by_the_highest_index_on_ties_breaks_the_tie_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from mechanism import clarke

    def later_ties_win(best, winner, welfare, index, ops=mechanism.INT):  # type: ignore[no-untyped-def]
        better = welfare >= best
        return ops.select(better, welfare, best), ops.select(better, index, winner)

    monkeypatch.setattr(clarke, "choice_step", later_ties_win)
    result = checks.check_tie_rule("clarke", "budget", Bounds(2), timeout_s=30)
    assert result.verdict == "refuted"
    assert induction.check_every_m("station", timeout_s=30).verdict == "unknown"
