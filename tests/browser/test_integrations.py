"""The ticket loop in a real browser (SPEC §10): an admin sets up ConnectWise, an engineer's
ticket is looked up and the completed session's note shows "Posted to ticket"; a
failure shows with Retry. One flow, under the CSP watcher (no violation, no console
error, no failed request).
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from conftest import assert_accessible, screenshot
from integrations.models import Connection, Delivery
from integrations.tests.fakes import FakeConnectWise
from sessions.tests.factories import build_version
from tests.browser.test_csp import Watcher

pytestmark = pytest.mark.browser

DETAIL_URL = re.compile(r"/sessions/[0-9a-f-]{36}/$")


def run_worker() -> None:
    """The real worker command, in batch mode: every due task, then exit."""
    call_command("run_worker", batch=True, reload=False, startup_delay=False, verbosity=0)


def test_a_connection_set_up_in_the_admin_gets_the_note(new_page, live, admin_user, alice):
    version = build_version()
    with FakeConnectWise() as psa:
        admin = Watcher(new_page(admin_user), live.url)
        admin.visit(reverse("admin:integrations_connection_add"))
        page = admin.page
        page.locator("#id_name").fill("ConnectWise")
        page.locator("#id_kind").select_option("connectwise")
        page.locator("#id_base_url").fill(psa.base_url)
        page.locator("#id_is_default").check()
        page.locator("#id_cw_company_id").fill(psa.company)
        page.locator("#id_cw_public_key").fill(psa.public)
        page.locator("#id_cw_private_key").fill(psa.private)
        page.locator("#id_cw_client_id").fill(psa.client_id)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")
        page.get_by_role("checkbox", name="Select this object for an action").first.check()
        page.locator("select[name=action]").select_option("test_connection")
        page.locator("button[name=index]").click()
        expect(page.locator(".messagelist")).to_contain_text("Connected to ConnectWise PSA")
        admin.check("admin: connection added and tested")
        admin.assert_clean()
        assert "priv-key" not in Connection.objects.get().credentials_token

        engineer = Watcher(new_page(alice), live.url)
        page = engineer.page
        engineer.visit(version.tree.get_absolute_url() + "?summary=From+the+PSA+button")
        expect(page.get_by_label("Summary")).to_have_value("From the PSA button")
        page.get_by_label("Ticket").fill("1042")
        expect(page.locator("#ticket-lookup")).to_contain_text("ticket 1042: VPN drops · Acme")
        expect(page.get_by_label("Client")).to_have_value("Acme")  # filled: it was empty
        expect(page.get_by_label("Summary")).to_have_value("From the PSA button")  # kept
        page.get_by_role("button", name="Start session").click()
        # Until app.js has run, the no-JavaScript Complete button is there too.
        page.wait_for_url("**/run/", wait_until="load")
        page.get_by_role("button", name="Complete session").click()
        dialog = page.get_by_role("dialog", name="Complete the session")
        dialog.get_by_label("Outcome", exact=True).select_option("resolved")
        dialog.get_by_role("button", name="Complete", exact=True).click()
        expect(page).to_have_url(DETAIL_URL)
        panel = page.locator("#ticket-panel")
        expect(panel).to_contain_text("Queued")

        # The PSA refuses the first try: the card says so and offers Retry.
        psa.fail(422)
        run_worker()  # the card polls and settles on its own
        expect(panel).to_contain_text("Failed", timeout=6000)
        expect(panel).to_contain_text("ConnectWise rejected the request (422).")
        screenshot(page, "integrations-failed")
        panel.get_by_role("button", name="Retry").click()
        expect(page.locator("#toast-region")).to_contain_text("Trying again.")
        expect(panel).to_contain_text("Queued")

        run_worker()
        expect(panel).to_contain_text("Posted to ticket", timeout=6000)
        expect(panel).to_contain_text("HTTP 201")
        assert len(psa.notes) == 1 and "Ticket: 1042 | Client: Acme" in psa.notes[0]["text"]
        assert Delivery.objects.get().status == Delivery.Status.DELIVERED
        assert_accessible(page)
        screenshot(page, "integrations-posted")
        engineer.expect(page.url, 200)
        engineer.check("engineer: lookup, completion, posted, failed, retry")
        engineer.assert_clean()
