"""The shipped contract artifact (contracts/HCFL.json) is what the pinned compiler makes of
the source, so a participant's command can start without compiling."""

from __future__ import annotations

import json

from contracts.build import ARTIFACT_PATH, artifact_json, compile_source, compiled, read_artifact, source_hash


def test_the_shipped_artifact_is_the_compilers_output_for_the_current_source() -> None:
    shipped = json.loads(ARTIFACT_PATH.read_text())
    assert shipped["source_sha256"] == source_hash(), "run: python -m contracts.build"
    assert shipped == artifact_json(compile_source()), "run: python -m contracts.build"


def test_compiled_reads_the_artifact_and_ignores_one_made_from_another_source(tmp_path) -> None:
    assert compiled().bytecode_runtime == read_artifact().bytecode_runtime
    stale = json.loads(ARTIFACT_PATH.read_text())
    stale["source_sha256"] = "0" * 64
    path = tmp_path / "HCFL.json"
    path.write_text(json.dumps(stale))
    assert read_artifact(path) is None
