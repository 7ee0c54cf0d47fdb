"""Outbound requests (issue 13, point 7): a URL someone else chose (a reference image, a
provider's result link, a webhook) reaches only the address that passed the check.

The attack is DNS rebinding: the name answers a public address when the server checks it and
127.0.0.1 when the server connects. The tests inject a resolver that does exactly that and put
a real HTTP server on 127.0.0.1 as the "internal" service, which must receive nothing. No
connection to the public address is ever made: the first answer only feeds the check ahead of
the request, the second is the one the connection looks up, checks and would use.
"""

from __future__ import annotations

import io
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image
from pydantic import SecretStr

from imagebatch.app import App
from imagebatch.domain.specs import Mode
from imagebatch.engine.webhooks import WebhookDispatcher
from imagebatch.errors import InputError, InvalidRequest
from imagebatch.imaging.fetch import FetchLimits, fetch_image_bytes
from imagebatch.imaging.outbound import OutboundPolicy, is_public
from imagebatch.imaging.pinned import PinnedTransport
from imagebatch.providers.base import ProviderRequest
from imagebatch.providers.seedream import SeedreamProvider
from tests.fakes.seedream import FakeSeedream
from tests.fakes.server import FakeServer, Reply, Request
from tests.flat_requests import provider_request
from tests.integration.helpers import prompts, run_to_end, submit

PUBLIC = "93.184.215.14"  # never connected to: only the check ahead of the request sees it
NAME = "images.example.test"


class Answers:
    """A resolver: the n-th lookup gets the n-th answer, every later one the last answer."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


def rebinding() -> Answers:
    return Answers([PUBLIC], ["127.0.0.1"])


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    return buffer.getvalue()


class Internal(FakeServer):
    """A service on the server's own network: an image for GET, 204 for a webhook POST."""

    def handle(self, request: Request) -> Reply:
        if request.method == "POST":
            return Reply(204)
        return Reply(200, png(), {"Content-Type": "image/png"})

    def named(self, path: str, host: str = NAME) -> str:
        return self.url.replace("127.0.0.1", host) + path


@pytest.fixture
def internal() -> Iterator[Internal]:
    with Internal() as server:
        yield server


def limits(resolver: Answers, allow_private: bool = False) -> FetchLimits:
    return FetchLimits(1_000_000, 5.0, allow_private, resolver)


# -- the address policy -------------------------------------------------------------------

REFUSED = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a9fe:a9fe",
]  # fmt: skip
PUBLIC_ADDRESSES = [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_local_and_hidden_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [*PUBLIC_ADDRESSES, "64:ff9b::808:808"])
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# -- reference image URLs -----------------------------------------------------------------


async def test_a_reference_url_rebound_to_loopback_reaches_nothing(internal: Internal) -> None:
    resolver = rebinding()
    with pytest.raises(InputError) as caught:
        await fetch_image_bytes(internal.named("/ref.png"), "row 2", limits(resolver))
    [issue] = caught.value.issues
    assert issue.where == "row 2"
    assert "private or local address (127.0.0.1)" in issue.problem
    assert "IMAGEBATCH_ALLOW_PRIVATE_URLS" in issue.hint
    assert resolver.lookups == [NAME, NAME]  # the check, then the connection's own lookup
    assert internal.requests == []


async def test_a_name_on_loopback_is_refused_at_once(internal: Internal) -> None:
    resolver = Answers(["127.0.0.1"])
    with pytest.raises(InputError, match=r"points to a private or local address \(127"):
        await fetch_image_bytes(internal.named("/ref.png"), "row 2", limits(resolver))
    assert resolver.lookups == [NAME] and internal.requests == []


async def test_one_private_address_among_public_ones_is_refused(internal: Internal) -> None:
    resolver = Answers([PUBLIC], [PUBLIC, "127.0.0.1"])
    with pytest.raises(InputError, match="private or local"):
        await fetch_image_bytes(internal.named("/ref.png"), "row 2", limits(resolver))
    assert internal.requests == []


async def test_an_unresolvable_name_says_so(internal: Internal) -> None:
    with pytest.raises(InputError, match=f"cannot resolve {NAME}"):
        await fetch_image_bytes(internal.named("/ref.png"), "row 2", limits(Answers([])))


