"""Local stand-ins for the three PSAs and a webhook receiver, on 127.0.0.1.

Each is a small threaded `http.server` that implements the endpoints of
docs/INTEGRATIONS.md, checks the authentication headers (401 otherwise) and
the payload shapes (400 with the reason otherwise), and keeps what it was
sent. `fail(mode, times=…, path=…)` makes the next matching requests fail:

- an HTTP status (401, 403, 404, 422, 429, 500, 503…), 429 with `Retry-After`;
- "slow": answer after `slow_seconds` (longer than the client's timeout);
- "garbage": 200 with a body that is not JSON;
- "hang": do the work (store the note), then never answer until released —
  a PSA that got the note while the worker died waiting for the reply.

A stopped server is a PSA that is down (connection refused).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CW_ROOT = "/v4_6_release/apis/3.0"
AT_ROOT = "/atservicesrest/v1.0"
CW_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Reply(Exception):
    """Raised by a route to answer with this status and body."""

    def __init__(self, status: int, body: Any = None, headers: dict | None = None) -> None:
        self.status = status
        self.body = body if body is not None else {"message": f"status {status}"}
        self.headers = headers or {}


@dataclass
class Failure:
    mode: Any
    times: int
    method: str | None
    path: str | None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeServer:
    slow_seconds: float = 0.6
    requests: list[Seen] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.ids = iter(range(1001, 10**6))
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet tests
                pass

            def handle_any(self) -> None:
                fake.handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def fail(
        self, mode: Any, *, times: int = 1, method: str | None = None, path: str | None = None
    ):
        with self.lock:
            self.failures.append(Failure(mode, times, method, path))

    def seen(self, method: str, fragment: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    # --- dispatch ---------------------------------------------------------------------

    def _failure_for(self, method: str, path: str) -> Failure | None:
        with self.lock:
            for failure in self.failures:
                if failure.times <= 0:
                    continue
                if failure.method and failure.method != method:
                    continue
                if failure.path and failure.path not in path:
                    continue
                failure.times -= 1
                return failure
        return None

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        seen = Seen(
            handler.command,
            split.path,
            {k: v[0] for k, v in parse_qs(split.query).items()},
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self.lock:
            self.requests.append(seen)
        failure = self._failure_for(seen.method, seen.path)
        mode = failure.mode if failure else None
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode == "garbage":
            return self._send(handler, 200, b"<html>Service temporarily weird</html>", "text/html")
        if isinstance(mode, int):
            headers = {"Retry-After": "7"} if mode == 429 else {}
            return self._send_json(handler, mode, {"message": f"forced {mode}"}, headers)
        try:
            status, answer = self.route(seen)
        except Reply as reply:
            return self._send_json(handler, reply.status, reply.body, reply.headers)
        if mode == "hang":
            self.release.wait(30)
            return None
        return self._send_json(handler, status, answer)

    def _send_json(self, handler, status: int, body: Any, headers: dict | None = None) -> None:
        self._send(handler, status, json.dumps(body).encode(), "application/json", headers)

    @staticmethod
    def _send(handler, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, seen: Seen) -> tuple[int, Any]:
        raise Reply(404)

    def next_id(self) -> int:
        with self.lock:
            return next(self.ids)


def _body(seen: Seen) -> Any:
    try:
        return seen.json()
    except ValueError:
        raise Reply(400, {"message": "body is not JSON"}) from None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise Reply(400, {"message": message})


def _like(conditions: str) -> str:
    match = re.search(r'like "%(.*?)%"', conditions or "")
    return match.group(1) if match else ""


# --- ConnectWise PSA -----------------------------------------------------------------


class FakeConnectWise(FakeServer):
    company, public, private, client_id = "acme", "pub-key", "priv-key-9876", "client-123"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tickets = {"1042": {"id": 1042, "summary": "VPN drops", "company": {"name": "Acme"}}}
        self.notes: list[dict] = []
        self.time_entries: list[dict] = []

    @property
    def base_url(self) -> str:
        return self.url + CW_ROOT

    def credentials(self) -> dict[str, str]:
        return {
            "company_id": self.company,
            "public_key": self.public,
            "private_key": self.private,
            "client_id": self.client_id,
        }

    def route(self, seen: Seen) -> tuple[int, Any]:
        expected = base64.b64encode(f"{self.company}+{self.public}:{self.private}".encode())
        if seen.headers.get("authorization") != f"Basic {expected.decode()}":
            raise Reply(401, {"code": "Unauthorized", "message": "bad credentials"})
        if seen.headers.get("clientid") != self.client_id:
            raise Reply(401, {"code": "Unauthorized", "message": "clientId missing"})
        path = seen.path.removeprefix(CW_ROOT)
        if seen.method == "GET" and path == "/system/info":
            return 200, {"version": "v2025.1.12345", "isCloud": True}
        if match := re.fullmatch(r"/service/tickets/(\d+)", path):
            if match[1] not in self.tickets:
                raise Reply(404, {"code": "NotFound", "message": "Ticket not found"})
            return 200, self.tickets[match[1]]
        if match := re.fullmatch(r"/service/tickets/(\d+)/notes", path):
            ticket = match[1]
            if ticket not in self.tickets:
                raise Reply(404, {"code": "NotFound", "message": "Ticket not found"})
            if seen.method == "GET":
                wanted = _like(seen.query.get("conditions", ""))
                return 200, [n for n in self.notes if n["ticket"] == ticket and wanted in n["text"]]
            body = _body(seen)
            _require(isinstance(body.get("text"), str) and body["text"], "text is required")
            for flag in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag"):
                _require(isinstance(body.get(flag), bool), f"{flag} must be a boolean")
            _require(
                body["internalAnalysisFlag"]
                or body["resolutionFlag"]
                or body["detailDescriptionFlag"],
                "one of the flags must be set",
            )
            note = {"id": self.next_id(), "ticket": ticket, "ticketId": int(ticket), **body}
            self.notes.append(note)
            return 201, note
        if path == "/time/entries":
            if seen.method == "GET":
                wanted = _like(seen.query.get("conditions", ""))
                return 200, [e for e in self.time_entries if wanted in e["notes"]]
            body = _body(seen)
            _require(body.get("chargeToType") == "ServiceTicket", "chargeToType")
            _require(str(body.get("chargeToId")) in self.tickets, "chargeToId is not a ticket")
            member = body.get("member")
            _require(
                isinstance(member, dict) and ("id" in member or "identifier" in member), "member"
            )
            for key in ("timeStart", "timeEnd"):
                _require(bool(CW_TIME.match(str(body.get(key, "")))), f"{key} format")
            _require(body["timeEnd"] >= body["timeStart"], "timeEnd before timeStart")
            entry = {"id": self.next_id(), **body}
            self.time_entries.append(entry)
            return 201, entry
        raise Reply(404, {"code": "NotFound", "message": "no such endpoint"})


# --- Autotask ------------------------------------------------------------------------


class FakeAutotask(FakeServer):
    username, secret, code = "api@acme.example", "at-secret-5555", "TRACKINGCODE27CHARACTERSXXX"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tickets = {
            7001: {
                "id": 7001,
                "ticketNumber": "T20260210.0042",
                "title": "Printer offline",
                "companyID": 31,
            },
        }
        self.companies = {31: {"id": 31, "companyName": "Globex"}}
        self.notes: list[dict] = []
        self.time_entries: list[dict] = []

    @property
    def base_url(self) -> str:
        return self.url + "/atservicesrest"

    def credentials(self) -> dict[str, str]:
        return {"username": self.username, "secret": self.secret, "integration_code": self.code}

    @staticmethod
    def _filters(seen: Seen) -> list[dict]:
        try:
            search = json.loads(seen.query.get("search", ""))
        except ValueError:
            raise Reply(400, {"errors": ["search is not JSON"]}) from None
        filters = search.get("filter") if isinstance(search, dict) else None
        _require(isinstance(filters, list) and filters, "filter is required")
        return filters

    @staticmethod
    def _match(item: dict, filters: list[dict]) -> bool:
        for f in filters:
            value = item.get(f["field"])
            if f["op"] == "eq" and str(value) != str(f["value"]):
                return False
            if f["op"] == "contains" and str(f["value"]) not in str(value):
                return False
        return True

    def route(self, seen: Seen) -> tuple[int, Any]:
        path = seen.path.removeprefix(AT_ROOT)
        if path == "/zoneInformation":
            _require(seen.query.get("user") == self.username, "unknown user")
            return 200, {
                "zoneName": "Fake zone",
                "url": f"{self.url}/atservicesrest/",
                "webUrl": f"{self.url}/",
                "ci": 1,
            }
        headers = seen.headers
        if (
            headers.get("apiintegrationcode") != self.code
            or headers.get("username") != self.username
            or headers.get("secret") != self.secret
        ):
            raise Reply(401, {"errors": ["Unauthorized"]})
        if path == "/Tickets/entityInformation":
            return 200, {"info": {"name": "Ticket", "canQuery": True}}
        if path == "/Tickets/query":
            items = [t for t in self.tickets.values() if self._match(t, self._filters(seen))]
            return 200, {"items": items, "pageDetails": {"count": len(items)}}
        if match := re.fullmatch(r"/Companies/(\d+)", path):
            company = self.companies.get(int(match[1]))
            if company is None:
                raise Reply(404, {"errors": ["not found"]})
            return 200, {"item": company}
        if match := re.fullmatch(r"/Tickets/(\d+)/Notes", path):
            ticket = int(match[1])
            if ticket not in self.tickets:
                raise Reply(404, {"errors": ["ticket not found"]})
            body = _body(seen)
            _require(body.get("ticketID") == ticket, "ticketID must match the URL")
            _require(
                isinstance(body.get("description"), str) and body["description"], "description"
            )
            _require(isinstance(body.get("title"), str), "title")
            _require(isinstance(body.get("noteType"), int), "noteType")
            _require(isinstance(body.get("publish"), int), "publish")
            note = {"id": self.next_id(), **body}
            self.notes.append(note)
            return 200, {"itemId": note["id"]}
        if path == "/TicketNotes/query":
            items = [n for n in self.notes if self._match(n, self._filters(seen))]
            return 200, {"items": items, "pageDetails": {"count": len(items)}}
        if path == "/TimeEntries":
            body = _body(seen)
            _require(body.get("ticketID") in self.tickets, "ticketID")
            _require(isinstance(body.get("resourceID"), int), "resourceID")
            _require(isinstance(body.get("hoursWorked"), int | float), "hoursWorked")
            for key in ("dateWorked", "startDateTime", "endDateTime"):
                _require(bool(CW_TIME.match(str(body.get(key, "")))), f"{key} format")
            _require(isinstance(body.get("summaryNotes"), str), "summaryNotes")
            entry = {"id": self.next_id(), **body}
            self.time_entries.append(entry)
            return 200, {"itemId": entry["id"]}
        if path == "/TimeEntries/query":
            items = [e for e in self.time_entries if self._match(e, self._filters(seen))]
            return 200, {"items": items, "pageDetails": {"count": len(items)}}
        raise Reply(404, {"errors": ["no such endpoint"]})


# --- HaloPSA -------------------------------------------------------------------------


class FakeHalo(FakeServer):
    client_id, client_secret, token = "halo-client", "halo-secret-4321", "tok-abc"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tickets = {
            "555": {"id": 555, "summary": "Outlook keeps asking", "client_name": "Initech"}
        }
        self.actions: list[dict] = []

    @property
    def base_url(self) -> str:
        return self.url

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "tenant": "acme"}

    def route(self, seen: Seen) -> tuple[int, Any]:
        if seen.path == "/auth/token":
            form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
            _require(seen.query.get("tenant") == "acme", "tenant")
            if (
                form.get("grant_type") != "client_credentials"
                or form.get("client_id") != self.client_id
                or form.get("client_secret") != self.client_secret
                or not form.get("scope")
            ):
                raise Reply(401, {"error": "invalid_client"})
            return 200, {"access_token": self.token, "token_type": "Bearer", "expires_in": 3600}
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            raise Reply(401, {"message": "unauthorised"})
        if seen.path == "/api/Agent/me":
            return 200, {"id": 1, "name": "ResolutionFlow API"}
        if match := re.fullmatch(r"/api/Tickets/(\d+)", seen.path):
            if match[1] not in self.tickets:
                raise Reply(404, {"message": "ticket not found"})
            return 200, self.tickets[match[1]]
        if seen.path == "/api/Actions":
            if seen.method == "GET":
                ticket = seen.query.get("ticket_id")
                return 200, {"actions": [a for a in self.actions if str(a["ticket_id"]) == ticket]}
            body = _body(seen)
            _require(isinstance(body, list) and len(body) == 1, "an array of one action")
            action = body[0]
            _require(str(action.get("ticket_id")) in self.tickets, "ticket_id")
            _require(isinstance(action.get("note"), str) and action["note"], "note")
            _require(isinstance(action.get("timetaken"), int | float), "timetaken")
            _require(isinstance(action.get("outcome"), str), "outcome")
            stored = {"id": self.next_id(), **action}
            self.actions.append(stored)
            return 201, stored
        raise Reply(404, {"message": "no such endpoint"})


# --- webhook receiver ------------------------------------------------------------------


class FakeReceiver(FakeServer):
    signing_secret = "whsec-test-0f9e8d"

    @property
    def base_url(self) -> str:
        return self.url + "/hooks/resolutionflow"

    def credentials(self) -> dict[str, str]:
        return {"signing_secret": self.signing_secret}

    def route(self, seen: Seen) -> tuple[int, Any]:
        _require(seen.method == "POST", "POST only")
        return 200, {"ok": True}
