"""Forms for the tree library and the admin import page."""

from __future__ import annotations

from django import forms

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class LibraryFilterForm(forms.Form):
    """The library's search and filters; all optional, all in the query string."""

    q = forms.CharField(label="Search", max_length=100, required=False, strip=True)
    category = forms.CharField(label="Category", max_length=100, required=False)
    tag = forms.SlugField(label="Tag", max_length=50, required=False)

    def value(self, name: str) -> str:
        """The cleaned value of a field, or "" when it was missing or invalid."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        return self.cleaned_data.get(name) or ""


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data]
        files = [file for file in files if file]
        if not files and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleFileField, self).clean(file, initial) for file in files]


class TreeImportForm(forms.Form):
    files = MultipleFileField(
        label="Tree files",
        widget=MultipleFileInput(attrs={"accept": ".json,application/json"}),
        help_text="One or more .json files in the resolutionflow/tree@1 format.",
    )
    publish = forms.BooleanField(
        label="Publish",
        required=False,
        help_text="Publish each tree when it passes every rule; otherwise it is imported as "
        "a draft.",
    )

    def clean_files(self):
        files = self.cleaned_data["files"]
        for file in files:
            if file.size > MAX_IMPORT_BYTES:
                raise forms.ValidationError(
                    f"{file.name} is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.",
                    code="too_large",
                )
        return files
