"""Sessions played through the real services, with a controlled clock, for report tests."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model

from sessions import services
from sessions.models import Session
from sessions.tests.factories import VPN_TREE, build_version, outcome
from trees.models import TreeVersion

PRINTER_TREE = {
    "slug": "printer",
    "name": "Printer will not print",
    "start": "power",
    "nodes": [
        {
            "key": "power",
            "kind": "question",
            "title": "Is the printer switched on?",
            "choices": [
                {"label": "On", "next": "clear-queue"},
                {"label": "Off", "next": "switch-on"},
            ],
        },
        {
            "key": "clear-queue",
            "kind": "action",
            "title": "Clear the print queue",
            "next": "printed",
        },
        {
            "key": "printed",
            "kind": "question",
            "title": "Did the test page print?",
            "choices": [
                {"label": "Yes", "next": "cleared"},
                {"label": "No", "next": "call-vendor"},
            ],
        },
        {"key": "switch-on", "kind": "solution", "title": "Switch it on"},
        {"key": "cleared", "kind": "solution", "title": "Clearing the queue fixed it"},
        {"key": "call-vendor", "kind": "solution", "title": "Log a call with the vendor"},
    ],
}

MAIL_TREE = {
    "slug": "mail",
    "name": "Mailbox full",
    "baseline_minutes": 20,
    "start": "check-size",
    "nodes": [
        {
            "key": "check-size",
            "kind": "action",
            "title": "Check the mailbox size",
            "next": "archived",
        },
        {"key": "archived", "kind": "solution", "title": "Enable the online archive"},
    ],
}


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def play(
    version: TreeVersion,
    engineer,
    clock,
    *,
    at: datetime,
    moves: Sequence[tuple[float, str]] = (),
    outcome_code: str | None = None,
    close_after: float = 0,
) -> Session:
    """Start a session at `at`, then for each (seconds, move) wait and make the move
    (a choice label, "Done", "Back", "Pause", "Resume", or "Handoff" to the
    engineer named after a colon, "Handoff:bob"); complete with `outcome_code`
    after `close_after`."""
    clock.set(at)
    session = services.session_create(tree=version.tree, engineer=engineer)
    for seconds, move in moves:
        clock.advance(seconds)
        step = session.decisions.select_related("node").get(exited_at__isnull=True)
        if move in ("Pause", "Resume"):
            pause_or_resume = services.session_pause if move == "Pause" else services.session_resume
            pause_or_resume(session=session, by=engineer)
        elif move.startswith("Handoff:"):
            to = get_user_model().objects.get(username=move.split(":", 1)[1])
            services.session_hand_off(session=session, to=to, by=engineer, note="Over to you")
            session.refresh_from_db()
        elif move == "Done":
            services.decision_done(session=session, decision_id=step.pk)
        elif move == "Back":
            services.decision_back(session=session, decision_id=step.pk)
        else:
            choice = step.node.choices.get(label=move)
            services.decision_answer(session=session, decision_id=step.pk, choice_id=choice.pk)
    if outcome_code is not None:
        clock.advance(close_after)
        session.refresh_from_db()
        services.session_complete(
            session=session, outcome=outcome(outcome_code), by=session.engineer
        )
    session.refresh_from_db()
    return session


@dataclass
class Dataset:
    vpn: TreeVersion
    printer: TreeVersion
    mail: TreeVersion


def build_dataset(clock, alice, bob) -> Dataset:
    """The hand-computed dataset of test_metrics.py; every figure there derives from this.

    In range (1–10 February 2026, UTC):
      VPN (baseline 35 min = 2100 s)
        V1 alice 2 Feb  Yes 60, Done 120, Yes 30, resolved after 90       = 300 s, 4 steps
        V2 bob   3 Feb  No 40, workaround after 560                       = 600 s, 2 steps
        V3 alice 4 Feb  Yes 100, Done 200, No 50, Back 10 (undoes the No),
                        escalated after 300 at works-now (a drop-off)     = 660 s, 3 steps
        V4 bob   5 Feb  Yes 30, Done 600, Yes 20, resolved after 50       = 700 s, 4 steps
        V5 alice 6 Feb  Yes 20, cancelled after 100 at reset-creds (drop) = 120 s, 2 steps
        V6 bob   9 Feb  Yes 45, still active at reset-creds                         2 steps
        V7 alice 10 Feb Yes 300, Done 1500, Yes 200, resolved after 400   = 2400 s, 4 steps
      Printer (no baseline)
        P1 bob   1 Feb 00:00:00 (first instant)  On 30, Done 90, Yes 20, resolved after 60
                                                                          = 200 s, 4 steps
        P2 alice 6 Feb  Off 15, resolved externally after 45              = 60 s, 2 steps
        P3 bob   8 Feb  On 60, Done 240, No 30, unresolved after 70       = 400 s, 4 steps
      Mail (baseline 20 min): M1 alice 10 Feb, active at its first step.
    Outside the range: V8 alice 25 Jan (the previous period) resolved, 1000 s;
    V9 bob 11 Feb 00:00:00 (first instant after the range) unresolved, 20 s;
    a prepared (never started) VPN session for alice.
    """
    vpn = build_version(VPN_TREE)
    printer = build_version(PRINTER_TREE)
    mail = build_version(MAIL_TREE)

    play(
        vpn,
        alice,
        clock,
        at=utc(2, 2, 10),
        moves=[(60, "Yes"), (120, "Done"), (30, "Yes")],
        outcome_code="resolved",
        close_after=90,
    )
    play(
        vpn,
        bob,
        clock,
        at=utc(2, 3, 11),
        moves=[(40, "No")],
        outcome_code="workaround",
        close_after=560,
    )
    play(
        vpn,
        alice,
        clock,
        at=utc(2, 4, 9),
        moves=[(100, "Yes"), (200, "Done"), (50, "No"), (10, "Back")],
        outcome_code="escalated",
        close_after=300,
    )
    play(
        vpn,
        bob,
        clock,
        at=utc(2, 5, 14),
        moves=[(30, "Yes"), (600, "Done"), (20, "Yes")],
        outcome_code="resolved",
        close_after=50,
    )
    play(
        vpn,
        alice,
        clock,
        at=utc(2, 6, 16),
        moves=[(20, "Yes")],
        outcome_code="cancelled",
        close_after=100,
    )
    play(vpn, bob, clock, at=utc(2, 9, 8), moves=[(45, "Yes")])
    play(
        vpn,
        alice,
        clock,
        at=utc(2, 10, 7),
        moves=[(300, "Yes"), (1500, "Done"), (200, "Yes")],
        outcome_code="resolved",
        close_after=400,
    )

    play(
        printer,
        bob,
        clock,
        at=utc(2, 1),
        moves=[(30, "On"), (90, "Done"), (20, "Yes")],
        outcome_code="resolved",
        close_after=60,
    )
    play(
        printer,
        alice,
        clock,
        at=utc(2, 6, 12),
        moves=[(15, "Off")],
        outcome_code="resolved_externally",
        close_after=45,
    )
    play(
        printer,
        bob,
        clock,
        at=utc(2, 8, 13),
        moves=[(60, "On"), (240, "Done"), (30, "No")],
        outcome_code="unresolved",
        close_after=70,
    )

    play(mail, alice, clock, at=utc(2, 10, 8))

    play(
        vpn,
        alice,
        clock,
        at=utc(1, 25, 10),
        moves=[(100, "Yes"), (300, "Done"), (100, "Yes")],
        outcome_code="resolved",
        close_after=500,
    )
    play(
        vpn,
        bob,
        clock,
        at=utc(2, 11),
        moves=[(10, "No")],
        outcome_code="unresolved",
        close_after=10,
    )
    clock.set(utc(2, 10, 9))
    services.session_prepare(tree=vpn.tree, engineer=alice, by=alice)
    return Dataset(vpn=vpn, printer=printer, mail=mail)


# --- a realistic history, for pages, the browser test and screenshots ------------------

DEMO_PATHS = {
    # tree slug: list of (weight, moves as (mean seconds, move), outcome codes by weight, close)
    "vpn": [
        (5, [(90, "Yes"), (240, "Done"), (40, "Yes")], {"resolved": 8, "workaround": 1}, 120),
        (2, [(60, "No")], {"resolved": 5, "escalated": 1}, 600),
        (2, [(80, "Yes"), (300, "Done"), (60, "No")], {"escalated": 3, "unresolved": 1}, 200),
        (1, [(50, "Yes"), (200, "Done"), (50, "No"), (20, "Back")], {"cancelled": 1}, 90),
        (1, [(40, "Yes")], {"resolved_externally": 1, "cancelled": 1}, 60),
    ],
    "printer": [
        (5, [(40, "On"), (150, "Done"), (30, "Yes")], {"resolved": 6, "workaround": 1}, 90),
        (2, [(30, "Off")], {"resolved": 1}, 60),
        (2, [(45, "On"), (200, "Done"), (40, "No")], {"unresolved": 1, "escalated": 2}, 180),
    ],
    "mail": [
        (4, [(400, "Done")], {"resolved": 5, "workaround": 1}, 300),
    ],
}


def build_history(
    clock,
    engineers: Sequence,
    *,
    count: int = 150,
    days: int = 45,
    end: datetime | None = None,
    seed: int = 7,
) -> dict[str, TreeVersion]:
    """`count` sessions spread over the `days` before `end`, through the services: the
    outcome mix, durations and drop-offs of a plausible service desk."""
    rng = random.Random(seed)
    end = end or clock.now()
    versions = {
        spec["slug"]: TreeVersion.objects.filter(
            tree__slug=spec["slug"], status=TreeVersion.Status.PUBLISHED
        ).first()
        or build_version(spec)
        for spec in (VPN_TREE, PRINTER_TREE, MAIL_TREE)
    }
    tree_weights = {"vpn": 5, "printer": 3, "mail": 2}
    starts = sorted(
        end - timedelta(days=rng.uniform(0, days), hours=rng.uniform(1, 3)) for _ in range(count)
    )
    for index, at in enumerate(starts):
        slug = rng.choices(list(tree_weights), weights=list(tree_weights.values()))[0]
        paths = DEMO_PATHS[slug]
        _, moves, outcomes, close = rng.choices(paths, weights=[p[0] for p in paths])[0]
        engineer = engineers[rng.randrange(len(engineers))]
        timed = [(max(5, rng.gauss(mean, mean / 3)), move) for mean, move in moves]
        # The newest few stay open: sessions in progress right now.
        still_open = index >= count - 3
        code = None if still_open else rng.choices(list(outcomes), list(outcomes.values()))[0]
        play(
            versions[slug],
            engineer,
            clock,
            at=at,
            moves=timed,
            outcome_code=code,
            close_after=max(10, rng.gauss(close, close / 3)),
        )
    clock.set(end)
    return versions


def build_sparse_dataset(clock, engineer) -> TreeVersion:
    """A VPN tree where the steps visited once would be the slowest and the most
    abandoned if one visit were enough (1–6 February 2026, UTC):

      five sessions: No after 10 s at client-installed, resolved at install-client;
      one session: Yes after 10 s, Done after 900 s at reset-creds (its only visit),
        cancelled after 5 s at works-now (its only visit, a drop-off).

    client-installed (6 visits, median 10 s) is the only step with enough visits.
    """
    vpn = build_version(VPN_TREE)
    for day in range(1, 6):
        play(
            vpn,
            engineer,
            clock,
            at=utc(2, day, 9),
            moves=[(10, "No")],
            outcome_code="resolved",
            close_after=30,
        )
    play(
        vpn,
        engineer,
        clock,
        at=utc(2, 6, 9),
        moves=[(10, "Yes"), (900, "Done")],
        outcome_code="cancelled",
        close_after=5,
    )
    return vpn


def build_lifecycle_dataset(clock, alice, bob, *, mail: TreeVersion | None = None) -> TreeVersion:
    """March: sessions with pauses, an idle gap and a hand-off (test_metrics.py
    computes its figures by hand; test_databases.py compares them across databases).
    Runs with the default IDLE_AFTER_MINUTES (30)."""
    mail = mail or build_version(MAIL_TREE)
    # M1, alice: 60 s, paused 600 s, 30 s, then 40 s: wall clock 730 s, active 130 s.
    play(
        mail, alice, clock, at=utc(3, 2, 9),
        moves=[(60, "Pause"), (600, "Resume"), (30, "Done")],
        outcome_code="resolved", close_after=40,
    )  # fmt: skip
    # M2, alice then bob: 100 s by alice, handed off, 50 s by bob: active 150 s.
    play(
        mail, alice, clock, at=utc(3, 3, 9),
        moves=[(100, "Handoff:bob")],
        outcome_code="resolved", close_after=50,
    )  # fmt: skip
    # M3, bob: 20 s, then 7,210 s before the next action (completing): 1,800 s
    # count, the 5,410 s beyond are idle. Wall clock 7,230 s, active 1,820 s.
    play(
        mail, bob, clock, at=utc(3, 4, 9),
        moves=[(20, "Done")],
        outcome_code="unresolved", close_after=7_210,
    )  # fmt: skip
    return mail
