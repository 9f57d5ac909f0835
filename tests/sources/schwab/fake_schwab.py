"""A fake Schwab on 127.0.0.1 for schwab-py's real ``StreamClient`` and OAuth2 client.

* REST (``/trader/v1/userPreference``) and the token endpoint (``/v1/oauth/token``) are
  served by an ``httpx.MockTransport`` put under schwab-py's real authlib session,
  since schwab-py's REST host is fixed.
* The streamer is a real ``websockets`` server speaking Schwab's protocol: request
  envelopes, ``response`` acks with codes, numeric-keyed ``data`` frames, ``notify``
  heartbeats.

Message shapes follow schwab-py's own tests (tests/streaming_test.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

FIELD_NUMBERS = {"BID_PRICE": 1, "ASK_PRICE": 2, "LAST_PRICE": 3, "BID_SIZE": 4, "ASK_SIZE": 5,
                 "TOTAL_VOLUME": 8, "LAST_SIZE": 9, "HIGH_PRICE": 10}
FUT_TIMES = {"QUOTE_TIME_MILLIS": 10, "TRADE_TIME_MILLIS": 11, "HIGH_PRICE": 12, "FUTURE_ACTIVE_SYMBOL": 34}
EQ_TIMES = {"QUOTE_TIME_MILLIS": 34, "TRADE_TIME_MILLIS": 35}
TIME_FIELDS = ("QUOTE_TIME_MILLIS", "TRADE_TIME_MILLIS")
SERVICES = ("LEVELONE_FUTURES", "LEVELONE_EQUITIES")


def write_token(path: Path, *, access: str = "access-1", age_s: float = 3600,
                access_expired: bool = False) -> None:
    now = time.time()
    token = {
        "access_token": access, "refresh_token": "refresh-1", "token_type": "Bearer",
        "expires_in": 1800, "scope": "api", "id_token": "id",
        "expires_at": int(now - 60 if access_expired else now + 1800),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"creation_timestamp": int(now - age_s), "token": token}))


def item(symbol: str, service: str = "LEVELONE_FUTURES", *, delayed: bool = False, **fields: Any) -> dict[str, Any]:
    """A content item in Schwab's numeric-keyed form: item('/ES', LAST_PRICE=1, TRADE_TIME_MILLIS=5)."""
    numbers = numbers_for(service)
    out: dict[str, Any] = {"key": symbol, "delayed": delayed}
    for name, value in fields.items():
        out[str(numbers[name])] = value
    return out


def numbers_for(service: str) -> dict[str, int]:
    return {**FIELD_NUMBERS, **(FUT_TIMES if service == "LEVELONE_FUTURES" else EQ_TIMES)}


def data_frame(service: str, *items: dict[str, Any], ts: int = 1_767_623_400_000) -> dict[str, Any]:
    return {"data": [{"service": service, "timestamp": ts, "command": "SUBS", "content": list(items)}]}


