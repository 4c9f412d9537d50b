"""Compiling the HCFL contract: ABI and bytecode for any client (SPEC section 5).

``compiled()`` returns the Vyper 0.4.3 output of ``contracts/HCFL.vy`` (ABI, creation
bytecode, runtime bytecode), so that a web3-only client can deploy and call the contract
with pre-signed transactions without titanoboa::

    from contracts import compiled
    art = compiled()
    art.abi, art.bytecode, art.bytecode_runtime   # list[dict], bytes, bytes

The constructor takes ``(phase_seconds: uint256[6], no_show_penalty: uint256,
min_bond: uint256, organizer: address, deposit_per_weight: uint256, max_proposals: uint256,
bonus_bps: uint256)`` (``bonus_bps``: SPEC section 9's station bonus fraction, 0..10000).
The contract compiles with Vyper's ``codesize`` optimisation: with the bonus, the ``gas``
mode's code would exceed EIP-170. What a chain stores is the runtime bytecode plus the
immutables section (544 bytes; the six phase lengths share one) appended at deployment.
The contract imports snekmate's EIP-712 and ECDSA modules (PyPI ``snekmate``, pinned).

The compiled contract ships as ``contracts/HCFL.json`` (ABI, both bytecodes, the source's
sha256), so that a participant's command starts without compiling (seconds); ``compiled()``
reads it while its source hash is the source's, and compiles otherwise (a developer's
edited source). ``python -m contracts.build`` writes it again; a CI test checks that it is
what the pinned compiler makes of the source.
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
ARTIFACT_PATH = Path(__file__).with_name("HCFL.json")
"""The shipped compiler output (see the module docstring)."""

EIP170_LIMIT = 24_576
"""Largest deployed bytecode a chain accepts (EIP-170)."""


@dataclass(frozen=True)
class Compiled:
    """The compiler's output for one contract."""

    abi: list[dict]
    bytecode: bytes  # creation code (constructor arguments appended at deployment)
    bytecode_runtime: bytes  # what lives on chain; EIP-170 caps its size
    source: str


def input_bundle() -> Any:
    """Where the compiler finds the contract's imports: its own folder, then the Python
    path, where the pinned snekmate package keeps its ``.vy`` modules."""
    from vyper.compiler.input_bundle import FilesystemInputBundle

    paths = [SOURCE_PATH.parent] + [Path(p) for p in sys.path if p and Path(p).is_dir()]
    return FilesystemInputBundle(paths)


def source() -> str:
    """The contract's Vyper source text."""
    return SOURCE_PATH.read_text()


def source_hash(src: str | None = None) -> str:
    """sha256 of the contract's source text, as the artifact records it."""
    return hashlib.sha256((source() if src is None else src).encode()).hexdigest()


def compile_source(src: str | None = None) -> Compiled:
    """Compile the contract with the pinned Vyper (0.4.3): a few seconds."""
    import vyper

    src = source() if src is None else src
    out = vyper.compile_code(src, contract_path=SOURCE_PATH, input_bundle=input_bundle(),
                             output_formats=["abi", "bytecode", "bytecode_runtime"])
    return Compiled(
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        bytecode_runtime=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
        source=src,
    )


def artifact_json(art: Compiled) -> dict[str, Any]:
    """The shipped file's content for ``art``."""
    import vyper

    return {
        "contract": "HCFL",
        "compiler": f"vyper {vyper.__version__}",
        "source_sha256": source_hash(art.source),
        "abi": art.abi,
        "bytecode": "0x" + art.bytecode.hex(),
        "bytecode_runtime": "0x" + art.bytecode_runtime.hex(),
    }


def read_artifact(path: Path = ARTIFACT_PATH) -> Compiled | None:
    """The shipped compiler output, if it is there and was made from the current source."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    src = source()
    if data.get("source_sha256") != source_hash(src):
        return None
    return Compiled(abi=data["abi"], bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
                    bytecode_runtime=bytes.fromhex(data["bytecode_runtime"].removeprefix("0x")), source=src)


@functools.cache
def compiled() -> Compiled:
    """The contract's ABI and bytecode: the shipped artifact when it matches the source,
    else compiled once per process."""
    return read_artifact() or compile_source()


def main() -> int:
    """``python -m contracts.build``: compile the source and write ``contracts/HCFL.json``."""
    art = compile_source()
    ARTIFACT_PATH.write_text(json.dumps(artifact_json(art), indent=1) + "\n")
    print(f"wrote {ARTIFACT_PATH} ({len(art.bytecode_runtime):,} bytes deployed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
