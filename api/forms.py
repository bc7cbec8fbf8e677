"""The profile page's form for a new personal access token."""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings

from api.models import ApiToken
from api.services import MAX_DAYS

EXPIRY_CHOICES = [
    (7, "7 days"),
    (30, "30 days"),
    (90, "90 days"),
    (180, "180 days"),
    (365, "1 year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What the token is for, e.g. “PSA sync”.",
        error_messages={"required": "Give the token a name."},
    )
    days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=EXPIRY_CHOICES,
        error_messages={"invalid_choice": "Choose one of the expiry periods offered."},
    )

    # Generated when the form is rendered: a double submit makes one token.
    form_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("form_id", uuid.uuid4())
        kwargs["initial"].setdefault("days", min(settings.API_TOKEN_DEFAULT_DAYS, MAX_DAYS))
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name