@dataclass
class FakeSchwab:
    access_token: str = "access-1"
    deny_login: bool = False
    unknown_symbols: set[str] = field(default_factory=set)
    #: Seconds between heartbeats; Schwab sends one about every 10 s (``None``: never).
    heartbeat_every: float | None = 10.0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    logins: int = 0
    subs: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SERVICES})
    server: Server | None = None
    conn: ServerConnection | None = None
    on_subscribe: list[Any] = field(default_factory=list)  # frames sent after each successful SUBS
    subscribed_event: asyncio.Event = field(default_factory=asyncio.Event)
    #: service -> code refusing every SUBS/ADD on it (11: not entitled to that service).
    refused_services: dict[str, int] = field(default_factory=dict)
    #: Like Schwab, end a session with code 30 once a SUBS/ADD left it with nothing subscribed.
    stop_when_empty: bool = False
    #: Symbols Schwab acknowledges and then never sends anything for ($SPX.X, an expired contract).
    silent_symbols: set[str] = field(default_factory=set)
    #: Symbols whose frames carry ``delayed: true`` (an account without real-time entitlement).
    delayed_symbols: set[str] = field(default_factory=set)
    #: Every data frame sent (snapshots and test frames), for tests about what went over the wire.
    data_sent: list[dict[str, Any]] = field(default_factory=list)
    #: service -> the field numbers the client asked for (the last SUBS/ADD wins, as on Schwab).
    fields: dict[str, set[int]] = field(default_factory=lambda: {s: set() for s in SERVICES})
    #: Access tokens the streamer LOGIN denies (code 3) although REST accepts them.
    streamer_denies: set[str] = field(default_factory=set)
    #: Never answer the streamer LOGIN (a hung streamer).
    silent_login: bool = False
    #: Never answer these commands (SUBS, ADD...): a streamer that hangs after the login.
    unanswered: set[str] = field(default_factory=set)
    #: Every access token gets 401 on REST, even a freshly refreshed one (app lacks the product).
    reject_every_token: bool = False
    #: Logged-in streamer connections, oldest first; Schwab keeps one per account.
    live: list[ServerConnection] = field(default_factory=list)
    #: How many times schwab-py's HTTP session (over this fake's transport) was closed.
    sessions_closed: int = 0
    #: symbol -> fields of the snapshot a SUBS/ADD sends for it (times 0 when unknown, as Schwab does).
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A SUBS ack and its snapshot go out together: a test's send never lands between them.
    wire: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> FakeSchwab:
        self.server = await serve(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    # -------------------------------------------------------------- REST + OAuth
    def transport(self) -> httpx.MockTransport:
        fake = self

        class Counting(httpx.MockTransport):
            async def aclose(self) -> None:
                fake.sessions_closed += 1

        return Counting(self._http)

    def _http(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "api.schwabapi.com", request.url
        if request.url.path == "/v1/oauth/token":
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            self.token_requests.append(form)
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != "refresh-1":
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad refresh"})
            self.access_token = f"access-{len(self.token_requests) + 1}"
            return httpx.Response(200, json={
                "access_token": self.access_token, "refresh_token": "refresh-1", "token_type": "Bearer",
                "expires_in": 1800, "scope": "api", "id_token": "id"})
        if request.url.path == "/trader/v1/userPreference":
            if self.reject_every_token or request.headers.get("authorization") != f"Bearer {self.access_token}":
                return httpx.Response(401, json={"message": "unauthorized"})
            return httpx.Response(200, json={
                "accounts": [],
                "streamerInfo": [{
                    "streamerSocketUrl": f"ws://127.0.0.1:{self.port}/ws",
                    "schwabClientCustomerId": "cust", "schwabClientCorrelId": "correl",
                    "schwabClientChannel": "N9", "schwabClientFunctionId": "APIAPP"}],
                "offers": [{"level2Permissions": True, "mktDataPermission": "NP"}]})
        return httpx.Response(404)

    # -------------------------------------------------------------- streamer
    async def publish(self, service: str, updates: dict[str, dict[str, Any]], *, ts: int = 1_767_623_400_000) -> None:
        """What Schwab sends for a market event: only subscribed symbols, only requested fields.

        ``updates`` maps symbol -> changed fields by name (a partial update); fields the
        client did not ask for are not sent, and a symbol it did not subscribe is not sent.
        """
        items = [self._item(service, symbol, changed) for symbol, changed in updates.items()
                 if symbol in self.subs[service] and symbol not in self.silent_symbols]
        if items:
            await self.send(data_frame(service, *items, ts=ts))

    def _item(self, service: str, symbol: str, values: dict[str, Any]) -> dict[str, Any]:
        numbers, wanted = numbers_for(service), self.fields[service]
        kept = {name: v for name, v in values.items() if numbers[name] in wanted}
        return item(symbol, service, delayed=symbol in self.delayed_symbols, **kept)

    async def send(self, frame: dict[str, Any] | str) -> None:
        assert self.conn is not None, "no client connected"
        if isinstance(frame, dict) and "data" in frame:
            self.data_sent.append(frame)
        async with self.wire:
            await self.conn.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def drop(self) -> None:
        """Close the socket mid-stream, like a network failure or a server restart."""
        assert self.conn is not None
        self.subscribed_event.clear()
        await self.conn.close(code=1011, reason="going away")

    async def wait_subscribed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.subscribed_event.wait(), timeout)

    @staticmethod
    def _ack(req: dict[str, Any], code: int = 0, msg: str = "ok") -> str:
        return json.dumps({"response": [{
            "service": req["service"], "requestid": req["requestid"], "command": req["command"],
            "SchwabClientCorrelId": "correl", "timestamp": int(time.time() * 1000),
            "content": {"code": code, "msg": msg}}]})

    async def _heartbeats(self, conn: ServerConnection) -> None:
        if self.heartbeat_every is None:
            return
        try:
            while True:
                await asyncio.sleep(self.heartbeat_every)
                await conn.send(json.dumps({"notify": [{"heartbeat": str(int(time.time() * 1000))}]}))
        except ConnectionClosed:
            pass

    async def _serve(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.subs = {s: set() for s in SERVICES}
        beats = asyncio.create_task(self._heartbeats(conn))
        try:
            async for raw in conn:
                for req in json.loads(raw)["requests"]:
                    self.requests.append(req)
                    await self._handle(conn, req)
        except ConnectionClosed:
            pass
        finally:
            beats.cancel()
            if conn in self.live:
                self.live.remove(conn)

    async def _handle(self, conn: ServerConnection, req: dict[str, Any]) -> None:
        service, command = req["service"], req["command"]
        if service == "ADMIN" and command == "LOGIN":
            self.logins += 1
            if self.silent_login:
                return
            auth = req["parameters"]["Authorization"]
            if self.deny_login or auth != self.access_token or auth in self.streamer_denies:
                await conn.send(self._ack(req, 3, "Login Denied."))
                await conn.close()
                return
            for old in self.live:  # one streamer connection per account: the newest wins
                try:
                    await old.send(json.dumps({"notify": [{"service": "ADMIN", "timestamp": int(time.time() * 1000),
                                                           "content": {"code": 12, "msg": "CLOSE_CONNECTION"}}]}))
                    await old.close()
                except ConnectionClosed:
                    pass
            self.live = [conn]
            await conn.send(self._ack(req, 0, "server=fake;status=PN"))
            return
        if command in self.unanswered:
            return
        keys = [k for k in req["parameters"].get("keys", "").split(",") if k]
        if command in ("SUBS", "ADD"):
            bad = [k for k in keys if k in self.unknown_symbols]
            refused = self.refused_services.get(service)
            if refused is not None or bad:
                if refused is not None:
                    await conn.send(self._ack(req, refused, f"{service} service not available"))
                else:
                    await conn.send(self._ack(req, 22, f"Invalid symbols: {','.join(bad)}"))
                if self.stop_when_empty and not any(self.subs.values()):
                    await conn.send(json.dumps({"notify": [{"service": "ADMIN", "timestamp": int(time.time() * 1000),
                                                            "content": {"code": 30, "msg": "Stop streaming"}}]}))
                    await conn.close()
                return
            self.fields[service] = {int(f) for f in req["parameters"].get("fields", "").split(",") if f}
            # the snapshot: every requested field known for the symbol, 0 for times it does not have
            snapshot = [self._item(service, k, {**dict.fromkeys(TIME_FIELDS, 0), **self.snapshots.get(k, {})})
                        for k in keys if k not in self.silent_symbols]
            async with self.wire:
                await conn.send(self._ack(req, 0, f"{command} command succeeded"))
                if snapshot:
                    self.data_sent.append(data_frame(service, *snapshot))
                    await conn.send(json.dumps(self.data_sent[-1]))
            # recorded once the snapshot is on the wire: a test's frame sent after this is an update
            if command == "SUBS":
                self.subs[service] = set(keys)
            else:
                self.subs[service] |= set(keys)
            self.subscribed_event.set()
            for frame in self.on_subscribe:
                await conn.send(json.dumps(frame))
            self.on_subscribe.clear()
        elif command == "UNSUBS":
            self.subs[service] -= set(keys)
            await conn.send(self._ack(req, 0, "UNSUBS command succeeded"))
        else:
            await conn.send(self._ack(req, 21, "bad command"))