async def test_allowed_private_fetches_connect_to_the_checked_address_with_the_host_kept(
    internal: Internal, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Internal()  # an HTTP_PROXY from the environment would resolve the name itself
    with proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        resolver = Answers(["127.0.0.1"])
        data = await fetch_image_bytes(internal.named("/ref.png"), "row 2", limits(resolver, True))
    assert data == png()
    [request] = internal.requests
    assert request.headers["host"] == f"{NAME}:{internal.url.rsplit(':', 1)[1]}"
    assert resolver.lookups == [NAME]  # allowed: no check ahead, one lookup to connect
    assert proxy.requests == []


# -- TLS: SNI and the certificate follow the name, not the pinned address -----------------


#: what a strict verifier (Python 3.13's default flags) wants of a self-signed server cert
USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for NAME, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Hello(BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hosts.append(self.headers["host"])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


async def test_https_sends_the_name_as_sni_and_checks_the_certificate_for_it(
    tmp_path: Path,
) -> None:
    cert_path, key_path = certificate(tmp_path)
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda _socket, name, _context: server_names.append(name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    Hello.hosts = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    trust = ssl.create_default_context(cafile=str(cert_path))
    policy = OutboundPolicy(allow_private=True, resolver=Answers(["127.0.0.1"]))
    port = httpd.server_address[1]
    try:
        async with httpx.AsyncClient(transport=PinnedTransport(policy, verify=trust)) as client:
            response = await client.get(f"https://{NAME}:{port}/")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert response.text == "ok"
    assert server_names == [NAME] and Hello.hosts == [f"{NAME}:{port}"]


# -- provider result links (Seedream): the same fetch_bytes path --------------------------


class CdnSeedream(FakeSeedream):
    """Ark whose result links name a CDN host instead of the loopback address it runs on."""

    @property
    def link_base(self) -> str:
        return super().url

    @property
    def url(self) -> str:
        return super().url.replace("127.0.0.1", "cdn.example.test")


@pytest.fixture
def ark() -> Iterator[CdnSeedream]:
    with CdnSeedream() as server:
        yield server


def seedream(ark: CdnSeedream, resolver: Answers, allow_private: bool = False) -> SeedreamProvider:
    download = FetchLimits(1_000_000, 5.0, allow_private, resolver)
    return SeedreamProvider(SecretStr("ark-test-key-0000"), ark.link_base, 10, download=download)


def url_request() -> ProviderRequest:
    return provider_request(
        mode=Mode.GENERATE,
        model="doubao-seedream-4-0-250828",
        prompt="plush cow",
        params={"response_format": "url"},
    )


async def test_a_result_link_rebound_to_loopback_reaches_nothing(ark: CdnSeedream) -> None:
    resolver = rebinding()
    provider = seedream(ark, resolver)
    try:
        with pytest.raises(InvalidRequest, match=r"private or local address \(127.0.0.1\)"):
            await provider.generate(url_request())
    finally:
        await provider.aclose()
    assert resolver.lookups == ["cdn.example.test"] * 2
    assert len(ark.requests) == 1 and ark.downloads == []  # the API call only


async def test_an_allowed_result_link_keeps_its_host(ark: CdnSeedream) -> None:
    provider = seedream(ark, Answers(["127.0.0.1"]), allow_private=True)
    try:
        result = await provider.generate(url_request())
    finally:
        await provider.aclose()
    [download] = ark.downloads
    assert download.headers["host"] == ark.url.removeprefix("http://")
    assert result.images[0].data == next(iter(ark.results.values()))


# -- webhooks -----------------------------------------------------------------------------


async def deliver(app: App, url: str, resolver: Answers, allow_private: bool = False) -> int:
    """Sends the webhook of a finished batch; the batch's id."""
    alice = await app.accounts.create_user("alice", "password-1")
    batch = await submit(app, prompts("p"), owner=alice.owner, webhook_url=url)
    await run_to_end(app, [batch.id])
    dispatcher = WebhookDispatcher(
        app.webhooks, app.webhook_secrets, allow_private=allow_private, resolver=resolver
    )
    async with dispatcher.client() as client:
        assert await dispatcher.send_due(client) == 1
    return batch.id


async def test_a_webhook_rebound_to_loopback_reaches_nothing(app: App, internal: Internal) -> None:
    resolver = rebinding()
    batch_id = await deliver(app, internal.named("/hook"), resolver)
    [delivery] = await app.webhooks.for_batch(batch_id)
    assert delivery.status == "failed" and delivery.attempts == 1  # not retried
    assert "private or local address (127.0.0.1)" in (delivery.last_error or "")
    assert resolver.lookups == [NAME, NAME] and internal.requests == []


async def test_an_allowed_webhook_keeps_its_host(app: App, internal: Internal) -> None:
    batch_id = await deliver(app, internal.named("/hook"), Answers(["127.0.0.1"]), True)
    [delivery] = await app.webhooks.for_batch(batch_id)
    assert delivery.status == "delivered"
    [request] = internal.requests
    assert request.path == "/hook" and request.headers["host"].startswith(f"{NAME}:")
