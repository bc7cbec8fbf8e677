"""The list filters of the history page (SPEC §4) and the reports (SPEC §6).

Filters live in the query string with readable values (`?status=active&outcome=
resolved&tree=vpn&engineer=alice&from=2026-02-01&to=2026-02-10&q=acme`), so a
filtered page is bookmarkable. A value that cannot be used never fails the
page: it is dropped and explained in one sentence ("Tree “x” was ignored: …").

Both pages filter through `FilterForm`, a plain Django form bound to
`request.GET`, rather than a django-filter `FilterSet`: only the history turns
its filters into one queryset (`HistoryFilterForm.filter`), while the reports
resolve theirs into a `ReportFilter` with defaults and a maximum range for
`reports.metrics` to run many queries on, so a FilterSet's `.qs` would serve
one page of two and the shared date rules would still need a form of their own.

The choices come from lists the view loads once (`filter_options` for the
history, one query each, cached) and passes in: the form never queries the
database itself, so a page keeps its constant query budget however many
filters are set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator

from resolutionflow.widgets import PlainSelect, option_tags
from sessions.cards import cached_for_history
from sessions.models import Outcome, Session, SessionQuerySet
from trees.models import Tree

TEXT_MAX = 200
NOT_A_CHOICE = {"invalid_choice": "there is no such choice."}
NOT_A_DATE = {"invalid": "it is not a date (use YYYY-MM-DD)."}
# Far enough back for any real history, near enough that a report's previous
# period and the time-zone arithmetic stay inside what dates and datetimes hold.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
# A dropped value is quoted in its message up to this many characters.
QUOTE_MAX = 40


def engineer_label(user: AbstractBaseUser) -> str:
    full = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return f"{full} ({user.get_username()})" if full else user.get_username()


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the configured TIME_ZONE (SPEC §6: calendar days)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def choice_field(label: str) -> forms.ChoiceField:
    """An optional select whose choices the form sets from the lists it is given."""
    return forms.ChoiceField(
        label=label, required=False, error_messages=NOT_A_CHOICE, widget=PlainSelect
    )


def date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages=NOT_A_DATE,
    )


class FilterForm(forms.Form):
    """Filters bound to `request.GET`, with a `from`–`to` range of calendar days.

    A date must be YYYY-MM-DD between EARLIEST and LATEST, and `to` not before
    `from`; a date that breaks a rule is dropped, the other one kept. `ignored`
    says in one sentence per value what was dropped and why.
    """

    from_label = "From"
    to_label = "To"

    def __init__(self, data=None, **kwargs) -> None:
        super().__init__(data, **kwargs)
        # "from" is a Python keyword, so the date fields are added here.
        self.fields["from"] = date_field(self.from_label)
        self.fields["to"] = date_field(self.to_label)

    @classmethod
    def reads(cls, query) -> bool:
        """Whether `query` holds any of this form's fields (without it, nothing is applied)."""
        return any(name in query for name in (*cls.base_fields, "from", "to"))

    @staticmethod
    def _in_range(day: date | None) -> date | None:
        if day is not None and not EARLIEST <= day <= LATEST:
            raise forms.ValidationError(
                f"it is outside {EARLIEST.year}–{LATEST.year}.", code="out_of_range"
            )
        return day

    def clean_from(self) -> date | None:
        return self._in_range(self.cleaned_data.get("from"))

    def clean_to(self) -> date | None:
        return self._in_range(self.cleaned_data.get("to"))

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end:
            self.add_error("to", f"it is before “{self.from_label}”.")
        return cleaned

    def explain(self, error: str) -> str:
        """The sentence for an error about the filters together (not one value)."""
        return error

    @property
    def ignored(self) -> list[str]:
        """One sentence per filter value that could not be used."""
        if not self.is_bound or self.is_valid():
            return []
        messages = []
        for name, errors in self.errors.items():
            if name == NON_FIELD_ERRORS:
                messages.extend(self.explain(error) for error in errors)
                continue
            value = str(self.data.get(name, ""))
            if len(value) > QUOTE_MAX:
                value = value[: QUOTE_MAX - 1] + "…"
            messages.append(f"{self.fields[name].label} “{value}” was ignored: {' '.join(errors)}")
        return messages


