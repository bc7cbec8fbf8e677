"""One small client per PSA (and one for webhooks) behind one interface (SPEC §10).

Each follows its vendor's public REST documentation; the exact endpoints,
headers and payloads, with their sources, are in docs/INTEGRATIONS.md.

- `test()` calls a harmless read endpoint and says what answered.
- `lookup(ticket_ref)` finds a ticket's summary and company for the Start form.
- `deliver(delivery, save_progress)` posts the note and the time entry.
  Every part done is handed to `save_progress` at once, so a retry skips it;
  before posting a note again (any attempt after the first) the client looks
  for the note's reference line on the ticket, so a worker killed between the
  POST and the bookkeeping never posts the note twice.

Every call has a timeout. Failures become `DeliveryError`, which says whether
retrying can help: timeouts, refused connections, 429 and 5xx can; 401, 403,
404 and 422 cannot. Credentials never appear in a message, a summary or a log
line: the summaries name the method and path only.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
from django.conf import settings

from integrations.models import Connection, Delivery, Kind

EXCERPT_CHARS = 500
USER_AGENT = "ResolutionFlow/1 (+ticket loop)"
_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process (building one loads the CA bundle: ~30 ms)."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context(cafile=certifi.where())
    return _tls


def http_client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=tls_context(), follow_redirects=False)


class DeliveryError(Exception):
    """A call failed; `retryable` says whether trying again later can help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
        excerpt: str = "",
        request: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.excerpt = excerpt
        self.request = request


class TicketNotFound(DeliveryError):
    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("status_code", 404)
        super().__init__(message, retryable=False, **kwargs)


@dataclass(frozen=True)
class Ticket:
    ref: str
    summary: str
    company: str


@dataclass(frozen=True)
class Sent:
    """What the last call of a successful delivery answered, and what was done."""

    status_code: int
    request: str
    excerpt: str
    detail: str


