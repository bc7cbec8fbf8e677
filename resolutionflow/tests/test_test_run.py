"""The test run's shortcuts (conftest.py) stay in the tests and keep what the tests rely on."""

from __future__ import annotations

import pytest
from django.conf import global_settings, settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

import resolutionflow.settings as production
from conftest import ReferenceData
from resolutionflow.tests.factories import UserFactory
from sessions.models import Outcome


def test_the_tests_hash_passwords_with_a_fast_hasher():
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_production_keeps_djangos_pbkdf2_hasher():
    hashers = getattr(production, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)
    assert hashers[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def _reference_rows() -> tuple:
    return (
        sorted(Group.objects.values_list("pk", "name")),
        Permission.objects.count(),
        sorted(Outcome.objects.values_list("pk", "code", "label")),
    )


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_leaves_only_the_reference_rows_behind():
    before = _reference_rows()
    assert {"Engineers", "Managers"} <= {name for _, name in before[0]}
    UserFactory(username="dora", groups=["Engineers"])

    ReferenceData.of("default").reset()

    assert not get_user_model().objects.exists()
    assert _reference_rows() == before  # untouched: the same rows, the same keys


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_that_changes_reference_rows_gets_them_back():
    before = _reference_rows()
    Group.objects.filter(name="Managers").delete()
    Group.objects.create(name="Interns")
    Outcome.objects.filter(code="resolved").update(label="Sorted")

    ReferenceData.of("default").reset()

    assert _reference_rows() == before
    assert Group.objects.get(name="Managers").permissions.exists()
