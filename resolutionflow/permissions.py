"""Permissions read from the shared cache: Django's ModelBackend without its two queries a page.

Every signed-in page asks `has_perm` (the navigation, the history, the reports)
and Django's ModelBackend answers with two queries per request (the user's own
permissions, their groups'). This backend keeps those two sets in the shared
cache under the `permissions` generation (resolutionflow.generations), which is
renewed by anything that can change what anyone may do: a user saved (active,
superuser; signing in, which saves only `last_login`, does not count) or
deleted, a group or permission saved or deleted, and any change to a user's
groups or permissions or a group's permissions. The renewal happens in the
writer's process at once and again after the commit, so a revoked permission
is gone from the next request on every app server.

Without a cache every app server shares (`SHARED_CACHE` off: the default
per-process memory cache), it is exactly ModelBackend.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save

from resolutionflow import generations
from resolutionflow.users import signed_in_only

GENERATION = "permissions"


SOURCES = ("user", "group")


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        # Both sets (the user's own, their groups') in one round trip.
        if user_obj.is_active and not user_obj.is_anonymous and obj is None:
            self._load(user_obj, [s for s in SOURCES if not hasattr(user_obj, _attribute(s))])
        return super().get_all_permissions(user_obj, obj)

    def _get_permissions(self, user_obj, obj, from_name: str) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        self._load(user_obj, [from_name] if not hasattr(user_obj, _attribute(from_name)) else [])
        return getattr(user_obj, _attribute(from_name))

    def _load(self, user_obj, sources: list[str]) -> None:
        """The `sources` sets of `user_obj`'s permissions, from the cache, kept on it."""
        if not sources:
            return
        parent = super()
        found = generations.cached_many(
            GENERATION,
            {
                f"{source}:{user_obj.pk}": (
                    lambda source=source: parent._get_permissions(user_obj, None, source)
                )
                for source in sources
            },
        )
        for source in sources:
            setattr(user_obj, _attribute(source), found[f"{source}:{user_obj.pk}"])


def _attribute(source: str) -> str:
    # ModelBackend's own attribute for the set, so its other methods find it too.
    return f"_{source}_perm_cache"


def _changed(sender, update_fields=None, **kwargs) -> None:
    if not signed_in_only(update_fields):
        generations.renew(GENERATION)


def connect_receivers() -> None:
    """Called once by the project app's `ready()`."""
    User = get_user_model()
    for model in (User, Group, Permission):
        for signal, what in ((post_save, "saved"), (post_delete, "gone")):
            signal.connect(_changed, sender=model, dispatch_uid=f"perms-{model.__name__}-{what}")
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(_changed, sender=through, dispatch_uid=f"perms-{through.__name__}")
