"""A station's and a SuperLink's identity in the authenticated Flower deployment: node keys
and TLS files (SPEC section 8).

A station's Flower node key pair (P-384, OpenSSH files as `flower-supernode` and `flwr
supernode register` read them) is bound to its chain identity by the admission ticket's
`nodeKey`, the sha256 of `NodeKeys.public_key_bytes`. The winner's SuperLink serves TLS with a
certificate signed by a CA made for it alone, whose sha256 the proposal's description carries.
Pure files and cryptography: no process, no flwr or torch import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hfl.digest import file_sha256

PRIVATE_KEY_FILE = "node.key"
PUBLIC_KEY_FILE = "node.pub"
CA_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE = "ca.crt", "server.pem", "server.key"
CERT_DAYS = 365


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (created 0600, never world-readable)."""
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


# Node keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeKeys:
    """A station's Flower node key pair: OpenSSH files, as `flower-supernode` and `flwr supernode
    register` read them. `public_key_bytes` is the public key file's content, exactly: the bytes
    whose sha256 is the admission ticket's `nodeKey` and that the station publishes on chain."""

    private_key: Path
    public_key: Path
    public_key_bytes: bytes

    @property
    def node_key_sha256(self) -> str:
        return hashlib.sha256(self.public_key_bytes).hexdigest()


def _openssh_public(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def parse_node_public_key(data: bytes, field: str = "public_key") -> ec.EllipticCurvePublicKey:
    """A node public key (OpenSSH `ecdsa-sha2-nistp384 ...`) checked to be P-384, else `ValueError`
    naming `field`."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{field}: a node public key must be bytes, got {type(data).__name__}")
    try:
        key = serialization.load_ssh_public_key(bytes(data))
    except Exception as exc:  # ValueError, UnsupportedAlgorithm: not a key we can use either way
        raise ValueError(f"{field}: not an OpenSSH public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise ValueError(f"{field}: a Flower node key must be an EC P-384 (secp384r1) key")
    return key


def make_node_keys(folder: Path) -> NodeKeys:
    """The node key pair in `folder` (`node.key` 0600, `node.pub`), made on first use, loaded after.

    Raises `ValueError` naming `node_key` when an existing private key is unreadable or not P-384.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv_path, pub_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    if priv_path.exists():
        try:
            key = serialization.load_ssh_private_key(priv_path.read_bytes(), password=None)
        except Exception as exc:
            raise ValueError(f"node_key: {priv_path} is not an unencrypted OpenSSH private key ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
            raise ValueError(f"node_key: {priv_path} is not an EC P-384 key, which Flower's SuperNode needs")
    else:
        key = ec.generate_private_key(ec.SECP384R1())
        _write_private(priv_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                    serialization.NoEncryption()))
    public = _openssh_public(key.public_key())
    if not pub_path.is_file() or pub_path.read_bytes() != public:  # (re)derived from the private key
        pub_path.write_bytes(public)
    return NodeKeys(priv_path, pub_path, public)


# TLS ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """The SuperLink's TLS files (PEM): the CA certificate every station gets (and whose sha256 the
    proposal's description carries), the server certificate and its private key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    ca_sha256: str


def _san_for(host: str) -> list[x509.GeneralName]:
    """The names the certificate must hold: `host`, and loopback (the SuperLink's own helpers dial
    127.0.0.1; a deployment on one machine dials it too)."""
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in (host, "127.0.0.1", "localhost"):
        if not name or name in seen or name in ("0.0.0.0", "::"):
            continue
        seen.add(name)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def _tls_ok(ca_path: Path, cert_path: Path, key_path: Path, host: str) -> bool:
    """Whether existing files form a usable set for `host`: signed by the CA, valid now, the key
    matching, the SAN holding `host`."""
    try:
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
        now = dt.datetime.now(dt.timezone.utc)
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc - dt.timedelta(days=1):
            return False
        if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                != cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo):
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return all(name in san for name in _san_for(host))
    except Exception:  # any missing, unreadable or mismatched file: make a new set
        return False


def make_tls(folder: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A self-signed CA and a server certificate for `host` in `folder`; reused when they exist,
    are valid and cover `host`.

    The CA's private key is not kept: once the server certificate is signed, nobody (the owner
    included) can issue another certificate under that CA, so the CA's sha256 in the proposal
    pins this one server certificate.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_path, cert_path, key_path = folder / CA_FILE, folder / SERVER_CERT_FILE, folder / SERVER_KEY_FILE
    if not _tls_ok(ca_path, cert_path, key_path, host):
        now = dt.datetime.now(dt.timezone.utc)
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=CERT_DAYS)
        ca_key = ec.generate_private_key(ec.SECP384R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hcfl SuperLink CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                           crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA384()))
        key = ec.generate_private_key(ec.SECP384R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host or "localhost")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(_san_for(host)), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA384()))
        _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(ca_path, cert_path, key_path, file_sha256(ca_path))


__all__ = ["CA_FILE", "CERT_DAYS", "NodeKeys", "PRIVATE_KEY_FILE", "PUBLIC_KEY_FILE", "SERVER_CERT_FILE", "SERVER_KEY_FILE",
           "TlsFiles", "make_node_keys", "make_tls", "parse_node_public_key"]