SaveProgress = Callable[[dict[str, Any]], None]


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def cw_time(value: datetime) -> str:
    """ConnectWise's date format, yyyy-MM-ddTHH:mm:ssZ (no fractions), in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PsaClient(abc.ABC):
    """The interface every client implements, with the shared HTTP handling."""

    label = "PSA"

    def __init__(self, connection: Connection, *, timeout: float | None = None) -> None:
        self.connection = connection
        self.credentials = connection.credentials
        self.timeout = settings.INTEGRATIONS_TIMEOUT_SECONDS if timeout is None else timeout
        self.last: tuple[int, str, str] = (0, "", "")
        # One connection pool for the calls of one delivery (kept alive between them).
        self.http = http_client(self.timeout)

    def close(self) -> None:
        self.http.close()

    # --- the interface -------------------------------------------------------------

    @abc.abstractmethod
    def test(self) -> str:
        """Call a harmless read endpoint; what it found, for the admin's message."""

    def lookup(self, ticket_ref: str) -> Ticket:
        raise DeliveryError(f"{self.label} has no ticket lookup.", retryable=False)

    @abc.abstractmethod
    def deliver(self, delivery: Delivery, save_progress: SaveProgress) -> Sent:
        """Send `delivery`, saving each part done through `save_progress`."""

    # --- HTTP ----------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        return {}

    def call(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        expect_json: bool = True,
    ) -> Any:
        """One request; the decoded JSON answer, or a DeliveryError that classifies the failure."""
        summary = f"{method} {urlsplit(url).path}"
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        all_headers.update(self.headers() if headers is None else headers)
        try:
            response = self.http.request(
                method, url, json=json_body, params=params, data=data, headers=all_headers
            )
        except httpx.TimeoutException:
            raise DeliveryError(
                f"{self.label} did not answer within {self.timeout:g} s.",
                retryable=True,
                request=summary,
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Could not reach {self.label}: {type(exc).__name__}.",
                retryable=True,
                request=summary,
            ) from None
        excerpt = response.text[:EXCERPT_CHARS]
        self.last = (response.status_code, summary, excerpt)
        status = response.status_code
        if status == 429:
            raise DeliveryError(
                f"{self.label} is rate limiting (429).",
                retryable=True,
                status_code=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                excerpt=excerpt,
                request=summary,
            )
        if status >= 500:
            raise DeliveryError(
                f"{self.label} failed with {status}.",
                retryable=True,
                status_code=status,
                excerpt=excerpt,
                request=summary,
            )
        if status == 404:
            raise TicketNotFound(
                f"{self.label} answered 404: not found.", excerpt=excerpt, request=summary
            )
        if status in (401, 403):
            raise DeliveryError(
                f"{self.label} refused the credentials ({status}).",
                retryable=False,
                status_code=status,
                excerpt=excerpt,
                request=summary,
            )
        if status >= 300:
            raise DeliveryError(
                f"{self.label} rejected the request ({status}).",
                retryable=False,
                status_code=status,
                excerpt=excerpt,
                request=summary,
            )
        if not expect_json:
            return None
        try:
            return response.json()
        except ValueError:
            # A 2xx we cannot read: the write may have happened, so a retry
            # (which looks for the note's reference first) is safe and useful.
            raise DeliveryError(
                f"{self.label} answered {status} with a body that is not JSON.",
                retryable=True,
                status_code=status,
                excerpt=excerpt,
                request=summary,
            ) from None

    @staticmethod
    def once(
        delivery: Delivery,
        progress: dict[str, Any],
        key: str,
        *,
        find: Callable[[], Any],
        create: Callable[[], Any],
        save_progress: SaveProgress,
    ) -> Any:
        """One part of a delivery (a note, a time entry), done at most once.

        Done already (`key` in `progress`): nothing to do. On a retry, `find` looks
        for it on the ticket first (an attempt may have created it and died before
        saving its id); else `create` makes it. Its id is saved at once.
        """
        if key not in progress:
            found = find() if delivery.attempts > 1 else None
            progress[key] = create() if found is None else found
            save_progress(progress)
        return progress[key]

    def new_id(self, data: Any, key: str, what: str) -> Any:
        """The id the PSA gave what was just created; an answer without one is garbage."""
        found = self.field(data, key, default=None)
        if found is None:
            raise self.garbage(what)
        return found

    def sent(self, detail: str) -> Sent:
        status, request, excerpt = self.last
        return Sent(status_code=status, request=request, excerpt=excerpt, detail=detail)

    @staticmethod
    def field(data: Any, *path: str, default: Any = "") -> Any:
        """`data[path…]`, or `default` when the answer does not have that shape."""
        for key in path:
            if not isinstance(data, dict) or key not in data:
                return default
            data = data[key]
        return data

    def garbage(self, what: str) -> DeliveryError:
        status, request, excerpt = self.last
        return DeliveryError(
            f"{self.label} answered without {what}.",
            retryable=True,
            status_code=status,
            excerpt=excerpt,
            request=request,
        )

    def numeric_ticket(self, ticket_ref: str) -> str:
        ref = ticket_ref.strip().lstrip("#")
        if not ref.isdigit():
            raise TicketNotFound(f"{self.label} ticket numbers are numbers; “{ticket_ref}” is not.")
        return ref


# --- ConnectWise PSA -----------------------------------------------------------------


