"""A throw-away certificate authority for the sandbox's HTTPS endpoints.

The sandbox serves HERD over HTTPS the way a stack with SSL enabled does. Clients (the
collection's modules, ``requests``, Python's ``ssl``) must be able to verify those servers
against a CA file, and must refuse them without it, so this module creates a private CA and
issues server certificates for 127.0.0.1 / localhost signed by it.

    ca = CertificateAuthority.create(directory)            # writes <directory>/ca.pem
    cert_path, key_path = ca.issue_server_cert(directory, name="mdl-DEV")

Keys are EC P-256 (fast to generate, accepted by OpenSSL's default security level).
Certificates carry the extensions a strict verifier (OpenSSL 3 with X509_STRICT, as Python
3.13 enables by default) expects: critical basicConstraints and keyUsage, subject and
authority key identifiers, and serverAuth extended key usage on server certificates.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from pathlib import Path
from typing import Iterable, Tuple, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority"]

PathLike = Union[str, "os.PathLike[str]"]

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
VALIDITY = datetime.timedelta(days=365)
# Backdate notBefore a little so a clock that lags slightly does not reject a fresh cert.
BACKDATE = datetime.timedelta(minutes=5)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, private: bool = False) -> None:
    """Write data to path; private files are created with mode 0600 from the start."""
    mode = 0o600 if private else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(str(path), flags, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    if private:
        os.chmod(str(path), 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


class CertificateAuthority:
    """A private CA: its key, its self-signed certificate and the path of ``ca.pem``."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate,
                 ca_path: PathLike):
        self.key = key
        self.certificate = certificate
        self.ca_path = str(ca_path)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def create(cls, directory: PathLike, common_name: str = "MDL sandbox CA") -> "CertificateAuthority":
        """Generate a CA key and self-signed certificate; write ``<directory>/ca.pem``.

        The CA key is written next to it as ``ca-key.pem`` (mode 0600) so that
        :meth:`load` can reopen the CA later.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key = _new_key()
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MDL sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        ca_path = directory / CA_CERT_FILE
        _write(ca_path, cert.public_bytes(serialization.Encoding.PEM))
        _write(directory / CA_KEY_FILE, _key_pem(key), private=True)
        return cls(key, cert, ca_path)

    @classmethod
    def load(cls, directory: PathLike) -> "CertificateAuthority":
        """Reopen a CA written by :meth:`create` in ``directory``."""
        directory = Path(directory)
        ca_path = directory / CA_CERT_FILE
        cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
        return cls(key, cert, ca_path)

    # -- issuing ------------------------------------------------------------------------
    def issue_server_cert(
        self,
        directory: PathLike,
        name: str = "mdl-DEV",
        hostnames: Iterable[str] = (),
        ip_addresses: Iterable[str] = (),
    ) -> Tuple[str, str]:
        """Issue a server certificate signed by this CA.

        Subject alternative names: IP 127.0.0.1, DNS localhost, plus any extra
        ``hostnames`` / ``ip_addresses``. Writes ``<directory>/<name>.pem`` (certificate)
        and ``<directory>/<name>-key.pem`` (private key, mode 0600); returns both paths.
        """
        if not _SAFE_NAME.match(name or ""):
            raise ValueError("certificate name must be a plain file name: %r" % (name,))
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)

        dns_names = ["localhost"] + [h for h in hostnames if h != "localhost"]
        ips = ["127.0.0.1"] + [i for i in ip_addresses if i != "127.0.0.1"]
        san = [x509.DNSName(h) for h in dns_names]
        san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]

        key = _new_key()
        now = _now()
        not_after = min(now + VALIDITY, self.certificate.not_valid_after_utc)
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MDL sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ])
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=True, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path = directory / ("%s.pem" % name)
        key_path = directory / ("%s-key.pem" % name)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        _write(key_path, _key_pem(key), private=True)
        return str(cert_path), str(key_path)

    def __repr__(self) -> str:
        return "CertificateAuthority(ca_path=%r)" % (self.ca_path,)
