"""Compiling the HCFL contracts: ABI and bytecode for any client (SPEC section 5).

``compiled()`` returns the Vyper 0.4.3 output of ``contracts/HCFL.vy`` (ABI, creation
bytecode, runtime bytecode), so that a web3-only client can deploy and call the contract
with pre-signed transactions without titanoboa::

    from contracts import compiled
    art = compiled()
    art.abi, art.bytecode, art.bytecode_runtime   # list[dict], bytes, bytes
    art.training.abi                              # the second contract, HCFLTraining

The constructor takes ``(phase_seconds: uint256[6], no_show_penalty: uint256,
min_bond: uint256, organizer: address, deposit_per_weight: uint256, max_proposals: uint256,
bonus_bps: uint256)`` (``bonus_bps``: SPEC section 9's station bonus fraction, 0..10000).
It creates a second contract, ``contracts/HCFLTraining.vy`` (the training report, the
contributions and the owners' vote: what holds no money), whose address HCFL keeps in its
immutable ``TRAINING``: one deployment transaction makes both. HCFL's creation code embeds
HCFLTraining's: ``python -m contracts.build`` compiles HCFLTraining first and writes its
initcode into the generated module ``contracts/hcfl_training_code.vy``, which HCFL imports.
Both compile with Vyper's default (``gas``) optimisation, each well within EIP-170. What a
chain stores is each runtime bytecode plus its immutables section, appended at deployment.
HCFL imports snekmate's EIP-712 and ECDSA modules (PyPI ``snekmate``, pinned).

The compiled contracts ship as ``contracts/HCFL.json`` (ABIs, bytecodes, the sources'
sha256), so that a participant's command starts without compiling (seconds); ``compiled()``
reads it while its source hash is the sources', and compiles otherwise (a developer's
edited source; after editing ``HCFLTraining.vy``, run the build first). ``python -m
contracts.build`` writes the generated module and the artifact again; a CI test checks that
both are what the pinned compiler makes of the sources.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_PATH = Path(__file__).with_name("HCFL.vy")
"""The contract's source file."""
TRAINING_SOURCE_PATH = Path(__file__).with_name("HCFLTraining.vy")
"""The source of the second contract, which HCFL creates in its constructor."""
TRAINING_CODE_PATH = Path(__file__).with_name("hcfl_training_code.vy")
"""The generated module that carries HCFLTraining's initcode into HCFL's (see the module docstring)."""
ARTIFACT_PATH = Path(__file__).with_name("HCFL.json")
"""The shipped compiler output (see the module docstring)."""

EIP170_LIMIT = 24_576
"""Largest deployed bytecode a chain accepts (EIP-170)."""
EIP170_ROOM = 2_048
"""The room every deployed contract keeps under EIP-170 (runtime plus immutables), so that
a fix or a small feature never has to fight the limit."""


@dataclass(frozen=True)
class Compiled:
    """The compiler's output for one contract."""

    abi: list[dict]
    bytecode: bytes  # creation code (constructor arguments appended at deployment)
    bytecode_runtime: bytes  # what lives on chain; EIP-170 caps its size
    source: str
    training: Compiled | None = None  # HCFL's: the HCFLTraining contract it creates


def input_bundle() -> Any:
    """Where the compiler finds the contract's imports: its own folder, then the Python
    path, where the pinned snekmate package keeps its ``.vy`` modules."""
    from vyper.compiler.input_bundle import FilesystemInputBundle

    paths = [SOURCE_PATH.parent] + [Path(p) for p in sys.path if p and Path(p).is_dir()]
    return FilesystemInputBundle(paths)


def source() -> str:
    """The contract's Vyper source text."""
    return SOURCE_PATH.read_text()


def source_hash(src: str | None = None, training_src: str | None = None) -> str:
    """sha256 of the contracts' source texts (HCFL's, then HCFLTraining's), as the artifact
    records it."""
    both = (source() if src is None else src) + (TRAINING_SOURCE_PATH.read_text() if training_src is None else training_src)
    return hashlib.sha256(both.encode()).hexdigest()


