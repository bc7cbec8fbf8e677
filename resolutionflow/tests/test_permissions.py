"""Permission sets from the shared cache (resolutionflow.permissions): no queries once
cached, and every change of what someone may do takes effect on the next request."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from resolutionflow import generations
from resolutionflow.permissions import GENERATION

pytestmark = pytest.mark.django_db

VIEW_REPORTS = "flow_sessions.view_reports"


@pytest.fixture(autouse=True)
def shared(settings):
    settings.SHARED_CACHE = True  # one test process stands for the app servers


def fresh(user):
    """The user as the next request loads it (no per-object permission cache)."""
    return get_user_model().objects.get(pk=user.pk)


def test_cached_permissions_cost_no_query(charlie, django_assert_num_queries):
    assert fresh(charlie).has_perm(VIEW_REPORTS)
    user = fresh(charlie)
    with django_assert_num_queries(0):
        assert user.has_perm(VIEW_REPORTS)
        assert not user.has_perm("trees.delete_tree")


def test_without_a_shared_cache_it_is_djangos_model_backend(
    charlie, settings, django_assert_num_queries
):
    settings.SHARED_CACHE = False
    fresh(charlie).has_perm(VIEW_REPORTS)
    user = fresh(charlie)
    with django_assert_num_queries(2):
        assert user.has_perm(VIEW_REPORTS)


def _leave_group(user):
    user.groups.remove(Group.objects.get(name="Managers"))


def _group_loses_permission(user):
    Group.objects.get(name="Managers").permissions.remove(
        Permission.objects.get(codename="view_reports")
    )


def _deactivated(user):
    user.is_active = False
    user.save()


def _group_deleted(user):
    Group.objects.get(name="Managers").delete()


@pytest.mark.parametrize(
    "revoke",
    [_leave_group, _group_loses_permission, _deactivated, _group_deleted],
    ids=["left the group", "group lost the permission", "deactivated", "group deleted"],
)
def test_a_revoked_permission_is_gone_on_the_next_request(charlie, revoke):
    assert fresh(charlie).has_perm(VIEW_REPORTS)
    revoke(charlie)
    assert not fresh(charlie).has_perm(VIEW_REPORTS)


def test_a_granted_permission_shows_on_the_next_request(alice):
    assert not fresh(alice).has_perm(VIEW_REPORTS)
    alice.user_permissions.add(Permission.objects.get(codename="view_reports"))
    assert fresh(alice).has_perm(VIEW_REPORTS)
    alice.user_permissions.clear()
    assert not fresh(alice).has_perm(VIEW_REPORTS)
    alice.is_superuser = True
    alice.save()
    assert fresh(alice).has_perm(VIEW_REPORTS)


def test_signing_in_keeps_the_cache(charlie):
    before = generations.token(GENERATION)
    charlie.save(update_fields=["last_login"])
    assert generations.token(GENERATION) == before


def test_a_demoted_manager_loses_the_reports_at_once(charlie_client, charlie):
    url = reverse("reports:overview")
    assert charlie_client.get(url).status_code == 200
    _leave_group(charlie)
    charlie.groups.add(Group.objects.get(name="Engineers"))
    assert charlie_client.get(url).status_code in (302, 403)


def test_people_signed_in_through_djangos_backend_stay_signed_in(charlie, client):
    client.force_login(charlie, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(reverse("reports:overview")).status_code == 200
