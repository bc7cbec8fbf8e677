"""Every page works under the strict Content-Security-Policy, the admin included, with a
clean console and no failed request.

Chromium reports each blocked script, style or eval twice: a console message
("Refused to apply inline style … Content Security Policy …") and a
`securitypolicyviolation` event, which an init script (it runs before the
page's own scripts) records in `window.__cspViolations`. Each page is visited
as the role that uses it, interacted with where JavaScript or htmx changes it
(the completion dialog, the close popover, the export panel, an answer), and
both records must stay empty. The document's security headers are checked on
every visit.

The same watcher records every other console error (htmx logs its own there,
as for a selector that matches nothing), every uncaught exception
(`pageerror`), and every request that fails or answers 4xx/5xx: an asset or
the favicon that 404s, an htmx request refused. The document itself may have
the status the visit expects (the 404 page), and so may its console line.
`test_a_whole_session_keeps_the_console_clean` steps through a session with
htmx, goes Back, autosaves, completes, closes another from history, then opens
its pages again.

`test_it_notices_a_violation` and `test_it_notices_console_errors_and_failed_requests`
prove the listeners work: without them a broken listener would pass every page.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from conftest import screenshot
from resolutionflow.tests.factories import DEFAULT_PASSWORD
from sessions import services
from sessions.models import Outcome, Session
from sessions.tests.factories import build_version, outcome
from trees import services as tree_services

pytestmark = pytest.mark.browser

RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI,
    sample: event.sample,
    source: event.sourceFile,
    line: event.lineNumber,
  });
});
"""
CONSOLE_MARKERS = ("Content Security Policy", "Refused to")
# Loaded, and no htmx request, swap or settle under way: what `networkidle`
# (half a second without traffic, every time) used to stand in for.
SETTLED = """() => document.readyState === "complete"
    && !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")"""
# Violation events are dispatched as tasks: let those already queued run.
NEXT_TASK = "() => new Promise((resolve) => setTimeout(resolve, 0))"


