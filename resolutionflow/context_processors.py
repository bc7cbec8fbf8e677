"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject


def navigation(request: HttpRequest) -> dict:
    """The main navigation, limited to what the signed-in person may use.

    Lazy: an htmx fragment that never shows the menu does not load the
    person's permissions for it.
    """
    return {"nav_items": SimpleLazyObject(lambda: _nav_items(request))}


def _nav_items(request: HttpRequest) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    items = [
        ("Trees", reverse("trees:library")),
        ("History", reverse("sessions:history")),
    ]
    if user.has_perm("flow_sessions.prepare_session"):
        items.append(("Prepare", reverse("sessions:prepare")))
    if user.has_perm("flow_sessions.view_reports"):
        items.append(("Reports", reverse("reports:overview")))
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    # The section is the longest matching prefix: /sessions/prepare/ is
    # Prepare, not also History (/sessions/).
    matches = [url for _, url in items if request.path.startswith(url)]
    current = max(matches, key=len, default=None)
    return [{"label": label, "url": url, "current": url == current} for label, url in items]
