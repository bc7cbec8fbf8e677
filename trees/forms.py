"""Forms for the tree library and the admin import page."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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


# --- the designer (SPEC §8) ------------------------------------------------------------

NEW = "new"
KIND_CHOICES = [("question", "Question"), ("action", "Action"), ("solution", "Solution")]


class _DesignerForm(forms.Form):
    """Labels without Django's trailing colon: they are the fields' accessible names."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class NodeOptions:
    """A version's nodes as `<option>`s, escaped once for every select of a panel.

    A question's panel has a select per answer, one for the new answer and one
    for deleting, each listing every node (500 in a large tree): written with
    Django's Select and ChoiceField that is thousands of template renders and
    choice normalisations per save.
    """

    def __init__(self, nodes) -> None:
        self.items = [(str(node.pk), escape(f"{node.key}: {node.title}"[:90])) for node in nodes]
        self.values = {value for value, _ in self.items}


class NodeSelect(forms.Widget):
    """A `<select>` of a version's nodes (NodeOptions), with fixed options first."""

    def __init__(self, options: NodeOptions, *, head=(), exclude: str | None = None) -> None:
        super().__init__()
        self.options, self.head, self.exclude = options, head, exclude

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        chosen = "" if value is None else str(value)
        parts = [f"<select{flatatt(final)}>"]
        items = [(v, escape(label)) for v, label in self.head] + self.options.items
        for option, label in items:
            if option == self.exclude:
                continue
            selected = " selected" if option == chosen else ""
            parts.append(f'<option value="{option}"{selected}>{label}</option>')
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - values are ids, labels escaped


class NodeChoiceField(forms.CharField):
    """A node of the version (its id), or one of `head`'s values ("" none, "new")."""

    def __init__(self, *, options: NodeOptions, head=(), exclude=None, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(widget=NodeSelect(options, head=head, exclude=exclude), **kwargs)
        self.allowed = (options.values - {exclude}) | {value for value, _ in head}

    def validate(self, value) -> None:
        super().validate(value)
        if value and value not in self.allowed:
            raise forms.ValidationError(
                "Select a valid choice. That choice is not one of the available choices.",
                code="invalid_choice",
            )


EMPTY = NodeOptions([])


class NodeDesignForm(_DesignerForm):
    """A node's own fields in the designer's side panel."""

    seen = forms.CharField(widget=forms.HiddenInput, max_length=64)
    key = forms.SlugField(
        label="Key",
        max_length=100,
        help_text="Letters, digits, hyphens; keep it stable across versions.",
    )
    kind = forms.ChoiceField(label="Kind", choices=KIND_CHOICES)
    title = forms.CharField(label="Title", max_length=200)
    body = forms.CharField(
        label="Body", required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 5})
    )
    command = forms.CharField(
        label="Command",
        required=False,
        max_length=5_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono-input"}),
    )
    is_start = forms.BooleanField(label="Start node", required=False)
    next_title = forms.CharField(label="Title of the new next node", required=False, max_length=200)

    def __init__(self, *args, options: NodeOptions = EMPTY, node=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.node = node
        fields = list(self.fields.items())
        at = [name for name, _ in fields].index("next_title")
        fields.insert(
            at,
            (
                "next",
                NodeChoiceField(
                    label="Next node",
                    options=options,
                    head=[("", "(none)"), (NEW, "A new node…")],
                    exclude=str(node.pk) if node is not None else None,
                ),
            ),
        )
        self.fields = dict(fields)

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        if self.node is not None:
            clash = self.node.version.nodes.filter(key=key).exclude(pk=self.node.pk)
            if clash.exists():
                raise forms.ValidationError("Another node of this version already has this key.")
        return key

    def clean_command(self) -> str:
        return self.cleaned_data["command"].strip("\n")

    def clean(self):
        data = super().clean()
        if data.get("next") == NEW and not (data.get("next_title") or "").strip():
            self.add_error("next_title", "Give the new next node a title.")
        return data


class AnswerForm(_DesignerForm):
    """One answer of a question: label, where it leads, its place."""

    label = forms.CharField(label="Answer", max_length=200)
    target = forms.CharField(label="Leads to", required=False)
    new_title = forms.CharField(label="Title of the new node", required=False, max_length=200)
    new_kind = forms.ChoiceField(
        label="Kind of the new node", choices=KIND_CHOICES, initial="solution", required=False
    )
    position = forms.IntegerField(label="Order", min_value=0, max_value=1000, required=False)
    delete = forms.BooleanField(label="Remove", required=False)

    def __init__(self, *args, options: NodeOptions = EMPTY, adding: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        head = [(NEW, "A new node…")] if adding else [("", "(nowhere yet)"), (NEW, "A new node…")]
        self.fields["target"] = NodeChoiceField(label="Leads to", options=options, head=head)
        if adding:
            self.fields["label"].required = False
            self.fields["target"].initial = NEW

    def clean(self):
        data = super().clean()
        wants_new = data.get("target") == NEW and not data.get("delete") and data.get("label")
        if wants_new and not (data.get("new_title") or "").strip():
            self.add_error("new_title", "Give the new node a title.")
        return data


class NodeAddForm(_DesignerForm):
    kind = forms.ChoiceField(label="Kind", choices=KIND_CHOICES, initial="question")
    title = forms.CharField(label="Title", max_length=200)


class NodeDeleteForm(_DesignerForm):
    def __init__(self, *args, options: NodeOptions = EMPTY, node=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["retarget"] = NodeChoiceField(
            label="Point their arrows at",
            options=options,
            head=[("", "(choose a node)")],
            exclude=str(node.pk) if node is not None else None,
        )


class CompareForm(_DesignerForm):
    a = forms.TypedChoiceField(label="From version", coerce=int)
    b = forms.TypedChoiceField(label="To version", coerce=int)

    def __init__(self, *args, numbers=(), **kwargs):
        super().__init__(*args, **kwargs)
        options = [(n, f"Version {n}") for n in numbers]
        self.fields["a"].choices = options
        self.fields["b"].choices = options


class DuplicateTreeForm(_DesignerForm):
    name = forms.CharField(label="Name", max_length=200)
    slug = forms.SlugField(label="Slug", max_length=100)

    def clean_slug(self) -> str:
        from trees.models import Tree

        slug = self.cleaned_data["slug"]
        if Tree.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A tree with this slug already exists.")
        return slug
