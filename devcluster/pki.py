"""Certificates and keys for a loopback control plane (a CA, serving and client certs, the SA key)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def generate(pki: Path) -> None:
    """Write ca.crt, apiserver.{crt,key}, admin.{crt,key} and sa.{key,pub} into `pki`."""
    pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("taskops-devcluster-ca"))
        .issuer_name(_name("taskops-devcluster-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki / "ca.key", ca_key)
    (pki / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    ips = ["127.0.0.1", "10.96.0.1"]
    _leaf(
        pki,
        (ca_key, ca_cert, now),
        "apiserver",
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips],
    )
    _leaf(
        pki,
        (ca_key, ca_cert, now),
        "admin",
        _name("kubernetes-admin", "system:masters"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        [],
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki / "sa.key", sa_key)
    (pki / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def node_certs(pki: Path, node: str) -> None:
    """Write `node`'s kubelet credentials, signed by the CA in `pki`: node.{crt,key}, its client identity
    (system:node:<node> in system:nodes, what the Node authorizer expects), and kubelet.{crt,key}, the
    serving certificate for 127.0.0.1 that the API server checks with --kubelet-certificate-authority."""
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for stem, subject, usage, sans in (
        ("node", _name(f"system:node:{node}", "system:nodes"), ExtendedKeyUsageOID.CLIENT_AUTH, []),
        (
            "kubelet",
            _name(node),
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName(node), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ),
    ):
        _leaf(pki, (ca_key, ca_cert, now), stem, subject, usage, sans)


def _leaf(
    pki: Path,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate, dt.datetime],
    stem: str,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
) -> None:
    """Write `stem`.{key,crt}: a certificate for `subject` with one extended key usage, signed by the CA."""
    ca_key, ca_cert, now = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(pki / f"{stem}.key", key)
    (pki / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
