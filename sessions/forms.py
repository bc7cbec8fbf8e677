"""Forms for starting, preparing, stepping through and completing sessions.

Forms validate; the views hand `cleaned_data` to `sessions.services`.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib.auth import get_user_model

from resolutionflow.widgets import PlainSelect
from sessions.models import Decision, Handoff, Outcome, Session
from sessions.services import handoff_candidates
from trees.models import Tree

NOTES_MAX = Decision._meta.get_field("notes").max_length
SCRATCHPAD_MAX = Session._meta.get_field("scratchpad").max_length


class StartForm(forms.Form):
    """The Start form on a tree page (SPEC §4.1: Ticket, Client, Summary)."""

    ticket_ref = forms.CharField(
        label="Ticket",
        max_length=Session._meta.get_field("ticket_ref").max_length,
        required=False,
    )
    client = forms.CharField(
        label="Client", max_length=Session._meta.get_field("client").max_length, required=False
    )
    summary = forms.CharField(
        label="Summary",
        max_length=Session._meta.get_field("summary").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Generated when the form is rendered: a double submit finds the session
    # the first submit created instead of starting a second one.
    session_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("session_id", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.fields["ticket_ref"].widget.attrs.update(
            {"autocomplete": "off", "spellcheck": "false", "placeholder": "e.g. T-1042"}
        )
        self.fields["client"].widget.attrs.update({"autocomplete": "organization"})

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("ticket_ref", "client"):
            if isinstance(cleaned.get(name), str):
                cleaned[name] = cleaned[name].strip()
        return cleaned


class EngineerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.get_username()})" if full else obj.get_username()


class PrepareForm(StartForm):
    """A manager prepares a session for an engineer, who starts it later."""

    engineer = EngineerChoiceField(
        label="Engineer",
        queryset=get_user_model().objects.none(),
        empty_label="Choose an engineer…",
    )
    tree = forms.ModelChoiceField(
        label="Tree",
        queryset=Tree.objects.none(),
        to_field_name="slug",
        empty_label="Choose a tree…",
    )

    field_order = ["engineer", "tree", "ticket_ref", "client", "summary", "session_id"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name="Engineers")
            .distinct()
            .order_by("first_name", "last_name", "username")
        )
        self.fields["tree"].queryset = Tree.objects.published().order_by("name")


class SentFieldsForm(forms.Form):
    """A form that tells a field left out of the post from a field sent empty.

    A browser sends every text input and textarea of a form, empty or not, so a
    field missing from the body was not on the page that posted (the history
    popover has no Next steps) or the post was made by hand. Read as empty, it
    would blank what is saved. Fields in `kept` read as None then (the service
    keeps what is saved); fields in `must_send` refuse the post, since saving
    them is all it does.
    """

    kept: tuple[str, ...] = ()
    must_send: tuple[str, ...] = ()

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in self.kept:
            if name not in self.data:
                cleaned[name] = None
        for name in self.must_send:
            if name not in self.data:
                self.add_error(
                    name,
                    f"Nothing was saved: the form arrived without its "
                    f"{str(self.fields[name].label).lower()} field. Reload the page and try again.",
                )
        return cleaned


class StepForm(SentFieldsForm):
    """What every step action posts: the step it was made from, and its notes.

    Answering, Done and Back without notes keep the step's notes.
    """

    kept = ("notes",)

    decision = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "Nothing was saved: the form arrived without its step. "
            "Reload the page and try again."
        },
    )
    notes = forms.CharField(
        label="Step notes",
        max_length=NOTES_MAX,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AnswerForm(StepForm):
    choice = forms.IntegerField(min_value=1, error_messages={"required": "Choose an answer."})


class NotesForm(StepForm):
    """Save notes: without its notes field the post has nothing to save."""

    kept = ()
    must_send = ("notes",)


class ScratchpadForm(SentFieldsForm):
    must_send = ("scratchpad",)

    scratchpad = forms.CharField(
        label="Scratchpad",
        max_length=SCRATCHPAD_MAX,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
    )


class CompleteForm(SentFieldsForm):
    """The completion dialog on the navigation page (posts to `sessions:complete`).

    Notes or next steps left out of the post keep what the session has.
    """

    kept = ("outcome_notes", "next_steps")

    outcome = forms.ModelChoiceField(
        label="Outcome",
        queryset=Outcome.objects.none(),
        to_field_name="code",
        empty_label="Choose an outcome…",
        widget=PlainSelect,
    )
    outcome_notes = forms.CharField(
        label="Outcome notes",
        max_length=Session._meta.get_field("outcome_notes").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    next_steps = forms.CharField(
        label="Next steps",
        max_length=Session._meta.get_field("next_steps").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["outcome"]
        field.queryset = Outcome.objects.active()
        # The options from one plain query: a model field's own choices iterate with
        # `.iterator()`, a server-side cursor on PostgreSQL (three round trips) on
        # every page that shows the dialog. Posting still checks the code against
        # the queryset.
        field.widget.choices = [
            ("", field.empty_label),
            *Outcome.objects.active().values_list("code", "label"),
        ]


class HandoffForm(StepForm):
    """`Hand off` on the navigation page: a colleague and a note.

    The dialog lives outside the step region that htmx swaps, so it carries no
    step (`decision` is optional): two hand-offs racing still cannot both win,
    since the loser is no longer the session's engineer (or finds it moved on).
    """

    # Optional here (see above); when sent, it must still be the open step.
    decision = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)
    colleague = EngineerChoiceField(
        label="Colleague",
        queryset=get_user_model().objects.none(),
        empty_label="Choose a colleague…",
    )
    note = forms.CharField(
        label="Hand-off note",
        max_length=Handoff._meta.get_field("note").max_length,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you tried and what is left to do: they read this first.",
        error_messages={"required": "Write a hand-off note: what you tried, what is left."},
    )

    field_order = ["colleague", "note", "decision", "notes"]

    def __init__(self, *args, session: Session, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["colleague"].queryset = handoff_candidates().exclude(pk=session.engineer_id)
        self.fields["colleague"].error_messages["invalid_choice"] = (
            "Choose a colleague from the list (an active engineer or manager)."
        )


class EditDetailsForm(forms.Form):
    """`Edit details`: ticket, client and summary after the start (SPEC §9)."""

    ticket_ref = StartForm.base_fields["ticket_ref"]
    client = StartForm.base_fields["client"]
    summary = StartForm.base_fields["summary"]

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("ticket_ref", "client"):
            if isinstance(cleaned.get(name), str):
                cleaned[name] = cleaned[name].strip()
        # A field left out of the post keeps what the session has.
        for name in ("ticket_ref", "client", "summary"):
            if name not in self.data:
                cleaned[name] = None
        return cleaned
