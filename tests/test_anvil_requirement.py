"""The ``anvil`` marker of tests/conftest.py: a test that needs anvil is skipped where anvil
is missing, and fails instead where ``HCFL_REQUIRE_ANVIL=1`` says it must be there (CI)."""

from __future__ import annotations

import pytest

from contracts import nodes

NEEDS_ANVIL = """
import pytest

@pytest.mark.anvil
def test_needs_anvil():
    pass

def test_needs_nothing():
    pass
"""


@pytest.fixture()
def no_anvil(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCFL_ANVIL", "/nonexistent/anvil")
    monkeypatch.setattr(nodes, "ANVIL_NPM_PATH", nodes.REPO / "no/such/anvil")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(nodes.NodeUnavailable):
        nodes.anvil_path()


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makepyfile(NEEDS_ANVIL)
    # the suite's own conftest as a plugin of the inner run: the rule under test, not a copy
    return pytester.runpytest_inprocess("-p", "tests.conftest", "-rs", "-q")


def test_a_test_marked_anvil_fails_where_anvil_is_required_and_missing(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_anvil: None) -> None:
    monkeypatch.setenv("HCFL_REQUIRE_ANVIL", "1")
    result = _run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*HCFL_REQUIRE_ANVIL=1: a test that needs anvil fails*"])


def test_a_test_marked_anvil_is_skipped_where_anvil_is_missing_and_not_required(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_anvil: None) -> None:
    monkeypatch.delenv("HCFL_REQUIRE_ANVIL", raising=False)
    result = _run(pytester)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*anvil not found*scripts/setup.sh*"])


SKIPS_ITSELF = """
import pytest
from contracts import nodes

def test_skips_itself_the_old_way():
    try:
        nodes.anvil_path()
    except nodes.NodeUnavailable as exc:
        pytest.skip(str(exc))
"""


def test_a_test_that_skips_itself_on_a_missing_anvil_fails_too_where_anvil_is_required(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_anvil: None) -> None:
    pytester.makepyfile(SKIPS_ITSELF)
    monkeypatch.setenv("HCFL_REQUIRE_ANVIL", "1")
    result = pytester.runpytest_inprocess("-p", "tests.conftest", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*skipped for a missing anvil where HCFL_REQUIRE_ANVIL=1*"])
    monkeypatch.delenv("HCFL_REQUIRE_ANVIL")
    pytester.runpytest_inprocess("-p", "tests.conftest", "-q").assert_outcomes(skipped=1)


@pytest.mark.anvil
def test_where_anvil_is_installed_a_required_test_runs(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCFL_REQUIRE_ANVIL", "1")
    _run(pytester).assert_outcomes(passed=2)