class ConnectWiseClient(PsaClient):
    label = "ConnectWise"
    accept = "application/vnd.connectwise.com+json; version=2025.1"

    def headers(self) -> dict[str, str]:
        c = self.credentials
        pair = f"{c.get('company_id', '')}+{c.get('public_key', '')}:{c.get('private_key', '')}"
        return {
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
            "clientId": c.get("client_id", ""),
            "Accept": self.accept,
        }

    def url(self, path: str) -> str:
        return self.connection.base_url.rstrip("/") + path

    def test(self) -> str:
        info = self.call("GET", self.url("/system/info"))
        version = self.field(info, "version") or "unknown version"
        return f"Connected to ConnectWise PSA ({version})."

    def lookup(self, ticket_ref: str) -> Ticket:
        ref = self.numeric_ticket(ticket_ref)
        try:
            data = self.call("GET", self.url(f"/service/tickets/{ref}"))
        except TicketNotFound:
            raise TicketNotFound(f"There is no ticket {ref} in ConnectWise.") from None
        if not isinstance(data, dict) or "id" not in data:
            raise self.garbage("a ticket")
        return Ticket(ref, str(data.get("summary") or ""), str(self.field(data, "company", "name")))

    def deliver(self, delivery: Delivery, save_progress: SaveProgress) -> Sent:
        p = delivery.payload
        ticket = self.numeric_ticket(p["ticket_ref"])
        progress = dict(delivery.progress)
        reference = delivery.reference

        def find_note():
            notes = self.call(
                "GET",
                self.url(f"/service/tickets/{ticket}/notes"),
                params={"conditions": f'text like "%{reference}%"', "pageSize": "25"},
            )
            return first_id(notes)

        def post_note():
            note = self.call(
                "POST",
                self.url(f"/service/tickets/{ticket}/notes"),
                json_body={
                    "text": p["note"],
                    "detailDescriptionFlag": False,
                    "internalAnalysisFlag": not p["resolution"],
                    "resolutionFlag": bool(p["resolution"]),
                },
            )
            return self.new_id(note, "id", "the new note's id")

        note_id = self.once(
            delivery,
            progress,
            "note_id",
            find=find_note,
            create=post_note,
            save_progress=save_progress,
        )
        done = [f"note {note_id}"]

        def find_entry():
            entries = self.call(
                "GET",
                self.url("/time/entries"),
                params={"conditions": f'chargeToId={ticket} and notes like "%{reference}%"'},
            )
            return first_id(entries)

        def post_entry():
            ended = datetime.fromisoformat(p["ended_at"])
            started = datetime.fromisoformat(p["work_started_at"])
            member = str(p["member_id"])
            who = {"id": int(member)} if member.isdigit() else {"identifier": member}
            entry = self.call(
                "POST",
                self.url("/time/entries"),
                json_body={
                    "chargeToId": int(ticket),
                    "chargeToType": "ServiceTicket",
                    "member": who,
                    "timeStart": cw_time(started),
                    "timeEnd": cw_time(ended),
                    "notes": f"{p['title']}\n{reference}",
                    "addToDetailDescriptionFlag": False,
                    "addToInternalAnalysisFlag": False,
                    "addToResolutionFlag": False,
                },
            )
            return self.new_id(entry, "id", "the new time entry's id")

        if p.get("seconds") and p.get("member_id"):
            entry_id = self.once(
                delivery,
                progress,
                "time_entry_id",
                find=find_entry,
                create=post_entry,
                save_progress=save_progress,
            )
            done.append(f"time entry {entry_id}")
        elif "time_entry_id" in progress:
            done.append(f"time entry {progress['time_entry_id']}")
        return self.sent(", ".join(done))


# --- Autotask ------------------------------------------------------------------------


