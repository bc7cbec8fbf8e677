"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse


def navigation(request: HttpRequest) -> dict:
    """The main navigation, limited to what the signed-in person may use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
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
    return {
        "nav_items": [
            {"label": label, "url": url, "current": url == current} for label, url in items
        ]
    }
