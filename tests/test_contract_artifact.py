"""The shipped contract artifact (contracts/HCFL.json) and the generated initcode module
(contracts/hcfl_training_code.vy) are what the pinned compiler makes of the sources, so a
participant's command can start without compiling."""

from __future__ import annotations

import json

from contracts.build import (ARTIFACT_PATH, TRAINING_CODE_PATH, artifact_json, compile_source, compile_training, compiled,
                             read_artifact, source_hash, training_code_module)


def test_the_shipped_artifact_is_the_compilers_output_for_the_current_source() -> None:
    shipped = json.loads(ARTIFACT_PATH.read_text())
    assert shipped["source_sha256"] == source_hash(), "run: python -m contracts.build"
    assert TRAINING_CODE_PATH.read_text() == training_code_module(compile_training()), "run: python -m contracts.build"
    art = compile_source()
    assert shipped == artifact_json(art), "run: python -m contracts.build"
    # HCFL's creation code carries HCFLTraining's, and stays under EIP-3860's initcode limit
    assert art.training is not None and len(art.training.bytecode) < len(art.bytecode) <= 49_152


def test_compiled_reads_the_artifact_and_ignores_one_made_from_another_source(tmp_path) -> None:
    assert compiled().bytecode_runtime == read_artifact().bytecode_runtime
    assert compiled().training.abi == read_artifact().training.abi
    stale = json.loads(ARTIFACT_PATH.read_text())
    stale["source_sha256"] = "0" * 64
    path = tmp_path / "HCFL.json"
    path.write_text(json.dumps(stale))
    assert read_artifact(path) is None
