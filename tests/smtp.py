"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), that can be stopped and started
again on the same port, and refuses recipients it is told to."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import free_port, until


@dataclass
class SmtpServer:
    port: int = field(default_factory=free_port)
    received: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    # With a certificate: "starttls" (upgrade, required before anything) or "tls" (TLS from
    # the first byte). With credentials: AUTH is required.
    tls: ssl.SSLContext | None = None
    security: str = "starttls"
    credentials: tuple[str, str] | None = None
    _server: asyncio.AbstractServer | None = None

    def _protocol(self) -> SMTP:
        options: dict[str, Any] = {}
        if self.tls is not None and self.security == "starttls":
            options.update(tls_context=self.tls, require_starttls=True)
        if self.credentials is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # Implicit TLS is not seen by aiosmtpd's check, which knows STARTTLS only.
                auth_require_tls=self.security == "starttls",
            )
        return SMTP(self, **options)

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        login, password = (part.encode() for part in self.credentials)
        given = data if isinstance(data, LoginPassword) else None
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=given == (login, password), handled=False)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        implicit = self.tls if self.security == "tls" else None
        self._server = await loop.create_server(
            self._protocol, "127.0.0.1", self.port, ssl=implicit
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message: Any = email.message_from_bytes(data, policy=email.policy.default)
        self.received.append(message)
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.received]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        await until(lambda: len(self.received) >= count, timeout, f"{count} emails")
        return self.received


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A certificate for 127.0.0.1 signed by itself: the server's TLS context and the PEM a
    client must trust (``smtp_ca_file``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp.pem", directory / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
