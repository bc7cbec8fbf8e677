"""The history page's filters (SPEC §4): status, outcome, tree, engineer, dates, text.

Filters live in the query string with readable values (`?status=active&outcome=
resolved&tree=vpn&engineer=alice&from=2026-02-01&to=2026-02-10&q=acme`), the same
conventions as the reports (SPEC §6), so a filtered history is bookmarkable.

The choices come from lists the view loads once (one query each) and passes
in: the form never queries the database itself, so the page keeps its constant
query budget however many filters are set.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from resolutionflow.widgets import PlainSelect
from sessions.models import Outcome, Session, SessionQuerySet
from trees.models import Tree

TEXT_MAX = 200
NOT_A_CHOICE = {"invalid_choice": "it is not one of the choices."}
NOT_A_DATE = {"invalid": "it is not a date (use YYYY-MM-DD)."}
# Dates beyond these cannot become the day's bounds in every time zone (year 1 and
# 9999 overflow); no session was ever started outside them.
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)


def engineer_label(user: AbstractBaseUser) -> str:
    full = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return f"{full} ({user.get_username()})" if full else user.get_username()


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the configured TIME_ZONE (SPEC §6: calendar days)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


class HistoryFilterForm(forms.Form):
    """Bound to `request.GET`. Invalid values are dropped, each with a message.

    `trees`, `outcomes` and `engineers` are the options to offer; `engineers`
    is None for people who only see their own sessions (no engineer filter).
    """

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=TEXT_MAX,
        error_messages={"max_length": f"it is longer than {TEXT_MAX} characters."},
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Ticket, client or summary",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *Session.Status.choices],
        error_messages=NOT_A_CHOICE,
        widget=PlainSelect,
    )
    outcome = forms.ChoiceField(
        label="Outcome", required=False, error_messages=NOT_A_CHOICE, widget=PlainSelect
    )
    tree = forms.ChoiceField(
        label="Tree", required=False, error_messages=NOT_A_CHOICE, widget=PlainSelect
    )
    engineer = forms.ChoiceField(
        label="Engineer", required=False, error_messages=NOT_A_CHOICE, widget=PlainSelect
    )

    def __init__(
        self,
        data=None,
        *,
        trees: Sequence[Tree],
        outcomes: Sequence[Outcome],
        engineers: Sequence[AbstractBaseUser] | None,
        **kwargs,
    ) -> None:
        super().__init__(data, **kwargs)
        # "from" is a Python keyword, so the date fields are added here.
        self.fields["from"] = forms.DateField(
            label="Started from",
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            error_messages=NOT_A_DATE,
        )
        self.fields["to"] = forms.DateField(
            label="Started to",
            required=False,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            error_messages=NOT_A_DATE,
        )
        self._tree_ids = {tree.slug: tree.pk for tree in trees}
        self._outcome_ids = {outcome.code: outcome.pk for outcome in outcomes}
        self.fields["tree"].choices = [("", "Any tree")] + [(t.slug, t.name) for t in trees]
        self.fields["outcome"].choices = [("", "Any outcome")] + [
            (o.code, o.label if o.is_active else f"{o.label} (retired)") for o in outcomes
        ]
        if engineers is None:
            del self.fields["engineer"]
            self._engineer_ids = {}
        else:
            self._engineer_ids = {user.get_username(): user.pk for user in engineers}
            self.fields["engineer"].choices = [("", "Any engineer")] + [
                (user.get_username(), engineer_label(user)) for user in engineers
            ]

    def _in_range(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        if day is not None and not EARLIEST <= day <= LATEST:
            raise forms.ValidationError(
                f"it is out of range ({EARLIEST.year}–{LATEST.year}).", code="out_of_range"
            )
        return day

    def clean_from(self) -> date | None:
        return self._in_range("from")

    def clean_to(self) -> date | None:
        return self._in_range("to")

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end:
            self.add_error("to", "it is before “Started from”.")
        return cleaned

    @property
    def ignored(self) -> list[str]:
        """One sentence per filter value that could not be used."""
        if not self.is_bound or self.is_valid():
            return []
        messages = []
        for name, errors in self.errors.items():
            field = self.fields[name]
            value = str(self.data.get(name, ""))
            if len(value) > 40:
                value = value[:39] + "…"
            messages.append(f"{field.label} “{value}” was ignored: {' '.join(errors)}")
        return messages

    @property
    def applied(self) -> dict:
        """The filters in use (valid and non-empty), by query-string name."""
        if not self.is_bound:
            return {}
        self.is_valid()  # cleans once; cleaned_data then holds only the valid fields
        return {name: value for name, value in self.cleaned_data.items() if value}

    def filter(self, sessions: SessionQuerySet) -> SessionQuerySet:
        """`sessions` narrowed by every valid filter; invalid ones are left out."""
        applied = self.applied
        if text := applied.get("q", "").strip():
            sessions = sessions.filter(
                Q(ticket_ref__icontains=text)
                | Q(client__icontains=text)
                | Q(summary__icontains=text)
            )
        if status := applied.get("status"):
            sessions = sessions.with_status(status)
        if code := applied.get("outcome"):
            sessions = sessions.filter(outcome_id=self._outcome_ids[code])
        if slug := applied.get("tree"):
            sessions = sessions.filter(tree_id=self._tree_ids[slug])
        if username := applied.get("engineer"):
            sessions = sessions.filter(engineer_id=self._engineer_ids[username])
        if start := applied.get("from"):
            sessions = sessions.filter(started_at__gte=day_start(start))
        if end := applied.get("to"):
            sessions = sessions.filter(started_at__lt=day_start(end + timedelta(days=1)))
        return sessions
