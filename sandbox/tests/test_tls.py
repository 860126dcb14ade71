"""The sandbox CA: what it writes and what Python's ssl makes of it."""

import ipaddress
import os
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from mdl_sandbox.tls import CertificateAuthority


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


def load(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def test_ca_file_is_a_ca(ca):
    assert os.path.basename(ca.ca_path) == "ca.pem"
    cert = load(ca.ca_path)
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 364 <= lifetime.days <= 366


def test_server_cert(ca, tmp_path):
    cert_path, key_path = ca.issue_server_cert(tmp_path, name="mdl-DEV")
    assert os.path.basename(cert_path) == "mdl-DEV.pem"
    assert os.path.basename(key_path) == "mdl-DEV-key.pem"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    cert = load(cert_path)
    assert cert.issuer == load(ca.ca_path).subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    cert.verify_directly_issued_by(load(ca.ca_path))


def test_extra_names_and_bad_name(ca, tmp_path):
    cert_path, _ = ca.issue_server_cert(tmp_path, name="mdl-QA", hostnames=["herd.example"])
    san = load(cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "herd.example"]
    with pytest.raises(ValueError):
        ca.issue_server_cert(tmp_path, name="../escape")


def test_load_reopens_the_ca(ca, tmp_path):
    again = CertificateAuthority.load(os.path.dirname(ca.ca_path))
    assert again.certificate == ca.certificate
    cert_path, _ = again.issue_server_cert(tmp_path, name="x")
    load(cert_path).verify_directly_issued_by(ca.certificate)


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_python_ssl_verifies_the_chain_strictly(ca, tmp_path, hostname):
    cert_path, key_path = ca.issue_server_cert(tmp_path, name="srv")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    client_ctx = ssl.create_default_context(cafile=ca.ca_path)
    client_ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    errors = []

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(16))
        except Exception as error:  # reported through errors
            errors.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=hostname) as tls:
                tls.sendall(b"ping")
                assert tls.recv(16) == b"ping"
    finally:
        thread.join(5)
        listener.close()
    assert not errors
