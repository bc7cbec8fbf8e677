"""The history's cards rendered once and reused (docs/PERFORMANCE.md, "The history cache").

A card's markup depends on its session row, a few names from other rows (its
tree, outcome, engineer and closer) and who looks at it; the same session at
the same `revision` with the same names renders the same markup for everyone
with the same view of it. So a card is rendered once into the shared cache
under a key made of exactly those inputs, and every later page takes it from
there: one `get_many` per page for its 25 cards.

What must not be reused is punched out of the cached markup with
`{% live "name" %}…{% endlive %}` (sessions.templatetags.session_tags): the
page's own filters in the Close link, the CSRF token of a Start form. A cached
card holds a marker in their place; `render_cards` renders those blocks again,
for each card, on every page. The time an active session has run so far is a
clock marker (`{% active_counter %}`) holding the moment it counts from, which
`fill_clocks` turns into the time at each load; a cached history page
(sessions.pages) keeps those markers and fills them itself.

Invalidation is by construction, not by deleting keys:
- every write of a session goes through `Session.save`, which bumps `revision`
  (services, admin, API alike), so the next page asks for a key never seen;
- a renamed tree, outcome, engineer or closer changes the names' digest;
- a deployment, or an edited card template, changes the release's digest
  (resolutionflow.release: code, templates and static files);
- the viewer's part is the key's flags (managers see the engineer; Close is
  offered to the engineer and to those who may close any session).
Old entries are never read again and expire (CARD_TIMEOUT), or Redis evicts
them first under its memory limit.

The history's other repeated work, its total and its filter lists, is cached
under `history_generation()`, a token renewed whenever a session is created or
deleted, changes engineer, or a user, tree or outcome is saved (the receivers
at the end), when the cache is shared by every app server (Redis).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.core.cache import cache as shared_cache
from django.template import Context
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from resolutionflow import clock, generations, release
from resolutionflow.timestamps import html_datetime
from resolutionflow.users import display_name, signed_in_only
from sessions.formatting import format_duration
from sessions.models import Session

CARD_TEMPLATE = "sessions/_session_card.html"
# Every template a card is made of: their `{% live %}` blocks are the ones
# `render_cards` fills in.
CARD_TEMPLATES = (CARD_TEMPLATE, "sessions/_close_popover.html")
CARD_TIMEOUT = 24 * 3600
GENERATION = "history"
LIVE_MARK = "<!--live:{}-->"
LIVE_PATTERN = re.compile(r"<!--live:([a-z-]+)-->")
CLOCK_MARK = "<!--since:{}-->"
CLOCK_PATTERN = re.compile(r"<!--since:([0-9T:.+-]+)-->")


# --- the card templates ------------------------------------------------------------


# The `{% live %}` blocks of the compiled templates they were taken from: the
# cached template loader keeps one compiled template for the process's life,
# and a development server's reloaded template is a new object, so an edited
# template is picked up there too.
_compiled: dict[tuple[int, ...], dict] = {}


def _blocks(names: tuple[str, ...]) -> dict:
    """The `{% live %}` blocks of these templates, by name."""
    from sessions.templatetags.session_tags import LiveNode

    templates = [get_template(name).template for name in names]
    ident = tuple(id(template) for template in templates)
    if ident not in _compiled:
        blocks: dict = {}
        for template in templates:
            for node in template.nodelist.get_nodes_by_type(LiveNode):
                if node.name in blocks:
                    raise ValueError(f"two {{% live {node.name!r} %}} blocks in {names}")
                blocks[node.name] = node
        if len(_compiled) > 16:
            _compiled.clear()
        _compiled[ident] = blocks
    return _compiled[ident]


def _templates() -> tuple[str, dict]:
    """(the release's digest, for the cards' keys; the cards' `{% live %}` blocks)."""
    return release.digest(CARD_TEMPLATE), _blocks(CARD_TEMPLATES)


def fragment_key(*parts: object) -> str:
    """A short key for a cached fragment made of `parts` (ids, revisions, names), with
    the current time zone and language, which dates and words are rendered in."""
    text = "\x1f".join(
        (*map(str, parts), timezone.get_current_timezone_name(), translation.get_language() or "")
    )
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# --- keys --------------------------------------------------------------------------


def card_key(session: Session, *, show_engineer: bool, may_close: bool, digest: str = "") -> str:
    """The cache key of `session`'s card as this viewer sees it (module docstring)."""
    outcome = session.outcome
    names_digest = fragment_key(
        session.tree.name,
        f"{outcome.code}\x1e{outcome.label}" if outcome else "",
        display_name(session.engineer) if show_engineer else "",
        display_name(session.closed_by) if session.closed_by_id else "",
    )
    flags = f"{show_engineer:d}{may_close and session.is_active:d}"
    digest = digest or _templates()[0]
    return f"card:{digest}:{session.pk}:{session.revision}:{flags}:{names_digest}"


# --- rendering ---------------------------------------------------------------------


def render_cards(context: Context, sessions: Iterable[Session]) -> list[SafeString]:
    """Each session's card, from the cache where it can be, in `sessions`' order.

    `context` is the history page's (user, show_engineer, can_close_any, page_params,
    close_id, …). The card shown with its Close popover open (`close_id`) is rendered
    whole, never cached.
    """
    sessions = list(sessions)
    user = context["user"]
    show_engineer = bool(context.get("show_engineer"))
    can_close_any = bool(context.get("can_close_any"))
    close_id = context.get("close_id")
    digest, blocks = _templates()
    keys = {
        session.pk: card_key(
            session,
            show_engineer=show_engineer,
            may_close=can_close_any or session.engineer_id == user.pk,
            digest=digest,
        )
        for session in sessions
        if session.pk != close_id
    }
    found = {}
    if keys:
        found = generations.quietly(shared_cache.get_many, list(keys.values()), default={})
    template = get_template(CARD_TEMPLATE).template
    fresh: dict[str, str] = {}
    per_page: dict[str, str] = {}  # the `page` blocks, rendered once

    def live(name: str) -> str:
        block = blocks[name]
        if not block.per_page:
            return block.nodelist.render(context)
        if name not in per_page:
            per_page[name] = block.nodelist.render(context)
        return per_page[name]

    # A page rendered for the cache keeps the clock markers (sessions.pages fills them).
    now = None if context.get("page_cache") else clock.now()
    cards = []
    for session in sessions:
        key = keys.get(session.pk)
        with context.push(s=session):
            if key is None:
                cards.append(template.render(context))
                continue
            markup = found.get(key)
            if markup is None:
                with context.push(card_cache=True):
                    markup = fresh[key] = template.render(context)
            markup = _fill(markup, live)
            cards.append(markup if now is None else fill_clocks(markup, now))
    if fresh:
        generations.quietly(shared_cache.set_many, fresh, CARD_TIMEOUT)
    return cards


def _fill(markup: str, render: Callable[[str], str]) -> SafeString:
    """`markup` with each live marker replaced by its block rendered now."""
    return mark_safe(LIVE_PATTERN.sub(lambda match: render(match[1]), markup))


# --- the running time of active sessions ---------------------------------------------


def active_counter(origin: datetime, now: datetime) -> SafeString:
    """A running session's active time so far (`Session.active_elapsed`), counted from
    `origin` (`Session.clock_origin`): the text at `now`, and the moment app.js counts on
    from."""
    elapsed = max(timedelta(0), now - origin)
    return format_html(
        '<span data-elapsed-since="{}">{}</span>',
        html_datetime(now - elapsed),
        format_duration(elapsed),
    )


def clock_mark(origin: datetime) -> SafeString:
    """What a card or page rendered for the cache holds in place of `active_counter`."""
    return mark_safe(CLOCK_MARK.format(origin.isoformat()))


def fill_clocks(markup: str, now: datetime | None = None) -> SafeString:
    """`markup` with each clock marker replaced by the time so far at `now`."""
    if "<!--since:" not in markup:
        return mark_safe(markup)
    now = now or clock.now()
    return mark_safe(
        CLOCK_PATTERN.sub(
            lambda match: active_counter(datetime.fromisoformat(match[1]), now), markup
        )
    )


# --- the history's generation: its total and filter lists ----------------------------


def history_generation() -> str:
    """A token that changes whenever the history's total or filter lists may have."""
    return generations.token(GENERATION)


def renew_history_generation() -> None:
    generations.renew(GENERATION)


def cached_for_history(scope: str, compute: Callable[[], object]) -> object:
    """`compute()`, cached per `scope` until the history's generation changes
    (resolutionflow.generations: only with a cache every app server shares; the
    cards need no such care, their keys come from the rows themselves)."""
    return generations.cached(GENERATION, scope, compute)


# --- what renews the generation ----------------------------------------------------


def _session_saved(sender, instance: Session, created: bool, update_fields=None, **kwargs) -> None:
    # A new session changes the totals and maybe the lists; a new engineer (a
    # hand-off) moves it between engineers' histories. A save of named fields
    # that leaves the engineer alone changes neither.
    if created or update_fields is None or "engineer" in update_fields:
        renew_history_generation()


def _listed_row_changed(sender, update_fields=None, **kwargs) -> None:
    # A user, tree or outcome saved or deleted: a filter list's names may have
    # changed. Signing in saves only the user's last_login: no name changes.
    if not signed_in_only(update_fields):
        renew_history_generation()


def connect_receivers() -> None:
    """Called once by the app's `ready()`."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save

    from sessions.models import Outcome
    from trees.models import Tree

    post_save.connect(_session_saved, sender=Session, dispatch_uid="history-session-saved")
    post_delete.connect(_listed_row_changed, sender=Session, dispatch_uid="history-session-gone")
    for model in (get_user_model(), Tree, Outcome):
        for signal, what in ((post_save, "saved"), (post_delete, "gone")):
            signal.connect(
                _listed_row_changed, sender=model, dispatch_uid=f"history-{model.__name__}-{what}"
            )