@dataclass(frozen=True)
class Option:
    """One choice of a filter list: its query-string value, its label, the row's id."""

    value: str
    label: str
    pk: int


class NormalChoices(BaseChoiceIterator):
    """(value, label) pairs already in Django's normal form: a form field takes them as
    they are, instead of checking hundreds of engineers' pairs on every page."""

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)


@dataclass(frozen=True)
class OptionList:
    """A filter list, with its `<option>`s written out once (nothing selected):
    a manager's engineers are hundreds of them, on every history page."""

    blank: str
    options: tuple[Option, ...]
    choices: NormalChoices = field(init=False, compare=False)
    markup: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        pairs = (("", self.blank), *((o.value, o.label) for o in self.options))
        object.__setattr__(self, "choices", NormalChoices(pairs))
        object.__setattr__(self, "markup", str(option_tags(pairs, [""])))

    def ids(self) -> dict[str, int]:
        return {o.value: o.pk for o in self.options}


def filter_options(user, *, is_manager: bool) -> dict:
    """The choices of the history filters (HistoryFilterForm's keyword arguments):
    one query per list, cached until the history's generation changes
    (sessions.cards: a new session, a hand-off, a renamed user, tree or outcome).

    Trees and engineers are those that appear in this person's history (engineers:
    None for someone who sees only their own). Outcomes are all of them (retired
    ones included), in their admin order.
    """
    scope = "options:all" if is_manager else f"options:{user.pk}"
    return cached_for_history(scope, lambda: _filter_options(user, is_manager=is_manager))


def _filter_options(user, *, is_manager: bool) -> dict:
    visible = Session.objects.visible_to(user)
    trees = Tree.objects.filter(Exists(visible.filter(tree=OuterRef("pk")))).order_by("name")
    outcomes = list(Outcome.objects.all())
    engineers = None
    if is_manager:
        people = (
            get_user_model()
            .objects.filter(Exists(Session.objects.filter(engineer=OuterRef("pk"))))
            .order_by("username")
        )
        engineers = OptionList(
            "Any engineer",
            tuple(Option(user.get_username(), engineer_label(user), user.pk) for user in people),
        )
    return {
        "trees": OptionList(
            "Any tree",
            tuple(
                Option(slug, name, pk) for pk, slug, name in trees.values_list("pk", "slug", "name")
            ),
        ),
        "outcomes": outcomes,
        "engineers": engineers,
    }


class HistoryFilterForm(FilterForm):
    """The history's filters; no date default (every session, however old).

    `trees`, `outcomes` and `engineers` are the options to offer (see
    `filter_options`); `engineers` is None for people who only see their own
    sessions (no engineer filter).
    """

    from_label = "Started from"
    to_label = "Started to"

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
    outcome = choice_field("Outcome")
    tree = choice_field("Tree")
    engineer = choice_field("Engineer")

    def __init__(
        self,
        data=None,
        *,
        trees: OptionList,
        outcomes: Sequence[Outcome],
        engineers: OptionList | None,
        **kwargs,
    ) -> None:
        super().__init__(data, **kwargs)
        self._tree_ids = trees.ids()
        self._outcome_ids = {outcome.code: outcome.pk for outcome in outcomes}
        self._offer("tree", trees)
        self.fields["outcome"].choices = [("", "Any outcome")] + [
            (o.code, o.label if o.is_active else f"{o.label} (retired)") for o in outcomes
        ]
        if engineers is None:
            del self.fields["engineer"]
            self._engineer_ids = {}
        else:
            self._engineer_ids = engineers.ids()
            self._offer("engineer", engineers)

    def _offer(self, name: str, options: OptionList) -> None:
        self.fields[name].choices = options.choices
        self.fields[name].widget.markup = options.markup

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
