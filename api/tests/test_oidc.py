"""Single sign-on end to end: Chromium signs in through a real OpenID Connect provider.

The provider is the npm package `oidc-provider` (api/tests/oidc/provider.mjs),
started by the test on 127.0.0.1 with a test client and accounts whose claims
carry groups. Nothing of mozilla-django-oidc is mocked: the app discovers the
provider, sends state, nonce and a PKCE challenge, exchanges the code, checks
the ID token's signature, issuer and audience, and maps the groups.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache

from api.models import OidcIdentity
from resolutionflow.tests.factories import UserFactory

pytestmark = pytest.mark.browser

NODE_MODULES = Path(__file__).resolve().parents[2] / "var" / "node" / "node_modules"
PROVIDER_SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"
CLIENT_ID, CLIENT_SECRET = "resolutionflow-test", "test-client-secret"
ACCOUNTS = {
    "erin": {"email": "erin@example.com", "name": "Erin Engineer", "groups": ["rf-engineers"]},
    "nina": {"email": "nina@example.com", "name": "Nina Nogroup", "groups": ["other-app"]},
}


def _provider_available() -> bool:
    return bool(shutil.which("node")) and (NODE_MODULES / "oidc-provider").is_dir()


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    if not _provider_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but oidc-provider is not installed in var/node (.ci/run does it).")
        pytest.skip("node or oidc-provider missing (npm install --prefix var/node oidc-provider)")
    config = tmp_path_factory.mktemp("oidc") / "config.json"
    config.write_text(
        json.dumps(
            {
                "port": 0,
                "node_modules": str(NODE_MODULES),
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{live_server.url}/oidc/callback/"],
                "accounts": ACCOUNTS,
            }
        )
    )
    process = subprocess.Popen(
        ["node", str(PROVIDER_SCRIPT), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            pytest.fail("the OpenID Connect provider did not start")
        yield json.loads(line)["issuer"]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso(settings, provider):
    """The app configured for the provider, as the environment variables would."""
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = provider
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_ENGINEER_GROUPS = ["rf-engineers"]
    settings.OIDC_MANAGER_GROUPS = ["rf-managers"]
    cache.clear()
    yield provider
    cache.clear()


def _sign_in_at_provider(page, login: str) -> None:
    """The provider's own pages: any password for a known login, then consent."""
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    with page.expect_request(lambda r: r.method == "POST" and "/interaction/" in r.url):
        page.click("button:has-text('Continue')")


def _to_callback(page, login: str) -> str:
    """Sign in at the provider but stop before the app's callback: its URL.

    A redirect cannot be routed in Playwright, so the consent form's POST is
    sent by the test (with the browser's cookies) and the provider's redirects
    are followed by hand up to the callback, which is not requested.
    """
    captured = []

    def consent(route):
        if route.request.method != "POST" or "prompt=consent" not in (
            route.request.post_data or ""
        ):
            return route.continue_()
        response = route.fetch(max_redirects=0)
        location = response.headers["location"]
        while not location.startswith(page.context._rf_live_url):
            response = page.context.request.get(location, max_redirects=0)
            location = response.headers["location"]
        captured.append(location)
        route.fulfill(status=204, body="")

    page.route("**/interaction/**", consent)
    page.goto("/oidc/login/")
    _sign_in_at_provider(page, login)
    page.unroute("**/interaction/**")
    assert captured, "the provider never redirected back"
    return captured[0]


def _signed_in_user(context):
    cookie = next((c for c in context.cookies() if c["name"] == "sessionid"), None)
    if cookie is None:
        return None
    return SessionStore(cookie["value"]).get("_auth_user_id")


def test_it_signs_in_through_the_provider_and_maps_the_groups(new_page, sso, live):
    # Erin's account exists (made by an admin, a manager then); SSO links it by email
    # and the groups follow the provider's claim from this sign-in on.
    erin = UserFactory(username="erin.e", email="erin@example.com", groups=["Managers"])
    page = new_page()
    authorize = []
    page.on(
        "request",
        lambda r: authorize.append(r.url) if r.url.startswith(f"{sso}/auth") else None,
    )
    page.goto("/accounts/login/")
    page.click("text=Sign in with Test IdP")
    _sign_in_at_provider(page, "erin")
    page.wait_for_url(f"{live.url}/")
    assert page.locator("h1").first.is_visible()

    params = parse_qs(urlsplit(authorize[0]).query)
    assert params["code_challenge_method"] == ["S256"]
    assert params["state"][0] and params["nonce"][0] and params["code_challenge"][0]
    erin.refresh_from_db()
    assert (erin.first_name, erin.last_name) == ("Erin", "Engineer")
    assert sorted(g.name for g in erin.groups.all()) == ["Engineers"]
    assert OidcIdentity.objects.get(user=erin).subject == "erin"
    assert str(_signed_in_user(page.context)) == str(erin.pk)

    # Someone in neither group: created with their name and email, not signed in,
    # told to ask their administrator.
    other = new_page()
    other.goto("/oidc/login/")
    _sign_in_at_provider(other, "nina")
    assert other.get_by_role("heading", name="Ask your administrator for access").is_visible()
    nina = get_user_model().objects.get(email="nina@example.com")
    assert nina.get_full_name() == "Nina Nogroup" and not nina.has_usable_password()
    assert _signed_in_user(other.context) is None
    other.goto("/")
    assert "/accounts/login/" in other.url


def _refusal(caplog) -> str:
    """What the last refused callback was refused for (Django logs SuspiciousOperation)."""
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("django.security")]
    caplog.clear()
    return messages[-1] if messages else ""


def test_it_refuses_a_tampered_state_or_nonce_and_a_wrong_issuer(
    new_page, sso, settings, live, caplog
):
    UserFactory(username="erin", email="erin@example.com", groups=["Engineers"])
    User = get_user_model()

    def browser_page():
        made = new_page()
        made.context._rf_live_url = live.url
        return made

    # State: the callback's state is not the one this browser was given.
    page = browser_page()
    callback = _to_callback(page, "erin")
    query = parse_qs(urlsplit(callback).query)
    query["state"] = ["tampered" + query["state"][0][8:]]
    response = page.goto(f"{live.url}/oidc/callback/?{urlencode(query, doseq=True)}")
    assert response.status == 400
    assert "state not found" in _refusal(caplog)
    assert _signed_in_user(page.context) is None

    # Nonce: the ID token's nonce no longer matches the one stored for this state.
    page = browser_page()
    callback = _to_callback(page, "erin")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    store = SessionStore(cookie["value"])
    store["oidc_states"][state]["nonce"] = "tampered-nonce"
    store.save()
    response = page.goto(callback)
    assert response.status == 400
    assert "Nonce verification failed" in _refusal(caplog)
    assert _signed_in_user(page.context) is None

    # Issuer: the provider's tokens are not from the issuer the app trusts.
    real = sso
    for name, path in [
        ("AUTHORIZATION", "/auth"),
        ("TOKEN", "/token"),
        ("USER", "/me"),
        ("JWKS", "/jwks"),
    ]:
        setattr(settings, f"OIDC_OP_{name}_ENDPOINT", real + path)
    settings.OIDC_ISSUER = "https://login.example.com/other-tenant/v2.0"
    page = browser_page()
    callback = _to_callback(page, "erin")
    response = page.goto(callback)
    assert response.status == 400
    assert "not https://login.example.com/other-tenant/v2.0" in _refusal(caplog)
    assert _signed_in_user(page.context) is None
    assert not OidcIdentity.objects.exists()
    assert User.objects.count() == 1
