"""Decision trees, their versions, nodes and choices (SPEC §2).

A tree has versions; a version owns its nodes; a question node owns its
choices. Published versions are immutable: every session is pinned to the
version it ran on, so reports stay true after a tree is edited.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import DatabaseError, connections, models
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import GreaterThanOrEqual
from django.urls import reverse

MAX_NODES = 500
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_COMMAND = 5_000
MAX_CHOICES = 20
MIN_CHOICES = 2

# Library search (TreeQuerySet.search).
SEARCH_MAX_WORDS = 10
# A near miss counts from this word similarity (pg_trgm's own default is 0.6):
# "locked" against "lockout" scores 0.57, "printr" against "Printer" 0.71.
SEARCH_SIMILARITY = 0.5
# Shorter words have too few trigrams to be fuzzy: "vpn" at 0.5 would match
# any word starting "vp". They match as substrings only.
SEARCH_FUZZY_MIN_LENGTH = 4
# A near miss counts its similarity times this, so it ranks below the word found as it is
# in the same field: "printing" finds the tree tagged printing before "Printer jam".
SEARCH_NEAR_MISS = 0.5
# How much a word found in each field counts towards a tree's rank.
SEARCH_WEIGHTS = {"name": 8.0, "tags": 4.0, "category": 4.0, "description": 2.0, "nodes": 1.0}
_WORD_EDGES = "\"'“”‘’.,;:!?()[]{}"


def search_words(text: str) -> list[str]:
    """The distinct words of a search, in order, without the punctuation around them."""
    words: list[str] = []
    for raw in text.split():
        word = raw.strip(_WORD_EDGES) or raw
        if word.casefold() not in {w.casefold() for w in words}:
            words.append(word)
    return words[:SEARCH_MAX_WORDS]


@functools.cache
def _has_trigrams(alias: str) -> bool:
    """Whether the database can rank near misses (PostgreSQL with pg_trgm); asked once."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            return cursor.fetchone() is not None
    except DatabaseError:
        return False


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TreeQuerySet(models.QuerySet):
    # EXISTS subqueries rather than joins: no duplicate rows, so no DISTINCT,
    # and annotations and further filters stay correct when chained.

    def published(self) -> TreeQuerySet:
        """Trees an engineer can run: not archived, with a published version."""
        return self.filter(is_archived=False).filter(
            Exists(
                TreeVersion.objects.filter(tree=OuterRef("pk"), status=TreeVersion.Status.PUBLISHED)
            )
        )

    def search(self, text: str) -> TreeQuerySet:
        """Trees matching every word of `text`, best first.

        A word matches a tree when its name, description, category, one of its
        tags or a node title of its published version contains it, in any case;
        on PostgreSQL with pg_trgm also when one of those has a word similar
        enough to it (`SEARCH_SIMILARITY`), so "printr" finds "Printer offline"
        and "locked" finds "lockout". The words may come in any order.

        Ranked by the sum over the words of the best field each was found in
        (`SEARCH_WEIGHTS`, times `SEARCH_NEAR_MISS` × the similarity for a near
        miss), then by the number of sessions run on the tree, then by name.
        Still one query: the tags and node titles are scalar subqueries, and
        the sessions a join counted by the related name (no import of sessions).
        """
        words = search_words(text)
        if not words:
            return self
        fuzzy = _has_trigrams(self.db)
        trees = self
        rank = []
        for n, word in enumerate(words):
            strengths = {
                field: _strength(field, word, fuzzy and len(word) >= SEARCH_FUZZY_MIN_LENGTH)
                for field in SEARCH_WEIGHTS
            }
            best = Greatest(
                *(strength * Value(SEARCH_WEIGHTS[field]) for field, strength in strengths.items())
            )
            trees = trees.alias(**{f"_word_{n}": best}).filter(**{f"_word_{n}__gt": 0})
            rank.append(F(f"_word_{n}"))
        return trees.alias(_rank=sum(rank[1:], rank[0]), _uses=Count("sessions")).order_by(
            "-_rank", "-_uses", "name"
        )

    def with_tag(self, tag: str) -> TreeQuerySet:
        return self.filter(Exists(Tag.objects.filter(trees=OuterRef("pk"), name=tag)))

    def with_step_count(self) -> TreeQuerySet:
        """Annotate `step_count`: the number of nodes of the published version (0 if none)."""
        nodes = (
            Node.objects.filter(
                version__tree=OuterRef("pk"), version__status=TreeVersion.Status.PUBLISHED
            )
            .order_by()
            .values("version__tree")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(step_count=Coalesce(Subquery(nodes, output_field=IntegerField()), 0))

    def with_published_version(self) -> TreeQuerySet:
        """Prefetch the published version so `tree.published_version` costs no query."""
        return self.prefetch_related(
            Prefetch(
                "versions",
                queryset=TreeVersion.objects.filter(status=TreeVersion.Status.PUBLISHED),
                to_attr="_published_versions",
            )
        )


def _strength(field: str, word: str, fuzzy: bool) -> Case | Coalesce:
    """How well `word` matches `field` of a tree, from 0 to 1 (see `TreeQuerySet.search`).

    For the tags and node titles it is the best of them: a scalar subquery.
    """
    if field == "tags":
        rows = Tag.objects.filter(trees=OuterRef("pk"))
        column = "name"
    elif field == "nodes":
        rows = Node.objects.filter(
            version__tree=OuterRef("pk"), version__status=TreeVersion.Status.PUBLISHED
        )
        column = "title"
    else:
        return _column_strength(field, word, fuzzy)
    best = (
        rows.annotate(_strength=_column_strength(column, word, fuzzy))
        .order_by("-_strength")
        .values("_strength")[:1]
    )
    return Coalesce(Subquery(best, output_field=FloatField()), Value(0.0))


def _column_strength(column: str, word: str, fuzzy: bool) -> Case:
    """1 when `column` contains `word`; else, for a near miss, its word similarity
    times SEARCH_NEAR_MISS; else 0."""
    whens = [When(**{f"{column}__icontains": word}, then=Value(1.0))]
    if fuzzy:
        similarity = TrigramWordSimilarity(word, column)
        whens.append(
            When(
                GreaterThanOrEqual(similarity, SEARCH_SIMILARITY),
                then=similarity * SEARCH_NEAR_MISS,
            )
        )
    return Case(*whens, default=Value(0.0), output_field=FloatField())


class Tree(models.Model):
    slug = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Identifies the tree in its web address and JSON files (letters, digits, "
        "hyphens). Keep it stable.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(max_length=2_000, blank=True)
    category = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        help_text="Groups trees in the library, e.g. Networking.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="trees")
    baseline_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How long this problem takes without the tree; used for time saved.",
    )
    is_archived = models.BooleanField(
        default=False, help_text="Archived trees are hidden from engineers."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TreeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("trees:detail", args=[self.slug])

    @property
    def published_version(self) -> TreeVersion | None:
        """The version engineers run, if any (prefetched by `with_published_version()`)."""
        if hasattr(self, "_published_versions"):
            return self._published_versions[0] if self._published_versions else None
        return self.versions.filter(status=TreeVersion.Status.PUBLISHED).first()


class TreeVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    tree = models.ForeignKey(Tree, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["tree", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["tree", "number"], name="treeversion_unique_number"),
            models.UniqueConstraint(
                fields=["tree"],
                condition=Q(status="draft"),
                name="treeversion_one_draft",
            ),
            models.UniqueConstraint(
                fields=["tree"],
                condition=Q(status="published"),
                name="treeversion_one_published",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tree.name} v{self.number} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class Node(models.Model):
    class Kind(models.TextChoices):
        QUESTION = "question", "Question"
        ACTION = "action", "Action"
        SOLUTION = "solution", "Solution"

    version = models.ForeignKey(TreeVersion, on_delete=models.CASCADE, related_name="nodes")
    key = models.SlugField(
        max_length=100,
        help_text="Letters, digits and hyphens, unique in the version. Keep it stable across "
        "versions so reports can combine them.",
    )
    kind = models.CharField(
        max_length=10,
        choices=Kind.choices,
        help_text="Question: 2–20 answers. Action: one next node. Solution: ends the branch.",
    )
    title = models.CharField(max_length=MAX_TITLE)
    body = models.TextField(
        max_length=MAX_BODY,
        blank=True,
        help_text="Markdown: **bold**, lists, `code`, tables, links.",
    )
    command = models.TextField(
        max_length=MAX_COMMAND,
        blank=True,
        help_text="Optional command, shown monospace with a Copy button.",
    )
    is_start = models.BooleanField(
        "start", default=False, help_text="Sessions begin here. Exactly one node per version."
    )
    next = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Actions only: the node that follows.",
    )
    position = models.PositiveIntegerField(default=0, help_text="Order in the outline.")

    class Meta:
        ordering = ["version", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="node_unique_key"),
            models.UniqueConstraint(
                fields=["version"], condition=Q(is_start=True), name="node_one_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"


class Choice(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="choices")
    label = models.CharField(
        max_length=MAX_TITLE, help_text="The answer, shown as a button. Unique in the question."
    )
    target = models.ForeignKey(
        Node,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incoming",
        help_text="The node this answer leads to; it may loop back to an earlier one.",
    )
    position = models.PositiveIntegerField(default=0, help_text="Order of the answers.")

    class Meta:
        ordering = ["node", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "label"], name="choice_unique_label"),
        ]

    def __str__(self) -> str:
        return self.label
