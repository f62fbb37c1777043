"""The local certificate authority: created on first use in the user's locald config directory (key
0600 in a 0700 directory), and certificates for each host, issued when a browser asks for the host
(SNI). X.509 is built by `cryptography`; nothing here encodes ASN.1 itself."""

from __future__ import annotations

import datetime
import fcntl
import getpass
import ipaddress
import os
import socket
import ssl
from pathlib import Path
from typing import Callable

from ..runtime.private import write_private
from . import dirs

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
CA_YEARS = 10
LEAF_DAYS = 397  # the longest validity browsers accept for a server certificate
DEFAULT_NAMES = ("localhost",)  # the certificate for clients that send no (or an unknown) server name


def ca_dir() -> Path:
    return dirs.private(dirs.config_dir() / "ca")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())  # fast to make, accepted by every current TLS client


class LocalCA:
    def __init__(self, directory: Path, cert, key):
        self.directory = directory
        self.cert = cert
        self.key = key

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT

    @property
    def fingerprint(self) -> str:
        from cryptography.hazmat.primitives import hashes

        return self.cert.fingerprint(hashes.SHA256()).hex()

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> "LocalCA":
        """The user's CA; made now when there is none (under a lock: the proxy and `locald trust` may race)."""
        directory = directory or ca_dir()
        with open(directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not ((directory / CA_KEY).exists() and (directory / CA_CERT).exists()):
                cls._create(directory)
            return cls._load(directory)

    @classmethod
    def _load(cls, directory: Path) -> "LocalCA":
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
        return cls(directory, cert, key)

    @classmethod
    def _create(cls, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        key = _new_key()
        who = f"{getpass.getuser()}@{socket.gethostname()}"
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "locald development CA"),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"locald CA {who}")])
        now = _now()
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        write_private(directory / CA_KEY, key_pem)
        (directory / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # public: 0644

    def issue(self, names: tuple[str, ...]) -> bytes:
        """A server certificate for `names` (host names or IP addresses) and its key, as one PEM."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = _new_key()
        now = _now()
        alt = [_alt_name(n) for n in names]
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
                .sign(self.key, hashes.SHA256()))
        return (cert.public_bytes(serialization.Encoding.PEM)
                + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def _alt_name(name: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class ServerCertificates:
    """The HTTPS listener's TLS context: a certificate per host, issued on its first handshake for hosts
    `known(host)` accepts; any other name (or none) gets the `localhost` certificate."""

    def __init__(self, ca: LocalCA, scratch: Path, known: Callable[[str], bool]):
        self.ca = ca
        self.scratch = scratch  # private dir: a key touches the disk only between write and load
        self.known = known
        self._contexts: dict[str, ssl.SSLContext] = {}
        self.context = self._make((*DEFAULT_NAMES, "127.0.0.1", "::1"))
        self.context.sni_callback = self._pick

    def _make(self, names: tuple[str, ...]) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        path = self.scratch / f"leaf-{os.getpid()}.pem"
        write_private(path, self.ca.issue(names))
        try:
            ctx.load_cert_chain(path)
        finally:
            path.unlink()
        return ctx

    def for_host(self, host: str) -> ssl.SSLContext:
        if host not in self._contexts:
            self._contexts[host] = self._make((host,))
        return self._contexts[host]

    def _pick(self, ssl_object: ssl.SSLObject, server_name: str | None, _ctx) -> None:
        host = (server_name or "").lower().rstrip(".")
        if host and host not in DEFAULT_NAMES and self.known(host):
            ssl_object.context = self.for_host(host)
