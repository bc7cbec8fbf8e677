"""Races through the real views on PostgreSQL: the HTTP layer keeps the services' promise.

`test_concurrency.py` races the services directly; here the same races go
through the views people use (history popover, navigation dialog, admin
change form, answer buttons), each thread with its own client and its own
database connection, released at the same instant by a barrier.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from html import unescape

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from resolutionflow.tests.factories import UserFactory
from resolutionflow.tests.matrix import print_count
from sessions import services
from sessions.models import ClosedFrom, Decision, Outcome, Session, SessionChange
from sessions.tests.factories import build_version

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/sessions/"}
_COUNT = {"requests": 0}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are a PostgreSQL behaviour; SQLite serialises writers anyway")


@pytest.fixture
def people():
    with override_settings(PASSWORD_HASHERS=FAST_HASHER):
        return {
            "alice": UserFactory(username="alice", groups=["Engineers"]),
            "charlie": UserFactory(username="charlie", groups=["Managers"]),
            "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
        }


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def race(requests: list) -> list:
    """Send every request (a no-argument callable) at the same instant; their responses."""
    barrier = threading.Barrier(len(requests))
    responses: list = [None] * len(requests)

    def run(index: int) -> None:
        try:
            barrier.wait()
            responses[index] = requests[index]()
        except Exception as exc:  # a crash is a result the test must show
            responses[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    _COUNT["requests"] += len(requests)
    return responses


def _admin_change_form(client: Client, session: Session, outcome: str) -> dict:
    """The session's admin change form as the browser would post it, outcome chosen."""
    url = reverse("admin:flow_sessions_session_change", args=[session.pk])
    html = client.get(url).content.decode()
    form = html.split('id="session_form"', 1)[1].split("</form>", 1)[0]
    data = {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }
    data.update(
        outcome=str(Outcome.objects.get(code=outcome).pk),
        outcome_notes="Closed from the admin.",
        _save="Save",
    )
    return data


def test_twenty_closers_through_history_navigation_and_admin_complete_once(people):
    version = build_version()
    session = services.session_create(tree=version.tree, engineer=people["alice"])
    urls = {
        "history": reverse("sessions:close", args=[session.pk]),
        "navigation": reverse("sessions:complete", args=[session.pk]),
    }
    admin_url = reverse("admin:flow_sessions_session_change", args=[session.pk])
    admin_client = _client(people["admin"])
    admin_form = _admin_change_form(admin_client, session, "workaround")
    codes = ["resolved", "escalated", "cancelled", "resolved_externally"]

    def closer(i: int):
        """Engineer and manager closers, from history (plain and htmx) and navigation."""
        client = _client(people["alice"] if i % 2 else people["charlie"])
        source = "history" if i < 10 else "navigation"
        body = {"outcome": codes[i % len(codes)], "outcome_notes": f"closer {i}"}
        if source == "history":
            body["next"] = reverse("sessions:history")
        headers = HTMX if i % 3 == 0 else {}
        return lambda: ("app", source, client.post(urls[source], body, headers=headers))

    requests = [closer(i) for i in range(19)]
    requests.append(lambda: ("admin", "admin", admin_client.post(admin_url, admin_form)))

    results = race(requests)

    crashes = [r for r in results if isinstance(r, Exception) or r is None]
    assert not crashes, crashes
    session.refresh_from_db()
    winners, refused, statuses = [], [], Counter()
    for kind, source, response in results:
        statuses[kind, source, response.status_code] += 1
        assert response.status_code < 500, response.content[:500]
        if kind == "admin":
            assert response.status_code == 302
            won = response.url == reverse("admin:flow_sessions_session_changelist")
            (winners if won else refused).append(source)
            if not won:  # it says why, on the change page it returns to
                page = admin_client.get(response.url).content.decode()
                assert "Nothing was changed: This session was already completed" in page
        elif response.status_code == 409:
            refused.append(source)
            # A plain post shows the reason on the page; htmx gets it as a toast.
            said = response.content.decode() + response.get("HX-Trigger", "")
            assert "Already closed by" in said
        else:
            assert response.status_code in {200, 303}, statuses
            winners.append(source)

    assert len(winners) == 1, statuses
    assert len(refused) == 19, statuses
    assert session.completed_at is not None
    assert session.closed_from == ClosedFrom(winners[0])
    audit = SessionChange.objects.filter(session=session, field="outcome")
    assert audit.count() == 1
    assert audit.get().source == winners[0]
    assert audit.get().new_value == session.outcome.code
    assert not Decision.objects.filter(session=session, exited_at__isnull=True).exists()
    last = session.decisions.order_by("-seq").first()
    assert last.exit == Decision.Exit.SESSION_CLOSED
    assert last.exited_at == session.completed_at


def test_answers_racing_closes_leave_a_consistent_session(people):
    """Ten answer clicks (stale and fresh, two tabs) against ten closes, five times over."""
    version = build_version()
    alice, charlie = _client(people["alice"]), _client(people["charlie"])
    for round_ in range(5):
        session = services.session_create(tree=version.tree, engineer=people["alice"])
        step = session.decisions.get()
        yes = step.node.choices.get(label="Yes").pk
        answer_url = reverse("sessions:answer", args=[session.pk])
        complete_url = reverse("sessions:complete", args=[session.pk])

        def answer(client=alice, url=answer_url, step=step.pk, choice=yes, htmx=False):
            body = {"decision": step, "choice": choice, "notes": "tab"}
            return lambda: ("answer", client.post(url, body, headers=HTMX if htmx else {}))

        def close(client, url=complete_url, source="navigation"):
            body = {"outcome": "resolved", "source": source}
            return lambda: ("close", client.post(url, body))

        requests = [answer(htmx=i % 2 == 0) for i in range(10)]
        requests += [
            close(alice if i % 2 else charlie, source=("history", "navigation")[i % 2])
            for i in range(10)
        ]

        results = race(requests)

        assert not [r for r in results if isinstance(r, Exception) or r is None], results
        statuses = Counter((kind, response.status_code) for kind, response in results)
        assert all(code < 500 for _, code in statuses), statuses
        closes_ok = sum(n for (kind, code), n in statuses.items() if kind == "close" and code < 400)
        answers_ok = sum(
            n for (kind, code), n in statuses.items() if kind == "answer" and code < 400
        )
        assert closes_ok == 1, (round_, statuses)
        assert answers_ok <= 1, (round_, statuses)
        session.refresh_from_db()
        assert session.completed_at is not None
        assert SessionChange.objects.filter(session=session, field="outcome").count() == 1
        decisions = list(session.decisions.order_by("seq"))
        assert not [d for d in decisions if d.exited_at is None], "an open step after completion"
        assert decisions[-1].exit == Decision.Exit.SESSION_CLOSED
        assert decisions[-1].exited_at == session.completed_at
        assert len(decisions) == 1 + answers_ok
        assert [d.seq for d in decisions] == list(range(1, len(decisions) + 1))
        for earlier, later in zip(decisions, decisions[1:], strict=False):
            assert earlier.exited_at == later.entered_at  # consecutive steps touch
        assert session.step_count == len(decisions)


@pytest.fixture(scope="module", autouse=True)
def _print_the_count(request):
    yield
    if _COUNT["requests"]:
        print_count(
            request.config,
            f"concurrency over HTTP: {_COUNT['requests']} concurrent requests, one winner per race",
        )