class Watcher:
    """A page with both violation records, its console, its errors and its requests;
    `check()` collects what went wrong."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.console: list[str] = []
        self.problems: list[str] = []
        self.visited = 0
        # The document being visited and the status it is expected to have.
        self.expected: tuple[str, int] | None = None
        page.add_init_script(RECORDER)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_request_failed)

    def _expected(self, url: str, status: int) -> bool:
        return self.expected is not None and self.expected == (url.split("#")[0], status)

    def _on_console(self, message) -> None:
        if any(marker in message.text for marker in CONSOLE_MARKERS):
            self.console.append(f"{self.page.url}: {message.text}")
        elif message.type == "error":
            answered = re.search(r"status of (\d{3})", message.text)
            if answered and self._expected(message.location.get("url", ""), int(answered[1])):
                return
            self.console.append(f"{self.page.url}: console error: {message.text}")

    def _on_page_error(self, error) -> None:
        self.console.append(f"{self.page.url}: uncaught {error.name}: {error.message}")

    def _on_response(self, response) -> None:
        if response.status >= 400 and not self._expected(response.url, response.status):
            request = response.request
            self.console.append(
                f"{self.page.url}: {request.method} {response.url} ({request.resource_type})"
                f" answered {response.status}"
            )

    def _on_request_failed(self, request) -> None:
        # A navigation or an htmx `hx-sync` abort cancels requests still under way.
        if request.failure != "net::ERR_ABORTED":
            self.console.append(f"{self.page.url}: {request.url} failed: {request.failure}")

    def expect(self, path: str, status: int) -> None:
        """The next document is `path`, answering `status`: not a failed request."""
        self.expected = (urljoin(self.base_url, path).split("#")[0], status)

    def visit(self, path: str, *, status: int = 200) -> None:
        self.expect(path, status)
        response = self.page.goto(path)
        self.settle()
        self.visited += 1
        if response is None or response.status != status:
            got = response.status if response else None
            self.problems.append(f"{path}: status {got}, expected {status}")
            return
        self._check_headers(path, response.headers)
        self.check(path)

    def _check_headers(self, path: str, headers: dict[str, str]) -> None:
        expected = {
            "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin",
            "x-frame-options": "DENY",
        }
        for name, value in expected.items():
            if headers.get(name) != value:
                self.problems.append(f"{path}: {name} is {headers.get(name)!r}")
        if "camera=()" not in headers.get("permissions-policy", ""):
            self.problems.append(f"{path}: no Permissions-Policy")
        csp = headers.get("content-security-policy", "")
        if "script-src 'self'" not in csp or "style-src 'self'" not in csp or "unsafe" in csp:
            self.problems.append(f"{path}: Content-Security-Policy is {csp!r}")

    def settle(self) -> None:
        """Wait until the page and its htmx swaps are done, and their violations reported."""
        self.page.wait_for_function(SETTLED)
        self.page.evaluate(NEXT_TASK)

    def check(self, where: str) -> None:
        """Record every violation so far (events and console), then start afresh."""
        events = self.page.evaluate("window.__cspViolations || []")
        for event in events:
            self.problems.append(f"{where}: {event}")
        self.page.evaluate("window.__cspViolations = []")
        self.problems.extend(self.console)
        self.console.clear()

    def assert_clean(self) -> None:
        assert self.visited, "no page was visited"
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def watch(new_page, live):
    def make(user=None, **options) -> Watcher:
        return Watcher(new_page(user, **options), live.url)

    return make


@pytest.fixture
def vpn(db):
    return build_version()


@pytest.fixture
def running(alice, vpn, clock) -> Session:
    return services.session_create(
        tree=vpn.tree, engineer=alice, ticket_ref="T-1042", client="Acme Ltd"
    )


@pytest.fixture
def completed(alice, vpn, clock) -> Session:
    session = services.session_create(tree=vpn.tree, engineer=alice, ticket_ref="T-1041")
    step = session.decisions.get()
    clock.advance(90)
    services.decision_answer(
        session=session,
        decision_id=step.pk,
        choice_id=step.node.choices.get(label="Yes").pk,
        notes="Client 5.2",
    )
    clock.advance(60)
    return services.session_complete(
        session=session,
        outcome=outcome("resolved"),
        by=alice,
        outcome_notes="Credentials reset.",
        next_steps="Monitor.",
    )


# --- the canary -------------------------------------------------------------------------------


def test_it_notices_a_violation(watch, alice):
    watcher = watch(alice)
    watcher.visit("/")
    with watcher.page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        watcher.page.evaluate(
            "document.head.insertAdjacentHTML('beforeend', '<style>body { color: red }</style>')"
        )
        watcher.page.evaluate(
            "const s = document.createElement('script'); s.textContent = 'window.x = 1';"
            "document.body.append(s)"
        )
        watcher.page.wait_for_function("() => window.__cspViolations.length >= 2")
    watcher.check("canary")
    assert any("style-src" in p for p in watcher.problems), watcher.problems
    assert any("script-src" in p for p in watcher.problems), watcher.problems
    assert any("Content Security Policy" in p for p in watcher.problems), watcher.problems


def test_it_notices_console_errors_and_failed_requests(watch, alice):
    watcher = watch(alice)
    watcher.visit("/")
    page = watcher.page
    with page.expect_console_message(lambda m: m.type == "error"):
        page.evaluate("console.error('canary: logged')")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('canary: thrown'); })")
    with page.expect_response(lambda r: r.url.endswith("/static/no-such.css")):
        page.evaluate("fetch('/static/no-such.css')")
    watcher.check("canary")
    problems = "\n".join(watcher.problems)
    assert "console error: canary: logged" in problems, problems
    assert "uncaught Error: canary: thrown" in problems, problems
    assert "/static/no-such.css (fetch) answered 404" in problems, problems


# --- pages ---------------------------------------------------------------------------------------


def test_it_keeps_the_signed_out_pages_within_the_policy(watch, alice):
    watcher = watch()
    watcher.visit(reverse("login"))
    page = watcher.page
    # Five wrong passwords: the locked-out page (429) is a page too.
    watcher.expect(reverse("login"), 429)
    for _ in range(5):
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("wrong")
        with (
            page.expect_navigation(),
            page.expect_response(lambda r: r.url.endswith(reverse("login"))) as answer,
        ):
            page.get_by_role("button", name="Log in").click()
    watcher.settle()
    assert answer.value.status == 429
    expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()
    watcher.check("locked out")
    watcher.assert_clean()


def test_it_keeps_the_engineer_pages_within_the_policy(watch, alice, running, completed):
    watcher = watch(alice)
    page = watcher.page

    watcher.visit("/")
    watcher.visit(reverse("trees:library"))
    watcher.visit(reverse("trees:library") + "?q=vpn")
    watcher.visit(reverse("trees:detail", args=[running.tree.slug]))

    # The navigation page, an htmx answer, then the completion dialog.
    watcher.visit(reverse("sessions:run", args=[running.pk]))
    page.get_by_role("button", name="Yes", exact=True).click()
    expect(page.get_by_role("heading", name="Reset the VPN credentials")).to_be_visible()
    watcher.settle()
    watcher.check("run: after an htmx answer")
    page.get_by_role("button", name="Complete session").click()
    expect(page.get_by_role("dialog", name="Complete the session")).to_be_visible()
    screenshot(page, "csp-completion-dialog")
    watcher.check("run: completion dialog open")

    # History with the close popover open.
    watcher.visit(reverse("sessions:history"))
    card = page.get_by_role("article", name=re.compile("T-1042"))
    card.get_by_role("button", name="Close", exact=True).click()
    expect(card.get_by_role("dialog")).to_be_visible()
    screenshot(page, "csp-close-popover")
    watcher.check("history: close popover open")
    page.keyboard.press("Escape")
    # The filters swap the results by htmx, on change and as one types.
    page.get_by_label("Status").select_option("completed")
    page.get_by_label("Search").fill("T-1041")
    expect(page.get_by_role("article")).to_have_count(1)
    watcher.settle()
    watcher.check("history: filtered by htmx")

    # Edit details, and the hand-off form without the dialog (SPEC §9).
    watcher.visit(reverse("sessions:edit", args=[running.pk]))
    watcher.visit(reverse("sessions:run", args=[running.pk]) + "?handoff=1")

    # The detail page with its export panel, switched to another format by htmx.
    watcher.visit(reverse("sessions:detail", args=[completed.pk]))
    panel = page.locator("#export")
    expect(panel.get_by_role("heading", name="Export")).to_be_visible()
    panel.get_by_role("link", name="Markdown").click()
    expect(panel.get_by_role("link", name="Markdown")).to_have_attribute("aria-current", "true")
    watcher.settle()
    watcher.check("detail: export panel switched to Markdown")
    watcher.visit(reverse("sessions:export", args=[completed.pk, "html"]))

    watcher.visit(reverse("password_change"))
    # The profile page, with a new token's secret shown, and the API's docs (Swagger UI).
    watcher.visit(reverse("profile"))
    page.get_by_label("Name").fill("PSA sync")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token “PSA sync” created")).to_be_visible()
    watcher.settle()
    watcher.check("profile: token created")
    watcher.visit(reverse("api:openapi-view"))
    expect(page.get_by_role("heading", name=re.compile("ResolutionFlow API"))).to_be_visible()
    watcher.settle()
    watcher.check("API docs rendered")
    watcher.visit("/no-such-page/", status=404)
    watcher.visit(reverse("reports:overview"), status=403)
    watcher.assert_clean()


def test_a_whole_session_keeps_the_console_clean(watch, alice, vpn, clock):
    running = services.session_create(tree=vpn.tree, engineer=alice, ticket_ref="T-2001")
    other = services.session_create(tree=vpn.tree, engineer=alice, ticket_ref="T-2002")
    watcher = watch(alice)
    page = watcher.page

    def press(name: str, then: str) -> None:
        page.get_by_role("button", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=then, exact=True)).to_be_visible()
        watcher.settle()
        watcher.check(f"run: {name} → {then}")

    watcher.visit(reverse("sessions:run", args=[running.pk]))
    # The step notes and the scratchpad autosave by htmx.
    page.get_by_label("Step notes").fill("Client 5.2")
    expect(page.locator("#notes-state")).to_contain_text("Notes saved")
    page.get_by_label("Scratchpad").fill("Gateway vpn.example.com")
    expect(page.locator("#scratchpad-state")).to_contain_text("Saved")
    watcher.check("run: autosaved")
    press("Yes", "Reset the VPN credentials")
    press("Done", "Does it connect now?")
    press("Back", "Reset the VPN credentials")
    page.get_by_role("button", name="Save notes").click()
    expect(page.locator("#notes-state")).to_contain_text("Notes saved")
    press("Done", "Does it connect now?")
    press("Yes", "Credentials reset fixed it")
    page.get_by_role("button", name="Complete session").click()
    dialog = page.get_by_role("dialog", name="Complete the session")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Complete", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/sessions/{running.pk}/$"))
    watcher.settle()
    watcher.check("completed: the detail page")

    watcher.visit(reverse("sessions:history"))
    card = page.get_by_role("article", name=re.compile("T-2002"))
    card.get_by_role("button", name="Close", exact=True).click()
    popover = card.get_by_role("dialog")
    popover.get_by_label("Outcome").select_option("cancelled")
    popover.get_by_role("button", name="Confirm").click()
    expect(
        page.get_by_role("article", name=re.compile("T-2002")).locator(".badge-outcome")
    ).to_have_text("Cancelled")
    watcher.settle()
    watcher.check("history: closed from the popover")

    for path in [
        "/",
        reverse("trees:library"),
        reverse("trees:detail", args=[vpn.tree.slug]),
        reverse("sessions:detail", args=[other.pk]),
        reverse("sessions:run", args=[running.pk]),
        reverse("sessions:export", args=[running.pk, "html"]),
        reverse("sessions:export", args=[running.pk, "text"]),
        reverse("password_change"),
    ]:
        watcher.visit(path)
    watcher.visit("/no-such-page/", status=404)
    watcher.assert_clean()
    assert Session.objects.get(pk=other.pk).outcome.code == "cancelled"


def test_it_keeps_the_manager_pages_within_the_policy(watch, charlie, alice, completed):
    watcher = watch(charlie)
    watcher.visit(reverse("sessions:prepare"))
    watcher.visit(reverse("reports:overview"))
    screenshot(watcher.page, "csp-reports")
    watcher.visit(reverse("reports:tree", args=[completed.tree.slug]))
    watcher.visit(reverse("sessions:history"))
    watcher.assert_clean()


def test_it_keeps_the_admin_within_the_policy(watch, admin_user, running, completed, vpn):
    draft = tree_services.version_create_draft(tree=vpn.tree)
    watcher = watch(admin_user)
    pages = [
        reverse("admin:index"),
        reverse("admin:trees_tree_changelist"),
        reverse("admin:trees_tree_change", args=[vpn.tree.pk]),
        reverse("admin:trees_tree_import"),
        reverse("admin:trees_treeversion_change", args=[draft.pk]),
        reverse("admin:trees_treeversion_change", args=[vpn.pk]),
        reverse("admin:trees_node_change", args=[draft.nodes.get(key="client-installed").pk]),
        reverse("admin:flow_sessions_session_changelist"),
        reverse("admin:flow_sessions_session_change", args=[running.pk]),
        reverse("admin:flow_sessions_session_change", args=[completed.pk]),
        reverse("admin:flow_sessions_outcome_changelist"),
        reverse(
            "admin:flow_sessions_outcome_change", args=[Outcome.objects.get(code="resolved").pk]
        ),
        reverse("admin:flow_sessions_outcome_add"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_change", args=[admin_user.pk]),
        reverse("admin:password_change"),
        reverse("admin:axes_accessattempt_changelist"),
        reverse("admin:integrations_connection_changelist"),
        reverse("admin:integrations_connection_add"),
        reverse("admin:integrations_delivery_changelist"),
        # The tree designer (SPEC §8): a draft with a node's panel open, a published
        # version read-only, compare and duplicate. Its htmx edits are swept in
        # tests/browser/test_designer.py.
        reverse("admin:trees_treeversion_designer", args=[draft.pk]) + "?node=client-installed",
        reverse("admin:trees_treeversion_designer", args=[vpn.pk]),
        reverse("admin:trees_tree_compare", args=[vpn.tree.pk])
        + f"?a={vpn.number}&b={draft.number}",
        reverse("admin:trees_tree_duplicate", args=[vpn.tree.pk]),
    ]
    for path in pages:
        watcher.visit(path)
    screenshot(watcher.page, "csp-admin")
    # The admin's own JavaScript: the collapsible scratchpad fieldset and inline rows.
    watcher.visit(reverse("admin:flow_sessions_session_change", args=[completed.pk]))
    toggle = watcher.page.locator("fieldset.collapse summary, .collapse-toggle").first
    if toggle.count():
        toggle.click()
    watcher.visit(reverse("admin:trees_treeversion_change", args=[draft.pk]))
    add_row = watcher.page.locator(".add-row a").first
    if add_row.count():
        add_row.click()
        watcher.check("admin: an inline row added")
    watcher.assert_clean()


def test_it_keeps_the_admin_login_within_the_policy(watch, admin_user):
    watcher = watch()
    watcher.visit(reverse("admin:login"))
    page = watcher.page
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    watcher.check("admin: signed in")
    watcher.assert_clean()
