"""The REST API (SPEC §11): every endpoint, who may use it, filters, pagination, errors,
tokens and the rate limit. Requests carry a personal access token, as integrations do."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from openapi_spec_validator import validate

from api.api import api
from api.models import ApiToken
from api.services import token_create, token_digest, token_revoke
from reports import metrics
from sessions import services
from sessions.exports import export_data, json_document
from sessions.models import Outcome, Session
from sessions.services import session_hand_off
from sessions.tests.factories import build_version

pytestmark = pytest.mark.django_db

SNAPSHOT = Path(__file__).parent / "openapi.json"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def version(db):
    return build_version()


def api_client(user, **token_options) -> Client:
    secret = token_create(user=user, name="test", **token_options).secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def start(version, engineer, **fields) -> Session:
    return services.session_create(tree=version.tree, engineer=engineer, **fields)


def post_json(client: Client, url: str, body) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


# --- trees ----------------------------------------------------------------------------


def test_it_lists_published_trees_and_shows_one_with_its_version(alice, version):
    client = api_client(alice)
    archived = build_version({**_spec(), "slug": "old", "name": "Old tree"})
    archived.tree.is_archived = True
    archived.tree.save()

    listing = client.get(reverse("api:trees")).json()
    assert [t["slug"] for t in listing["items"]] == ["vpn"]
    assert listing["items"][0]["version"] == 1

    one = client.get(reverse("api:tree", args=["vpn"]))
    assert one.status_code == 200
    document = one.json()["document"]
    assert document["format"] == "resolutionflow/tree@1"
    assert document["start"] == "client-installed"
    assert client.get(reverse("api:tree", args=["old"])).status_code == 404
    missing = client.get(reverse("api:tree", args=["nope"]))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No published tree with that slug."}


def _spec():
    from sessions.tests.factories import VPN_TREE

    return VPN_TREE


# --- sessions -------------------------------------------------------------------------


def test_it_lists_only_ones_own_sessions_for_an_engineer_and_all_for_a_manager(
    alice, bob, charlie, version
):
    mine = start(version, alice, ticket_ref="T-1")
    start(version, bob, ticket_ref="T-2")
    alice_ids = [s["id"] for s in api_client(alice).get(reverse("api:sessions")).json()["items"]]
    assert alice_ids == [str(mine.pk)]
    manager = api_client(charlie).get(reverse("api:sessions")).json()["items"]
    assert {s["ticket_ref"] for s in manager} == {"T-1", "T-2"}


def test_it_filters_sessions_like_the_history(alice, charlie, clock, version):
    active = start(version, alice, ticket_ref="T-10", client="Acme")
    clock.advance(1)
    done = start(version, alice, ticket_ref="T-11", client="Globex")
    services.session_complete(session=done, outcome=Outcome.objects.get(code="resolved"), by=alice)
    client = api_client(alice)

    def ids(**query):
        response = client.get(reverse("api:sessions"), query)
        assert response.status_code == 200, response.content
        return [s["id"] for s in response.json()["items"]]

    assert ids(status="active") == [str(active.pk)]
    assert ids(outcome="resolved") == [str(done.pk)]
    assert ids(q="globex") == [str(done.pk)]
    assert ids(tree="vpn", **{"from": "2026-02-10", "to": "2026-02-10"}) == [
        str(done.pk),
        str(active.pk),
    ]
    assert ids(**{"from": "2026-02-11"}) == []

    bad = client.get(reverse("api:sessions"), {"status": "lost", "from": "10/02/2026"})
    assert bad.status_code == 400
    assert "Status “lost” was ignored" in bad.json()["detail"]
    assert "YYYY-MM-DD" in bad.json()["detail"]
    # Engineers have no engineer filter; managers do.
    assert client.get(reverse("api:sessions"), {"engineer": "alice"}).status_code == 400
    by_engineer = api_client(charlie).get(reverse("api:sessions"), {"engineer": "alice"})
    assert len(by_engineer.json()["items"]) == 2


def test_it_pages_sessions_with_a_cursor(alice, clock, version):
    made = []
    for n in range(5):
        made.append(start(version, alice, ticket_ref=f"T-{n}"))
        if n != 2:  # two sessions with the same created_at: the id breaks the tie
            clock.advance(1)
    client = api_client(alice)
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(reverse("api:sessions"), query).json()
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    expected = sorted(made, key=lambda s: (s.created_at, s.pk), reverse=True)
    assert seen == [str(s.pk) for s in expected]

    bad = client.get(reverse("api:sessions"), {"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert "cursor" in bad.json()["detail"]
    too_many = client.get(reverse("api:sessions"), {"limit": 101})
    assert too_many.status_code == 422
    assert isinstance(too_many.json()["detail"], list)


def test_it_gives_one_session_as_the_export_document(alice, bob, charlie, version):
    session = start(version, alice, ticket_ref="T-1042")
    url = reverse("api:session", args=[session.pk])
    response = api_client(alice).get(url)
    assert response.status_code == 200
    expected = json_document(export_data(Session.objects.get(pk=session.pk)))
    assert response.json() == expected
    assert api_client(charlie).get(url).status_code == 200
    hidden = api_client(bob).get(url)
    assert hidden.status_code == 404
    assert "T-1042" not in hidden.content.decode()
    assert api_client(alice).get(url, {"detail": "everything"}).status_code == 400
    assert api_client(alice).get(reverse("api:session", args=[uuid.uuid4()])).status_code == 404


def test_it_starts_a_session_through_the_service(alice, version):
    client = api_client(alice)
    session_id = str(uuid.uuid4())
    body = {"tree": "vpn", "ticket_ref": "  T-7  ", "client": "Acme", "session_id": session_id}
    response = post_json(client, reverse("api:sessions"), body)
    assert response.status_code == 201
    document = response.json()
    assert document["id"] == session_id
    assert document["status"] == "active"
    assert document["ticket_ref"] == "T-7"  # stripped, as the Start form does
    assert [step["node_key"] for step in document["steps"]] == ["client-installed"]
    session = Session.objects.get(pk=session_id)
    assert session.engineer == alice and session.started_at is not None

    again = post_json(client, reverse("api:sessions"), body)
    assert again.status_code == 200
    assert Session.objects.count() == 1
    assert session.decisions.count() == 1

    services.session_complete(
        session=session, outcome=Outcome.objects.get(code="resolved"), by=alice
    )
    completed = post_json(client, reverse("api:sessions"), body)
    assert completed.status_code == 409


def test_it_refuses_a_bad_start_and_changes_nothing(alice, bob, version):
    client = api_client(alice)
    url = reverse("api:sessions")
    draft = build_version({**_spec(), "slug": "draft", "name": "Draft"}, status="draft")
    bobs = start(version, bob)
    cases = [
        ({"tree": "nope"}, 404),
        ({"tree": draft.tree.slug}, 404),
        ({"tree": "vpn", "ticket_ref": "x" * 65}, 422),
        ({"tree": "vpn", "client": "nul\x00byte"}, 422),
        ({"tree": "v\x00pn"}, 404),
        ({"ticket_ref": "T-1"}, 422),
        ({"tree": "vpn", "session_id": str(bobs.pk)}, 409),
    ]
    for body, status in cases:
        response = post_json(client, url, body)
        assert response.status_code == status, (body, response.content)
        assert "detail" in response.json()
    for raw in (b"{not json", b"[]", b'"text"'):
        response = client.post(url, raw, content_type="application/json")
        assert 400 <= response.status_code < 500
        assert "detail" in response.json()
    assert Session.objects.count() == 1


# --- reports --------------------------------------------------------------------------


def test_it_gives_the_report_tables_to_managers_with_the_pages_figures(
    alice, charlie, clock, version
):
    session = start(version, alice)
    clock.advance(300)
    services.session_complete(
        session=session, outcome=Outcome.objects.get(code="resolved"), by=alice
    )
    client = api_client(charlie)
    query = {"from": "2026-02-01", "to": "2026-02-28"}
    report_filter = metrics.ReportFilter(date(2026, 2, 1), date(2026, 2, 28))

    summary = client.get(reverse("api:report-summary"), query).json()
    assert summary["filters"] == {
        "from": "2026-02-01",
        "to": "2026-02-28",
        "tree": None,
        "engineer": None,
    }
    expected = metrics.summary(report_filter)
    assert summary["row"]["sessions_completed"] == expected.sessions_completed == 1
    assert summary["row"]["median_duration_seconds"] == expected.median_duration_seconds == 300
    assert summary["row"]["resolution_rate"] == 1.0

    trees = client.get(reverse("api:report-trees"), query).json()["rows"]
    assert [(r["tree"], r["completed"]) for r in trees] == [("vpn", 1)]
    engineers = client.get(reverse("api:report-engineers"), query).json()["rows"]
    assert [(r["engineer"], r["sessions"]) for r in engineers] == [("alice", 1)]
    # Every column of the page's table, hand-offs and step time (SPEC §9) included.
    assert engineers == [dataclasses.asdict(row) for row in metrics.engineers(report_filter)]
    daily = client.get(reverse("api:report-daily"), query).json()["rows"]
    assert len(daily) == 28 and daily[9] == {
        "day": "2026-02-10",
        "sessions": 1,
        "success": 1,
        "partial": 0,
        "failure": 0,
        "neutral": 0,
        "active": 0,
    }
    outcomes = client.get(reverse("api:report-outcomes"), query).json()["rows"]
    assert [(r["outcome"], r["share"]) for r in outcomes if r["sessions"]] == [("resolved", 1.0)]
    nodes = client.get(reverse("api:report-nodes"), query | {"tree": "vpn"}).json()["rows"]
    assert nodes[0]["node_key"] == "client-installed" and nodes[0]["visits"] == 1

    assert client.get(reverse("api:report-nodes"), query).status_code == 400
    bad = client.get(reverse("api:report-summary"), {"from": "2026-13-01"})
    assert bad.status_code == 400 and "From" in bad.json()["detail"]
    refused = api_client(alice).get(reverse("api:report-summary"))
    assert refused.status_code == 403
    assert "managers" in refused.json()["detail"]


# --- tokens, errors, rate limit -------------------------------------------------------


def test_it_refuses_missing_wrong_expired_and_revoked_tokens_and_deactivated_users(
    alice, clock, version
):
    url = reverse("api:trees")
    anonymous = Client().get(url)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in anonymous.json()["detail"]
    assert Client(HTTP_AUTHORIZATION="Bearer rf_wrong").get(url).status_code == 401
    assert Client(HTTP_AUTHORIZATION="Basic YWxpY2U6eA==").get(url).status_code == 401

    new = token_create(user=alice, name="short", days=1)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {new.secret}")
    assert client.get(url).status_code == 200
    new.token.refresh_from_db()
    assert new.token.last_used_at == clock.now()
    clock.advance(days=1)
    assert client.get(url).status_code == 401  # expired

    revoked = token_create(user=alice, name="revoked")
    token_revoke(token=revoked.token)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {revoked.secret}").get(url).status_code == 401

    live = token_create(user=alice, name="live")
    live_client = Client(HTTP_AUTHORIZATION=f"Bearer {live.secret}")
    assert live_client.get(url).status_code == 200
    alice.is_active = False
    alice.save()
    assert live_client.get(url).status_code == 401


def test_it_stores_only_a_hash_of_the_token(alice):
    new = token_create(user=alice, name="PSA sync")
    stored = ApiToken.objects.get(pk=new.token.pk)
    assert stored.digest == token_digest(new.secret) != new.secret
    assert new.secret not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert new.secret.startswith(stored.prefix) and len(stored.prefix) == 11
    assert stored.expires_at - stored.created_at == timedelta(days=90)


def test_it_limits_the_rate_per_token(alice, settings, version):
    settings.API_RATE_LIMIT = 3
    client, other = api_client(alice), api_client(alice)
    statuses = [client.get(reverse("api:trees")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get(reverse("api:trees"))
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "Too many requests" in limited.json()["detail"]
    assert other.get(reverse("api:trees")).status_code == 200  # per token


def test_it_answers_every_error_in_json(alice, version):
    client = api_client(alice)
    for method, url, status in [
        ("delete", reverse("api:sessions"), 405),
        ("post", reverse("api:trees"), 405),
        ("post", reverse("api:openapi-json"), 405),
        ("get", "/api/v1/no/such/thing", 404),
        ("put", reverse("api:session", args=[uuid.uuid4()]), 405),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == status, url
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"]
    assert client.get(reverse("api:api-root")).json()["openapi"] == reverse("api:openapi-json")


# --- the schema -----------------------------------------------------------------------


def test_it_publishes_a_valid_openapi_schema_that_matches_the_snapshot(client):
    response = client.get(reverse("api:openapi-json"))
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert set(schema["paths"]) >= {
        "/api/v1/trees",
        "/api/v1/trees/{slug}",
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/reports/summary",
        "/api/v1/reports/nodes",
    }
    text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if not SNAPSHOT.exists() or __import__("os").environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), (
        "The API's schema changed: review it, then UPDATE_SNAPSHOTS=1 bin/test "
        "api/tests/test_api.py -k schema"
    )
    assert api.docs_url == "/docs"
    docs = client.get(reverse("api:openapi-view"))
    assert docs.status_code == 200
    # "Try it out" with the session cookie sends the CSRF token the API asks for.
    assert 'data-api-csrf="true"' in docs.content.decode()


def test_a_handed_off_session_reads_the_same_through_the_api_as_in_its_export(
    alice, bob, charlie, version, clock
):
    session = start(version, alice, ticket_ref="T-2001")
    clock.advance(60)
    session_hand_off(session=session, to=bob, by=alice, note="Over to you: the VPN profile")
    url = reverse("api:session", args=[session.pk])
    expected = json_document(export_data(Session.objects.get(pk=session.pk)))
    assert expected["handoffs"][0]["from"] == "alice"
    for reader in (bob, alice, charlie):  # the owner, who took a step, a manager
        response = api_client(reader).get(url)
        assert response.status_code == 200
        assert response.json() == expected