def _compile(src: str, path: Path) -> Compiled:
    import vyper

    out = vyper.compile_code(src, contract_path=path, input_bundle=input_bundle(),
                             output_formats=["abi", "bytecode", "bytecode_runtime"])
    return Compiled(
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        bytecode_runtime=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
        source=src,
    )


def compile_training() -> Compiled:
    """Compile ``HCFLTraining.vy`` with the pinned Vyper (0.4.3)."""
    return _compile(TRAINING_SOURCE_PATH.read_text(), TRAINING_SOURCE_PATH)


def training_code_module(training: Compiled) -> str:
    """The generated module's text: HCFLTraining's initcode as a Vyper constant."""
    return ("# pragma version ~=0.4.3\n"
            "# Generated by `python -m contracts.build` from HCFLTraining.vy: do not edit.\n"
            '"""\n@title The initcode of HCFLTraining, which HCFL creates in its constructor\n"""\n\n\n'
            "# @dev HCFLTraining's creation code, as the pinned compiler makes it.\n"
            f'INITCODE: constant(Bytes[{len(training.bytecode)}]) = x"{training.bytecode.hex()}"\n')


def compile_source(src: str | None = None, training: Compiled | None = None) -> Compiled:
    """Compile both contracts with the pinned Vyper (0.4.3): a few seconds (``training``:
    HCFLTraining compiled already, by a caller that just wrote its module).

    HCFL is compiled against the generated module on disk (as titanoboa loads it); a
    module that is not HCFLTraining's current initcode is refused, naming the build."""
    training = training or compile_training()
    if not TRAINING_CODE_PATH.exists() or TRAINING_CODE_PATH.read_text() != training_code_module(training):
        raise ValueError(f"{TRAINING_CODE_PATH.name}: not the initcode of the current HCFLTraining.vy; "
                         "run: python -m contracts.build")
    art = _compile(source() if src is None else src, SOURCE_PATH)
    return Compiled(art.abi, art.bytecode, art.bytecode_runtime, art.source, training)


def _unhex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def artifact_json(art: Compiled) -> dict[str, Any]:
    """The shipped file's content for ``art``."""
    import vyper

    assert art.training is not None
    return {
        "contract": "HCFL",
        "compiler": f"vyper {vyper.__version__}",
        "source_sha256": source_hash(art.source, art.training.source),
        "abi": art.abi,
        "bytecode": "0x" + art.bytecode.hex(),
        "bytecode_runtime": "0x" + art.bytecode_runtime.hex(),
        "training": {
            "contract": "HCFLTraining",
            "abi": art.training.abi,
            "bytecode": "0x" + art.training.bytecode.hex(),
            "bytecode_runtime": "0x" + art.training.bytecode_runtime.hex(),
        },
    }


def read_artifact(path: Path = ARTIFACT_PATH) -> Compiled | None:
    """The shipped compiler output, if it is there and was made from the current sources."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    src, training_src = source(), TRAINING_SOURCE_PATH.read_text()
    if data.get("source_sha256") != source_hash(src, training_src) or "training" not in data:
        return None
    t = data["training"]
    training = Compiled(t["abi"], _unhex(t["bytecode"]), _unhex(t["bytecode_runtime"]), training_src)
    return Compiled(abi=data["abi"], bytecode=_unhex(data["bytecode"]), bytecode_runtime=_unhex(data["bytecode_runtime"]),
                    source=src, training=training)


@functools.cache
def compiled() -> Compiled:
    """The contract's ABI and bytecode: the shipped artifact when it matches the source,
    else compiled once per process."""
    return read_artifact() or compile_source()


def main() -> int:
    """``python -m contracts.build``: compile HCFLTraining, write its initcode module, compile
    HCFL and write ``contracts/HCFL.json``."""
    training = compile_training()
    TRAINING_CODE_PATH.write_text(training_code_module(training))
    art = compile_source(training=training)
    ARTIFACT_PATH.write_text(json.dumps(artifact_json(art), indent=1) + "\n")
    assert art.training is not None
    print(f"wrote {TRAINING_CODE_PATH} and {ARTIFACT_PATH} ({len(art.bytecode_runtime):,} bytes of HCFL runtime, "
          f"{len(art.training.bytecode_runtime):,} of HCFLTraining)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
