"""The hub's serving certificate, and a kubeconfig that trusts it.

kubectl (client-go) sends bearer tokens only over TLS: against a plain-HTTP hub it sends no
`Authorization` header at all, so every request would be anonymous and refused. The hub
therefore also serves HTTPS, with a certificate issued by a CA of its own that it keeps in
the data dir (`ca.crt`, `tls.crt`, `tls.key`), and writes `DATA_DIR/kubeconfig` so that
`kubectl --kubeconfig DATA_DIR/kubeconfig get projects -A` works with no flags. The CA and
key are created once and reused; a serving certificate that lacks one of the hub's host
names, or expires within a month, is reissued from the same CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_DAYS = 3650
CERT_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class ServingCert:
    ca_path: Path
    cert_path: Path
    key_path: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _load_or_create_ca(data_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_crt, ca_key = data_dir / "ca.crt", data_dir / "ca.key"
    if ca_crt.exists() and ca_key.exists():
        cert = x509.load_pem_x509_certificate(ca_crt.read_bytes())
        key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "axle hub CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(ca_key, _key_pem(key))
    ca_crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _cert_covers(path: Path, hosts: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return all(entry in san for entry in _san_entries(hosts))


def ensure_serving_cert(data_dir: Path, hosts: list[str]) -> ServingCert:
    """Create (or reuse) the hub CA and a serving certificate valid for `hosts`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    hosts = [*hosts, "127.0.0.1", "localhost", "::1"]
    hosts = [h for h in hosts if h not in ("0.0.0.0", "::", "")]
    result = ServingCert(data_dir / "ca.crt", data_dir / "tls.crt", data_dir / "tls.key")
    if result.key_path.exists() and _cert_covers(result.cert_path, hosts):
        return result
    ca_cert, ca_key = _load_or_create_ca(data_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "axle-hub")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san_entries(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(result.key_path, _key_pem(key))
    result.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return result


def write_kubeconfig(data_dir: Path, https_url: str, token: str, ca_path: Path) -> Path:
    """Write DATA_DIR/kubeconfig (mode 0600) for the admin user against the HTTPS listener."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "axle",
                "cluster": {"server": https_url, "certificate-authority": str(ca_path.resolve())},
            }
        ],
        "users": [{"name": "axle-admin", "user": {"token": token}}],
        "contexts": [{"name": "axle", "context": {"cluster": "axle", "user": "axle-admin"}}],
        "current-context": "axle",
        "preferences": {},
    }
    path = data_dir / "kubeconfig"
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path
