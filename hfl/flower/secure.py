"""The authenticated Flower deployment of a real round: TLS, and only the round's registered stations.

SPEC section 8: each station's Flower node key pair (P-384) is bound to its chain identity by the
admission ticket's `nodeKey` (the sha256 of `NodeKeys.public_key_bytes`); the winner's SuperLink
runs with SuperNode authentication and registers exactly the public keys of the round's stations.

Failure policy (different from `hfl.flower.deploy`, whose run fails when a station is lost): a
station whose SuperNode is lost is dropped from the later global rounds and the training goes on
with the others (`TrainResult.dropped`); see `hfl.flower.secure_apps` for what it is credited.

Modules: `hfl.flower.secure_identity` (node keys, TLS files), `hfl.flower.secure_superlink`
(the SuperLink: its keys registered, the run submitted), `hfl.flower.secure_supernode` (a
station's SuperNode, kept running), `hfl.flower.secure_procs` (the port and process tag they
share), `hfl.flower.secure_apps` (the ServerApp and ClientApp); this module gathers their
public names. None of them but the apps imports torch or flwr at import time (the agent starts
SuperNodes quickly).
"""

from __future__ import annotations

from hfl.digest import file_sha256
from hfl.flower.secure_identity import (CA_FILE, CERT_DAYS, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, SERVER_CERT_FILE,
                                        SERVER_KEY_FILE, NodeKeys, TlsFiles, make_node_keys, make_tls,
                                        parse_node_public_key)
from hfl.flower.secure_procs import claim_tag, pick_port
from hfl.flower.secure_superlink import CLIENT_APP, SERVER_APP, SecureSuperLink, node_id_from_log
from hfl.flower.secure_supernode import SuperNodeHandle, start_supernode

__all__ = ["CA_FILE", "CERT_DAYS", "CLIENT_APP", "PRIVATE_KEY_FILE", "PUBLIC_KEY_FILE", "SERVER_APP", "SERVER_CERT_FILE",
           "SERVER_KEY_FILE", "NodeKeys", "SecureSuperLink", "SuperNodeHandle", "TlsFiles", "claim_tag", "file_sha256",
           "make_node_keys", "make_tls", "node_id_from_log", "parse_node_public_key", "pick_port", "start_supernode"]
