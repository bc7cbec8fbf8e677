"""How people are named on pages, in one place for every app."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser


def display_name(user: AbstractBaseUser | None) -> str:
    """A person's full name, else their username: "Alice Archer", "alice".

    `None` (a user since deleted, an audit row without one) gives "" so a
    template can choose its own words: `{{ c.changed_by|display_name|default:"a deleted user" }}`.
    """
    if user is None:
        return ""
    full = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()


def signed_in_only(update_fields) -> bool:
    """Whether a user's save was only a sign-in (Django saves `last_login` alone):
    for the receivers that renew what a user's details feed (names, permissions)."""
    return update_fields is not None and set(update_fields) <= {"last_login"}
