"""Events of a tree's life, sent by the services inside their own transaction.

Receivers run in the writer's transaction (see sessions.signals).
"""

from django.dispatch import Signal

# sender=TreeVersion, version=<TreeVersion>, by=<user or None>: a draft has
# just been published.
tree_published = Signal()
