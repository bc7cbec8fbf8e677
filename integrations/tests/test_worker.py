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


def running_in_group(pgid: int) -> list[str]:
    """The processes of a group that still run (zombies awaiting their reaper excluded)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True)
    return [line for line in out.stdout.decode().splitlines() if "Z" not in line.split()[1]]


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


def test_make_runs_server_and_worker_together_and_one_ctrl_c_stops_both(tmp_path):
    """`make run`'s last step, bin/dev: both processes up, one SIGINT, both gone."""
    import signal
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "dev.log").open("w")
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
    dev = subprocess.Popen(
        [sys.executable, "bin/dev", str(port)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def serving() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(serving)
        wait_for(lambda: "Starting worker" in (tmp_path / "dev.log").read_text())
        children = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(dev.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(children) == 2  # runserver and run_worker
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=8) == 0
        for child in children:  # each child's whole process group, reloaders included
            assert not running_in_group(child)
    finally:
        if dev.poll() is None:
            dev.kill()
        log.close()
