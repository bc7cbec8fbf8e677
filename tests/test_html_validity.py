"""Every main page is valid HTML by the Nu HTML checker (vnu.jar), as each role that sees it.

The pages are fetched with the test client as an engineer, a manager, an admin
and a visitor, with what htmx loads into them (an answer's step, the close
popover's form, the export panel) as fragments in a minimal document. All of
them are written to files and checked in ONE run of the checker: its JVM takes
a few seconds to start, a page takes milliseconds. Errors fail; warnings (the
checker's advice) do not, nor do htmx's `hx-*` attributes, which HTML does not
know and the checker reports as errors.

The checker comes from the `vnu-jar` npm package, installed by `.ci/run` into
var/node (`npm install --prefix var/node vnu-jar`; VNU_JAR names another jar)
and runs on Java (`java` on the PATH). Without them the test is skipped with a
note, except under CI=true, where it fails, as the browser tests do without
Chromium.

A canary document with known errors goes into the same run and must be
reported: a broken run (no jar, no JSON, no files read) would otherwise pass
every page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from integrations.models import Delivery
from integrations.tests.factories import ConnectionFactory
from sessions import services
from sessions.models import Session
from sessions.tests.factories import build_version, outcome
from trees import services as tree_services

VNU_JAR = Path(settings.BASE_DIR) / "var" / "node" / "node_modules" / "vnu-jar" / "build" / "dist"
INSTALL_HINT = "npm install --prefix var/node vnu-jar"
SHELL = (
    '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
    "<title>{name}</title></head><body>{body}</body></html>"
)
INVALID = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bad</title></head>'
    '<body><a>no href</a><time datetime="2026-02-10T09:15:00.123456+00:00">then</time>'
    "<figure><figcaption>x</figcaption><div>y</div><figcaption>z</figcaption></figure></body></html>"
)


# htmx's attributes are not HTML's: the one kind of error that is not a fault here.
HTMX_ATTRIBUTE = re.compile(
    r"^Attribute “hx-[a-z-]+” not allowed on element “[a-z0-9]+” at this point\.$"
)


def checker() -> list[str]:
    """The command that runs vnu.jar; skips (or fails under CI=true) when it cannot run."""
    jar = Path(os.environ.get("VNU_JAR") or VNU_JAR / "vnu.jar")
    java = shutil.which("java")
    missing = [
        what
        for what, found in [(f"vnu.jar at {jar} ({INSTALL_HINT})", jar.exists()), ("java", java)]
        if not found
    ]
    if missing:
        message = f"the Nu HTML checker cannot run: no {' and no '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    # The client compiler alone and the serial collector: a short run on a busy
    # machine takes half the CPU time of the JVM's defaults.
    return [java, "-Xss2m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(jar)]


def check(documents: dict[str, str], directory: Path) -> dict[str, list[str]]:
    """Errors per document name, from one run of the checker over all of them."""
    names = {}
    for name, html in documents.items():
        path = (directory / f"{name}.html").resolve()
        path.write_text(html, encoding="utf-8")
        names[f"file:{path}"] = name  # how the checker names a file it read
    done = subprocess.run(
        [*checker(), "--errors-only", "--format", "json", "--stdout", *(u[5:] for u in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        messages = json.loads(done.stdout)["messages"]
    except (ValueError, KeyError):
        pytest.fail(f"the checker gave no JSON (exit {done.returncode}): {done.stderr[-2000:]}")
    errors: dict[str, list[str]] = {name: [] for name in documents}
    for message in messages:
        if message.get("type") == "info" or HTMX_ATTRIBUTE.match(message.get("message", "")):
            continue  # a warning, or htmx
        url = message.get("url", "?")
        where = f"line {message['lastLine']}: " if "lastLine" in message else ""
        extract = " ".join(message.get("extract", "").split())
        errors.setdefault(names.get(url, url), []).append(
            f"{where}{message.get('message')}" + (f" [{extract}]" if extract else "")
        )
    return errors


@dataclass
class Pages:
    """Fetched documents by name; a fragment (htmx's) is wrapped in a minimal document."""

    documents: dict[str, str]

    def get(self, client: Client, name: str, url: str, *, status: int = 200, **extra) -> None:
        response = client.get(url, **extra)
        assert response.status_code == status, f"{name}: {url} gave {response.status_code}"
        self.add(name, response.content.decode(), fragment=bool(extra.get("HTTP_HX_REQUEST")))

    def post(self, client: Client, name: str, url: str, data: dict, *, status: int = 200) -> None:
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == status, f"{name}: {url} gave {response.status_code}"
        self.add(name, response.content.decode(), fragment=True)

    def add(self, name: str, html: str, *, fragment: bool = False) -> None:
        assert name not in self.documents, name
        self.documents[name] = SHELL.format(name=name, body=html) if fragment else html


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def sessions(db, alice, charlie, clock):
    """An active session two steps in, a completed one, and one a manager prepared."""
    vpn = build_version()
    running = services.session_create(
        tree=vpn.tree, engineer=alice, ticket_ref="T-1042", client="Acme Ltd"
    )
    clock.advance(30)
    first = running.decisions.get()
    services.decision_answer(
        session=running,
        decision_id=first.pk,
        choice_id=first.node.choices.get(label="Yes").pk,
        notes="Client 5.2",
    )
    clock.advance(45)
    completed = services.session_create(tree=vpn.tree, engineer=alice, ticket_ref="T-1041")
    step = completed.decisions.get()
    clock.advance(90)
    services.decision_answer(
        session=completed,
        decision_id=step.pk,
        choice_id=step.node.choices.get(label="No").pk,
        notes="Not installed",
    )
    clock.advance(60)
    completed = services.session_complete(
        session=completed,
        outcome=outcome("resolved"),
        by=alice,
        outcome_notes="Installed the client.",
        next_steps="Monitor.",
    )
    # An outcome history for the detail page.
    completed = services.session_change_outcome(
        session=completed, outcome=outcome("escalated"), by=charlie, outcome_notes="Came back."
    )
    prepared = services.session_prepare(
        tree=vpn.tree, engineer=alice, by=charlie, ticket_ref="T-1043", summary="Call first."
    )
    return {"vpn": vpn, "running": running, "completed": completed, "prepared": prepared}


def test_every_main_page_is_valid_html(tmp_path, sessions, alice, charlie, admin_user):
    running: Session = sessions["running"]
    completed: Session = sessions["completed"]
    slug = running.tree.slug
    pages = Pages({})
    # A PSA connection (unreachable) and a failed delivery: the Start form's
    # lookup and the detail page's Ticket card with its buttons.
    psa = ConnectionFactory(name="ConnectWise", is_default=True)
    Delivery.objects.create(
        connection=psa,
        event="session.completed",
        session=completed,
        status="failed",
        attempts=6,
        status_code=500,
        error="ConnectWise failed with 500.",
        request_summary="POST /service/tickets/1041/notes",
        response_excerpt='{"code": "x"}',
    )

    engineer = client_for(alice)
    pages.get(
        engineer,
        "engineer-ticket-lookup",
        reverse("integrations:ticket-lookup") + "?ticket_ref=1042",
        HTTP_HX_REQUEST="true",
    )
    pages.get(
        engineer,
        "engineer-ticket-card",
        reverse("integrations:deliveries", args=[completed.pk]),
        HTTP_HX_REQUEST="true",
    )
    pages.get(engineer, "engineer-home", reverse("home"))
    pages.get(engineer, "engineer-library", reverse("trees:library"))
    pages.get(engineer, "engineer-library-search", reverse("trees:library") + "?q=vpn")
    pages.get(
        engineer,
        "engineer-tree",
        reverse("trees:detail", args=[slug]) + "?ticket=1042&client=Acme&summary=VPN",
    )
    run = reverse("sessions:run", args=[running.pk])
    pages.get(engineer, "engineer-run", run)
    pages.get(engineer, "engineer-run-complete-inline", run + "?complete=1")
    current = running.decisions.get(exited_at=None)
    pages.post(
        engineer,
        "engineer-run-done-fragment",
        reverse("sessions:done", args=[running.pk]),
        {"decision": current.pk, "notes": "Reset."},
    )
    pages.post(
        engineer,
        "engineer-run-back-fragment",
        reverse("sessions:back", args=[running.pk]),
        {"decision": running.decisions.get(exited_at=None).pk},
    )
    pages.post(
        engineer,
        "engineer-run-notes-fragment",
        reverse("sessions:notes", args=[running.pk]),
        {"decision": running.decisions.get(exited_at=None).pk, "notes": "Saved"},
    )
    pages.get(engineer, "engineer-history", reverse("sessions:history"))
    pages.get(
        engineer, "engineer-history-close-open", f"{reverse('sessions:history')}?close={running.pk}"
    )
    pages.get(
        engineer,
        "engineer-history-close-form-fragment",
        reverse("sessions:close-form", args=[running.pk]) + "?next=/sessions/",
        HTTP_HX_REQUEST="true",
    )
    pages.get(engineer, "engineer-detail-active", reverse("sessions:detail", args=[running.pk]))
    pages.get(engineer, "engineer-edit-details", reverse("sessions:edit", args=[running.pk]))
    pages.get(
        engineer,
        "engineer-run-handoff-inline",
        reverse("sessions:run", args=[running.pk]) + "?handoff=1",
    )
    detail = reverse("sessions:detail", args=[completed.pk])
    pages.get(engineer, "engineer-detail-completed", detail)
    pages.get(
        engineer,
        "engineer-export-panel-fragment",
        reverse("sessions:export", args=[completed.pk, "markdown"]) + "?detail=full",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="export",
    )
    pages.get(
        engineer,
        "engineer-export-html",
        reverse("sessions:export", args=[completed.pk, "html"]) + "?detail=full",
    )
    pages.get(engineer, "engineer-password-change", reverse("password_change"))
    engineer.post(
        reverse("token-new"), {"name": "PSA sync", "days": 90, "form_id": str(uuid.uuid4())}
    )
    pages.get(engineer, "engineer-profile-new-token", reverse("profile"))
    pages.get(engineer, "engineer-profile", reverse("profile"))
    pages.get(engineer, "engineer-404", "/no-such-page/", status=404)
    pages.get(engineer, "engineer-403-reports", reverse("reports:overview"), status=403)
    many_fields = "&".join(f"f{i}=1" for i in range(1_100))
    pages.get(
        engineer, "engineer-400", reverse("sessions:history"), status=400, QUERY_STRING=many_fields
    )

    manager = client_for(charlie)
    pages.get(manager, "manager-home", reverse("home"))
    pages.get(manager, "manager-prepare", reverse("sessions:prepare"))
    pages.get(manager, "manager-reports", reverse("reports:overview"))
    pages.get(manager, "manager-reports-tree", reverse("reports:tree", args=[slug]))
    pages.get(manager, "manager-history", reverse("sessions:history"))
    pages.get(manager, "manager-detail", detail)
    pages.get(
        engineer, "engineer-run-prepared", reverse("sessions:run", args=[sessions["prepared"].pk])
    )

    admin = client_for(admin_user)
    pages.get(admin, "admin-home", reverse("home"))
    pages.get(admin, "admin-library", reverse("trees:library"))
    pages.get(admin, "admin-history", reverse("sessions:history"))
    version = sessions["running"].version
    draft = tree_services.version_create_draft(tree=version.tree)
    designer = reverse("admin:trees_treeversion_designer", args=[draft.pk])
    node = draft.nodes.filter(kind="question").first()
    pages.get(admin, "admin-designer", f"{designer}?node={node.key}")
    pages.get(
        admin,
        "admin-designer-panel",
        f"{designer}?node={node.key}",
        HTTP_HX_REQUEST="true",
    )
    pages.get(
        admin,
        "admin-compare",
        reverse("admin:trees_tree_compare", args=[version.tree_id])
        + f"?a={version.number}&b={draft.number}",
    )

    visitor = client_for(None)
    pages.get(visitor, "visitor-login", reverse("login"))
    sso = {"OIDC_ENABLED": True, "OIDC_PROVIDER_NAME": "Microsoft"}
    with override_settings(**sso, PASSWORD_LOGIN_FOR_NON_STAFF=False):
        pages.get(visitor, "visitor-login-sso", reverse("login") + "?sso=failed")
    with override_settings(**sso):
        pages.add(
            "sso-no-access",
            render_to_string(
                "registration/no_access.html",
                {"person": alice, "provider": "Microsoft"},
                request=RequestFactory().get("/oidc/callback/"),
            ),
        )
    pages.get(visitor, "visitor-404", "/no-such-page/", status=404)

    # The canary, in the same run: proof that the checker reads the files and reports errors.
    pages.add("canary", INVALID)
    errors = check(pages.documents, tmp_path)

    assert set(errors) == set(pages.documents), "the checker named a file it was not given"
    canary = "\n".join(errors.pop("canary"))
    assert "fraction of a second" in canary and "“figcaption” not allowed" in canary, canary
    found = {name: problems for name, problems in errors.items() if problems}
    assert not found, "\n".join(
        f"{name}:\n  " + "\n  ".join(problems) for name, problems in found.items()
    )