class AutotaskClient(PsaClient):
    label = "Autotask"

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._root: str | None = None

    def headers(self) -> dict[str, str]:
        c = self.credentials
        return {
            "ApiIntegrationCode": c.get("integration_code", ""),
            "UserName": c.get("username", ""),
            "Secret": c.get("secret", ""),
        }

    def root(self) -> str:
        """The zone's REST root, from the zone lookup (which needs no credentials)."""
        if self._root is None:
            base = self.connection.base_url.rstrip("/")
            zone = self.call(
                "GET",
                f"{base}/v1.0/zoneInformation",
                params={"user": self.credentials.get("username", "")},
                headers={},
            )
            url = self.field(zone, "url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise self.garbage("a zone URL")
            self._root = url.rstrip("/") + "/v1.0"
        return self._root

    @staticmethod
    def search(*filters: dict[str, Any]) -> dict[str, str]:
        return {"search": json.dumps({"filter": list(filters)})}

    def test(self) -> str:
        root = self.root()
        self.call("GET", f"{root}/Tickets/entityInformation")
        return f"Connected to Autotask ({urlsplit(root).hostname})."

    def ticket(self, ticket_ref: str) -> dict[str, Any]:
        ref = ticket_ref.strip()
        field = "id" if ref.isdigit() else "ticketNumber"
        data = self.call(
            "GET",
            f"{self.root()}/Tickets/query",
            params=self.search({"op": "eq", "field": field, "value": ref}),
        )
        items = self.field(data, "items", default=None)
        if not isinstance(items, list):
            raise self.garbage("a list of tickets")
        if not items or not isinstance(items[0], dict) or "id" not in items[0]:
            raise TicketNotFound(f"There is no ticket {ref} in Autotask.")
        return items[0]

    def lookup(self, ticket_ref: str) -> Ticket:
        item = self.ticket(ticket_ref)
        company = ""
        if item.get("companyID"):
            data = self.call("GET", f"{self.root()}/Companies/{int(item['companyID'])}")
            company = str(self.field(data, "item", "companyName"))
        return Ticket(
            str(item.get("ticketNumber") or ticket_ref), str(item.get("title") or ""), company
        )

    def deliver(self, delivery: Delivery, save_progress: SaveProgress) -> Sent:
        p = delivery.payload
        progress = dict(delivery.progress)
        reference = delivery.reference
        root = self.root()
        if "ticket_id" not in progress:
            progress["ticket_id"] = int(self.ticket(p["ticket_ref"])["id"])
            save_progress(progress)
        ticket = progress["ticket_id"]

        def find(entity: str, field: str):
            data = self.call(
                "GET",
                f"{root}/{entity}/query",
                params=self.search(
                    {"op": "eq", "field": "ticketID", "value": ticket},
                    {"op": "contains", "field": field, "value": reference},
                ),
            )
            items = self.field(data, "items", default=[])
            return items[0].get("id") if items and isinstance(items[0], dict) else None

        def post_note():
            data = self.call(
                "POST",
                f"{root}/Tickets/{ticket}/Notes",
                json_body={
                    "ticketID": ticket,
                    "title": p["title"][:250],
                    "description": p["note"],
                    # noteType 1: Task Detail; publish 1: All Autotask Users.
                    "noteType": 1,
                    "publish": 1,
                },
            )
            return self.new_id(data, "itemId", "the new note's itemId")

        note_id = self.once(
            delivery,
            progress,
            "note_id",
            find=lambda: find("TicketNotes", "description"),
            create=post_note,
            save_progress=save_progress,
        )
        done = [f"note {note_id}"]
        member = str(p.get("member_id") or "")

        def post_entry():
            started = datetime.fromisoformat(p["work_started_at"]).astimezone(UTC)
            ended = datetime.fromisoformat(p["ended_at"]).astimezone(UTC)
            body = {
                "ticketID": ticket,
                "resourceID": int(member),
                "dateWorked": started.strftime("%Y-%m-%dT00:00:00Z"),
                "startDateTime": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "hoursWorked": round(p["seconds"] / 3600, 2),
                "summaryNotes": f"{p['title']}\n{reference}",
            }
            role = str(self.credentials.get("role_id", "")).strip()
            if role.isdigit():
                body["roleID"] = int(role)
            data = self.call("POST", f"{root}/TimeEntries", json_body=body)
            return self.new_id(data, "itemId", "the new time entry's itemId")

        if p.get("seconds") and member.isdigit():
            entry_id = self.once(
                delivery,
                progress,
                "time_entry_id",
                find=lambda: find("TimeEntries", "summaryNotes"),
                create=post_entry,
                save_progress=save_progress,
            )
            done.append(f"time entry {entry_id}")
        elif "time_entry_id" in progress:
            done.append(f"time entry {progress['time_entry_id']}")
        return self.sent(", ".join(done))


# --- HaloPSA -------------------------------------------------------------------------


class HaloClient(PsaClient):
    label = "HaloPSA"

    def __init__(self, connection: Connection, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._token: str | None = None

    def base(self) -> str:
        return self.connection.base_url.rstrip("/")

    def token(self) -> str:
        """OAuth2 client credentials: POST {base}/auth/token (form-encoded)."""
        if self._token is None:
            c = self.credentials
            params = {"tenant": c["tenant"]} if c.get("tenant") else None
            data = self.call(
                "POST",
                f"{self.base()}/auth/token",
                params=params,
                data={
                    "grant_type": "client_credentials",
                    "client_id": c.get("client_id", ""),
                    "client_secret": c.get("client_secret", ""),
                    "scope": "all",
                },
                headers={},
            )
            token = self.field(data, "access_token", default=None)
            if not isinstance(token, str) or not token:
                raise self.garbage("an access token")
            self._token = token
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def test(self) -> str:
        me = self.call("GET", f"{self.base()}/api/Agent/me")
        return f"Connected to HaloPSA as {self.field(me, 'name') or 'the API application'}."

    def lookup(self, ticket_ref: str) -> Ticket:
        ref = self.numeric_ticket(ticket_ref)
        try:
            data = self.call("GET", f"{self.base()}/api/Tickets/{ref}")
        except TicketNotFound:
            raise TicketNotFound(f"There is no ticket {ref} in HaloPSA.") from None
        if not isinstance(data, dict) or "id" not in data:
            raise self.garbage("a ticket")
        return Ticket(ref, str(data.get("summary") or ""), str(data.get("client_name") or ""))

    def deliver(self, delivery: Delivery, save_progress: SaveProgress) -> Sent:
        p = delivery.payload
        ticket = self.numeric_ticket(p["ticket_ref"])
        progress = dict(delivery.progress)

        def find_action():
            data = self.call(
                "GET",
                f"{self.base()}/api/Actions",
                params={"ticket_id": ticket, "count": "100"},
            )
            actions = self.field(data, "actions", default=[])
            return next(
                (
                    a.get("id")
                    for a in actions
                    if isinstance(a, dict) and delivery.reference in str(a.get("note", ""))
                ),
                None,
            )

        def post_action():
            action: dict[str, Any] = {
                "ticket_id": int(ticket),
                "outcome": "Resolved" if p["resolution"] else "Private Note",
                "note": p["note"],
                "hiddenfromuser": not p["resolution"],
                "timetaken": round((p.get("seconds") or 0) / 3600, 4),
            }
            member = str(p.get("member_id") or "")
            if member.isdigit():
                action["who_agentid"] = int(member)
            data = self.call("POST", f"{self.base()}/api/Actions", json_body=[action])
            first = data[0] if isinstance(data, list) and data else data
            return self.new_id(first, "id", "the new action's id")

        action_id = self.once(
            delivery,
            progress,
            "action_id",
            find=find_action,
            create=post_action,
            save_progress=save_progress,
        )
        return self.sent(f"action {action_id} with the note and time taken")


def first_id(items: Any) -> Any:
    """The `id` of the first record in a search's answer (a list), else None."""
    if not isinstance(items, list):
        return None
    return next((i.get("id") for i in items if isinstance(i, dict)), None)


# --- webhooks ------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (SPEC §10)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class WebhookClient(PsaClient):
    label = "The webhook"

    def post(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-ResolutionFlow-Event": str(event.get("type", "")),
            "X-ResolutionFlow-Signature": signature(
                self.credentials.get("signing_secret", ""), stamp, body
            ),
            "Idempotency-Key": str(event.get("id", "")),
        }
        url = self.connection.base_url
        summary = f"POST {urlsplit(url).path or '/'}"
        try:
            response = self.http.post(
                url, content=body, headers={"User-Agent": USER_AGENT, **headers}
            )
        except httpx.TimeoutException:
            raise DeliveryError(
                f"The webhook did not answer within {self.timeout:g} s.",
                retryable=True,
                request=summary,
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Could not reach the webhook: {type(exc).__name__}.",
                retryable=True,
                request=summary,
            ) from None
        status = response.status_code
        excerpt = response.text[:EXCERPT_CHARS]
        self.last = (status, summary, excerpt)
        if 200 <= status < 300:
            return
        raise DeliveryError(
            f"The webhook answered {status}.",
            retryable=status == 429 or status >= 500 or status == 408,
            status_code=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            excerpt=excerpt,
            request=summary,
        )

    def test(self) -> str:
        self.post(
            {
                "format": "resolutionflow/event@1",
                "type": "ping",
                "id": "ping",
                "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "data": {},
            }
        )
        return f"The webhook answered {self.last[0]} to a signed ping."

    def deliver(self, delivery: Delivery, save_progress: SaveProgress) -> Sent:
        self.post(delivery.payload)
        return self.sent(f"event {delivery.payload.get('type', '')}")


CLIENTS: dict[str, type[PsaClient]] = {
    Kind.CONNECTWISE: ConnectWiseClient,
    Kind.AUTOTASK: AutotaskClient,
    Kind.HALOPSA: HaloClient,
    Kind.WEBHOOK: WebhookClient,
}


def client_for(connection: Connection, *, timeout: float | None = None) -> PsaClient:
    return CLIENTS[connection.kind](connection, timeout=timeout)
