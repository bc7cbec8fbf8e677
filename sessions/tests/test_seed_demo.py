"""`manage.py seed_demo` (what `make run` calls): users and trees, safe to run twice.

The history it seeds is tested in test_demo.py; `--no-history` keeps this fast.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from trees.demo import demo_files
from trees.models import Tree

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--no-history", stdout=out)
    return out.getvalue()


def test_it_creates_the_demo_users_and_trees_once(settings):
    settings.DEBUG = True
    first = _seed()

    users = get_user_model().objects.order_by("username")
    assert [u.username for u in users] == ["admin", "engineer", "engineer2", "manager"]
    assert users.get(username="manager").groups.filter(name="Managers").exists()
    assert users.get(username="admin").is_superuser
    assert Tree.objects.published().count() == len(demo_files())
    assert f"Demo trees: {len(demo_files())} published." in first
    assert "Demo logins" in first

    again = _seed()
    assert get_user_model().objects.count() == 4
    assert "Demo users already exist" in again
