"""An owner's judgement of the winner's model (SPEC section 5 step 7): it fetches the reported
model, checks its hash, measures it on its own held-out data for the proposal's target labels,
and votes to punish exactly when its own measurement is below the **promised** accuracy.

The winner's reported accuracy is a claim, not the evidence: it is printed beside the
owner's own figure and never decides the vote (an honest winner that reports less than it
promised is judged on the promise, like a dishonest one that reports more). No model
reported, a model file whose sha256 is not the reported one, or one that does not load is
punished too. The measurement itself is passed in (``Judge``), so that a test injects a
stub instead of torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.records import TrainingReported
from hcfl_cli.documents import DocumentError

Judge = Callable[[Path, Path, tuple[int, ...]], float]
"""``(model file, own held-out data folder, target labels) -> accuracy in [0, 1]``
(``hcfl_cli.agent_train.measure`` by default)."""


@dataclass(frozen=True)
class Verdict:
    """An owner's vote and why."""

    punish: bool
    why: str
    measured: float | None = None
    refused: str | None = None


def judge_report(*, promised_bps: int, report: TrainingReported | None, fetch_model: Callable[[], Path],
                 judge: Judge, data: Path, labels: Sequence[int]) -> Verdict:
    """The vote on ``report`` of a proposal that promised ``promised_bps``: ``fetch_model``
    gives the model file (checked against the report's sha256, ``DocumentError`` if it is
    not), ``judge`` measures it on ``data`` for ``labels``."""
    if report is None:
        return Verdict(True, "no model was reported")
    try:
        model = fetch_model()
    except DocumentError as e:
        return Verdict(True, f"refused: {e}", refused=str(e))
    try:
        acc = float(judge(model, data, tuple(labels)))
    except ValueError as e:
        return Verdict(True, f"the model file does not load: {e}", refused=str(e))
    punish = acc * 10_000 < promised_bps
    why = (f"my own measurement {acc:.2%} on my held-out set (labels {list(labels)}) is "
           f"{'below' if punish else 'at least'} the promised {promised_bps / 100:.2f}% (the winner "
           f"reported {report.accuracy_bps / 100:.2f}%)")
    return Verdict(punish, why, measured=acc)
