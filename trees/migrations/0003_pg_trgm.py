"""pg_trgm for the library search (PostgreSQL only).

TreeQuerySet.search ranks near misses with word_similarity(), so "printr"
finds "Printer offline". Raw SQL guarded by the vendor rather than
django.contrib.postgres's TrigramExtension, whose reverse runs on SQLite too.
Where the extension cannot be created (no contrib package, no right to create
it), the migration says so and goes on: the search then matches whole words
only, as on SQLite (trees.models._has_trigrams).

No trigram index: the search compares each word with word_similarity() at its
own threshold, a function call that no index serves, over a library of tens
to hundreds of trees.
"""

import sys

from django.db import DatabaseError, migrations, transaction


def create_extension(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        sys.stderr.write(
            f"\n  pg_trgm is not available ({error}); the library search matches words "
            "but not near misses. Install the extension (CREATE EXTENSION pg_trgm) and "
            "restart the app.\n"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("trees", "0002_node_and_tree_help_texts"),
    ]

    operations = [
        # Not dropped on the way back: the history search's index (flow_sessions
        # 0005) may use it too.
        migrations.RunPython(create_extension, migrations.RunPython.noop, elidable=True),
    ]
