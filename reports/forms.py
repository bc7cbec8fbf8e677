"""The report filters (SPEC §6): `?from=YYYY-MM-DD&to=YYYY-MM-DD&tree=<slug>&engineer=<username>`.

A bad value never fails the page: it is replaced by its default (the last 30
days, all trees, all engineers) and explained in one sentence, by the same
rules and in the same words as the history's filters (`sessions.filters`, which
says why both are forms rather than django-filter FilterSets). The options come
from lists the view loads once, so the form itself never queries the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django import forms
from django.contrib.auth.models import AbstractBaseUser

from reports.metrics import TREE_SORTS, ReportFilter, local_today
from sessions.filters import NOT_A_CHOICE, FilterForm, choice_field, engineer_label
from trees.models import Tree

DEFAULT_DAYS = 30
PRESETS = (7, 30, 90)
MAX_DAYS = 1827


class ReportFilterForm(FilterForm):
    """Bound to request.GET; `resolve()` gives the filter to run and what was ignored.

    The date rules and messages are the history's (`sessions.filters.FilterForm`);
    on top, a range longer than MAX_DAYS is dropped as a whole. `trees` and
    `engineers` are the options; `versions` (the drill-down) the version numbers
    a `version` may name, or None where there is no version choice.
    """

    tree = choice_field("Tree")
    engineer = choice_field("Engineer")
    sort = forms.ChoiceField(label="Sort", required=False, error_messages=NOT_A_CHOICE)
    version = forms.TypedChoiceField(
        label="Version", required=False, coerce=int, empty_value=None, error_messages=NOT_A_CHOICE
    )

    def __init__(
        self,
        data=None,
        *,
        trees: Sequence[Tree],
        engineers: Sequence[AbstractBaseUser],
        versions: Sequence[int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(data, **kwargs)
        self.trees = {tree.slug: tree for tree in trees}
        self.engineers = {user.get_username(): user for user in engineers}
        self.fields["tree"].choices = [("", "All trees")] + [(t.slug, t.name) for t in trees]
        self.fields["engineer"].choices = [("", "All engineers")] + [
            (username, engineer_label(user)) for username, user in self.engineers.items()
        ]
        self.fields["sort"].choices = [("", "Default")] + [
            (f"{prefix}{key}", key) for key in TREE_SORTS for prefix in ("", "-")
        ]
        if versions is None:
            del self.fields["version"]
        else:
            self.fields["version"].choices = [("", "All versions")] + [
                (str(number), f"Version {number}") for number in versions
            ]

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and (end - start).days + 1 > MAX_DAYS:
            self.add_error(None, f"A report covers at most {MAX_DAYS} days.")
        return cleaned

    def explain(self, error: str) -> str:
        return f"{error} Showing the last {DEFAULT_DAYS} days."

    def resolve(self, *, tree: Tree | None = None) -> Resolved:
        """The filter to run: valid values as given, defaults for the rest.

        `tree` fixes the tree (the drill-down's comes from its URL).
        """
        ignored = self.ignored  # validates once; cleaned_data holds only the valid values
        data = self.cleaned_data

        today = local_today()
        start, end = data.get("from"), data.get("to")
        if self.non_field_errors():
            start = end = None
        if start is None and end is None:
            end = today
            start = today - timedelta(days=DEFAULT_DAYS - 1)
        elif start is None:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        elif end is None:
            end = max(start, min(today, start + timedelta(days=MAX_DAYS - 1)))
        tree = tree or self.trees.get(data.get("tree") or "")
        engineer = self.engineers.get(data.get("engineer") or "")
        version = data.get("version") if tree is not None else None
        return Resolved(
            filter=ReportFilter(start, end, tree, engineer, version),
            sort=data.get("sort") or "",
            ignored=ignored,
        )


@dataclass
class Resolved:
    filter: ReportFilter
    sort: str = ""
    ignored: list[str] = field(default_factory=list)

    def query(self, **changes) -> dict[str, str]:
        """The query-string values describing this filter, with `changes` applied
        (None drops a key)."""
        report_filter = self.filter
        values = {
            "from": report_filter.date_from.isoformat(),
            "to": report_filter.date_to.isoformat(),
            "tree": report_filter.tree.slug if report_filter.tree else "",
            "engineer": report_filter.engineer.get_username() if report_filter.engineer else "",
            "sort": self.sort,
            "version": str(report_filter.version) if report_filter.version else "",
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value}
