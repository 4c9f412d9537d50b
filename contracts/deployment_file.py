"""SPEC section 8's deployment file, and the checks every command makes against it.

``hcfl deploy`` writes it; every other command reads it, and before it sends anything checks
that the node is the file's chain and holds the file's code at the file's address
(``check_deployment``). The file is JSON: its format, chain id, contract address, deployment
block and transaction, the keccak of the runtime code, the constructor's parameters, and every
contract the deployment transaction created (HCFL and its HCFLTraining) with its code's keccak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

DEPLOYMENT_FORMAT = 1


@dataclass(frozen=True)
class DeploymentFile:
    """Where the contract is and what it is."""

    chain_id: int
    address: str
    block: int
    transaction: str
    code_hash: bytes
    parameters: dict[str, Any] = field(default_factory=dict)
    # every contract the deployment transaction created, by name: {"address", "code_hash"}
    # (HCFL, which is ``address``, and the HCFLTraining it created)
    contracts: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": DEPLOYMENT_FORMAT, "chain_id": self.chain_id, "address": self.address,
                "block": self.block, "transaction": self.transaction, "code_hash": "0x" + self.code_hash.hex(),
                "parameters": self.parameters, "contracts": self.contracts}

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> DeploymentFile:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as e:
            raise ValueError(f"--deployment: cannot read {path}: {e.strerror}") from None
        except ValueError:
            raise ValueError(f"--deployment: {path} is not JSON") from None
        try:
            return cls(int(data["chain_id"]), to_checksum_address(data["address"]), int(data["block"]),
                       str(data["transaction"]), bytes.fromhex(str(data["code_hash"]).removeprefix("0x")),
                       dict(data.get("parameters", {})),
                       {str(k): {"address": to_checksum_address(v["address"]), "code_hash": str(v["code_hash"])}
                        for k, v in dict(data.get("contracts", {})).items()})
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"--deployment: {path} is not a deployment file (field {e})") from None


def check_deployment(chain: Any, f: DeploymentFile) -> None:
    """The node (an ``RpcChain``) must be the file's chain and hold the file's code at its
    address, and every contract the file names must hold the code the file gives for it."""
    if chain.chain_id != f.chain_id:
        raise ValueError(f"--deployment: the file is for chain {f.chain_id}, but the node at {chain.url} "
                         f"is chain {chain.chain_id}")
    expected = [(f.address, f.code_hash)]  # HCFL's own code pins its HCFLTraining's address
    expected += [(c["address"], bytes.fromhex(c["code_hash"].removeprefix("0x"))) for c in f.contracts.values()]
    for address, want in expected:
        got = chain.code_hash(address)
        if got != want:
            what = "no code" if got == keccak(b"") else f"code with hash 0x{got.hex()}"
            raise ValueError(f"--deployment: {address} on chain {f.chain_id} holds {what}, not the file's "
                             f"0x{want.hex()}")


def contracts_of(chain: Any) -> dict[str, dict[str, str]]:
    """Every contract of the deployment ``chain`` is attached to, by name, with its code hash
    (what a deployment file's ``contracts`` holds)."""
    return {name: {"address": a, "code_hash": "0x" + chain.code_hash(a).hex()}
            for name, a in zip(("HCFL", "HCFLTraining"), chain.addresses)}


def code_hash(chain: Any, address: str) -> bytes:
    """keccak of the runtime code at ``address`` on ``chain`` (an ``RpcChain``)."""
    return chain.code_hash(address)
