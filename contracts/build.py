"""Compiling the HCFL contract: ABI and bytecode for any client (SPEC section 5).

``compiled()`` returns the Vyper 0.4.3 output of ``contracts/HCFL.vy`` (ABI, creation
bytecode, runtime bytecode), so that a web3-only client can deploy and call the contract
with pre-signed transactions without titanoboa::

    from contracts import compiled
    art = compiled()
    art.abi, art.bytecode, art.bytecode_runtime   # list[dict], bytes, bytes

The constructor takes ``(phase_seconds: uint256[6], no_show_penalty: uint256,
min_bond: uint256, organizer: address, deposit_per_weight: uint256, max_proposals: uint256)``.
The contract imports snekmate's EIP-712 and ECDSA modules (PyPI ``snekmate``, pinned).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_PATH = Path(__file__).with_name("HCFL.vy")
"""The contract's source file."""

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


@functools.cache
def compiled() -> Compiled:
    """Compile ``HCFL.vy`` once per process with the pinned Vyper (0.4.3)."""
    import vyper

    src = source()
    out = vyper.compile_code(src, contract_path=SOURCE_PATH, input_bundle=input_bundle(),
                             output_formats=["abi", "bytecode", "bytecode_runtime"])
    return Compiled(
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        bytecode_runtime=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
        source=src,
    )
