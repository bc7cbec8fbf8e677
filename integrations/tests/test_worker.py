"""The real worker process: killed mid-delivery and restarted, the note lands exactly once.

Runs `manage.py run_worker` (django-tasks-db's db_worker plus lease recovery)
as a subprocess against the test database, so it needs PostgreSQL (an
SQLite test database lives in this process's memory).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.conf import settings

from integrations.models import Delivery, Kind
from integrations.tests.conftest import connection_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the worker subprocess needs a shared database (PostgreSQL)")
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "localhost", safe="")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(*args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "INTEGRATIONS_LEASE_SECONDS": "1",
        "INTEGRATIONS_TIMEOUT_SECONDS": "20",
        "CONN_MAX_AGE": "0",
    }
    command = [sys.executable, "manage.py", "run_worker", "--no-reload", "--no-startup-delay"]
    return subprocess.Popen(
        [*command, "--interval", "0.1", *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_killed_mid_delivery_and_restarted_delivers_the_note_once(
    alice, cw_server, complete
):
    connection_for(cw_server, Kind.CONNECTWISE)
    # The PSA stores the note, then never answers: the worker dies waiting.
    cw_server.fail("hang", method="POST", path="/notes")
    session = complete(alice, member="asmith")
    (delivery,) = session.deliveries.all()

    first = start_worker()
    try:
        wait_for(lambda: len(cw_server.notes) == 1)
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SENDING and delivery.progress == {}
    finally:
        first.kill()
        first.wait()

    time.sleep(1.1)  # the dead worker's lease runs out
    second = start_worker("--batch")
    output = second.communicate(timeout=60)[0].decode()
    assert second.returncode == 0, output

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED, (delivery.error, output)
    assert delivery.attempts == 2
    assert len(cw_server.notes) == 1, "the note was posted twice"
    assert len(cw_server.seen("POST", "/notes")) == 1
    assert len(cw_server.time_entries) == 1
    assert delivery.progress["note_id"] == cw_server.notes[0]["id"]
    assert "Handed 1 interrupted deliveries back to the queue." in output
