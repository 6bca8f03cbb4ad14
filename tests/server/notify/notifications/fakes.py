"""Local push providers speaking the real wire formats, checking credentials for real.

- FakeApns: an HTTP/2 server (h2, prior knowledge on plain TCP) for `POST /3/device/<token>`;
  verifies the ES256 provider JWT against the public key, its `kid` and `iss`, and the
  `apns-topic` / `apns-push-type` headers.
- FakeFcm: the OAuth2 token endpoint (verifies the RS256 service-account assertion, its scope,
  audience and grant type) and `POST /v1/projects/<id>/messages:send` (checks the bearer token).
- FakeJPush: `POST /v3/push` checking Basic auth appKey:masterSecret.

Each knows `dead` tokens (answered as the real service answers a gone token) and `flaky`
counts (that many 503s for a token before it works).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import h2.config
import h2.connection
import h2.events
import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def ec_key_pem() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def rsa_key_pem() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


@dataclass
class Behaviour:
    dead: set[str] = field(default_factory=set)
    flaky: Counter[str] = field(default_factory=Counter)
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def flake(self, token: str) -> bool:
        if self.flaky[token] > 0:
            self.flaky[token] -= 1
            return True
        return False


# --- APNs over HTTP/2 -----------------------------------------------------------------------


class FakeApns(Behaviour):
    def __init__(self, *, key_id: str, team_id: str, topic: str, public_key: Any) -> None:
        super().__init__()
        self.key_id, self.team_id, self.topic, self.public_key = key_id, team_id, topic, public_key
        self.server: asyncio.Server | None = None
        self.protocols: set[str] = set()
        # Provider tokens APNs now calls expired (403 ExpiredProviderToken).
        self.expired: set[str] = set()

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _H2(self), "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        path, method = headers.get(":path", ""), headers.get(":method")
        if method != "POST" or not path.startswith("/3/device/"):
            return 404, {}, b'{"reason":"BadPath"}'
        token = path.removeprefix("/3/device/")
        problem = self.check_auth(headers)
        if problem is None and headers["authorization"].partition(" ")[2] in self.expired:
            problem = "ExpiredProviderToken"
        if problem is not None:
            self.rejected.append(problem)
            return 403, {}, json.dumps({"reason": problem}).encode()
        if headers.get("apns-topic") != self.topic:
            return 400, {}, b'{"reason":"DeviceTokenNotForTopic"}'
        if headers.get("apns-push-type") != "alert":
            return 400, {}, b'{"reason":"InvalidPushType"}'
        if token in self.dead:
            return 410, {}, b'{"reason":"Unregistered","timestamp":1764633600000}'
        if self.flake(token):
            return 503, {}, b'{"reason":"ServiceUnavailable"}'
        self.received.append({"token": token, "payload": json.loads(body)})
        return 200, {"apns-id": f"apns-{len(self.received)}"}, b""

    def check_auth(self, headers: dict[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "bearer" or not token:
            return "MissingProviderToken"
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key_id:
                return "InvalidProviderToken"
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"])
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        return (
            None
            if claims.get("iss") == self.team_id and "iat" in claims
            else "InvalidProviderToken"
        )


class _H2(asyncio.Protocol):
    """A minimal HTTP/2 server connection: whole requests in, whole responses out."""

    def __init__(self, fake: FakeApns) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.fake = fake
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.fake.protocols.add("h2")
                self.streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.respond(event.stream_id)
        self.transport.write(self.conn.data_to_send())

    def respond(self, stream_id: int) -> None:
        headers, body = self.streams.pop(stream_id)
        status, extra, answer = self.fake.handle(headers, bytes(body))
        out = [(":status", str(status)), ("content-length", str(len(answer)))]
        out += [("content-type", "application/json")] if answer else []
        self.conn.send_headers(stream_id, out + list(extra.items()), end_stream=not answer)
        if answer:
            self.conn.send_data(stream_id, answer, end_stream=True)


# --- FCM HTTP v1 ----------------------------------------------------------------------------


class FakeFcm(Behaviour):
    def __init__(self, *, project_id: str, client_email: str, public_key: Any) -> None:
        super().__init__()
        self.project_id, self.client_email, self.public_key = project_id, client_email, public_key
        self.issued: set[str] = set()
        self.token_requests = 0
        self.server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_post("/v1/projects/{project}/messages:send", self.send)
        self.server = TestServer(app)
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def token_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/token"))

    async def token(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                form["assertion"][0], self.public_key, algorithms=["RS256"], audience=self.token_url
            )
        except (jwt.PyJWTError, KeyError):
            self.rejected.append("invalid_grant")
            return web.json_response({"error": "invalid_grant"}, status=400)
        if claims.get("iss") != self.client_email or "firebase.messaging" not in claims["scope"]:
            return web.json_response({"error": "invalid_scope"}, status=400)
        self.token_requests += 1
        access = f"ya29.fake-{self.token_requests}"
        self.issued.add(access)
        return web.json_response(
            {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.Response:
        if request.match_info["project"] != self.project_id:
            return _fcm_error(404, "NOT_FOUND", None)
        scheme, _, access = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or access not in self.issued:
            self.rejected.append("UNAUTHENTICATED")
            return _fcm_error(401, "UNAUTHENTICATED", None)
        message = (await request.json())["message"]
        token = message["token"]
        if token in self.dead:
            return _fcm_error(404, "NOT_FOUND", "UNREGISTERED")
        if self.flake(token):
            return _fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")
        self.received.append(message)
        name = f"projects/{self.project_id}/messages/{len(self.received)}"
        return web.json_response({"name": name})


def _fcm_error(status: int, code: str, fcm_code: str | None) -> web.Response:
    details = [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
    ]
    error = {
        "code": status,
        "message": code,
        "status": code,
        "details": details if fcm_code else [],
    }
    return web.json_response({"error": error}, status=status)


# --- JPush ----------------------------------------------------------------------------------


class FakeJPush(Behaviour):
    def __init__(self, *, app_key: str, master_secret: str) -> None:
        super().__init__()
        self.expected = "Basic " + base64.b64encode(f"{app_key}:{master_secret}".encode()).decode()
        self.server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v3/push", self.push)
        self.server = TestServer(app)
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def push(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.expected:
            self.rejected.append("1004")
            error = {"code": 1004, "message": "Authen failed"}
            return web.json_response({"error": error}, status=401)
        body = await request.json()
        [token] = body["audience"]["registration_id"]
        if token in self.dead:
            error = {"code": 1011, "message": "cannot find user by this audience"}
            return web.json_response({"error": error}, status=400)
        if self.flake(token):
            error = {"code": 1000, "message": "Server Internal Error"}
            return web.json_response({"error": error}, status=500)
        self.received.append(body)
        return web.json_response({"sendno": "0", "msg_id": str(54000 + len(self.received))})
