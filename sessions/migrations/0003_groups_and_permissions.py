"""The Engineers and Managers groups with their permissions (SPEC §1)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ENGINEER_PERMS = [
    ("flow_sessions", "add_session"),
    ("flow_sessions", "view_session"),
    ("trees", "view_tree"),
]
MANAGER_PERMS = ENGINEER_PERMS + [
    ("flow_sessions", "view_all_sessions"),
    ("flow_sessions", "close_any_session"),
    ("flow_sessions", "prepare_session"),
    ("flow_sessions", "view_reports"),
]


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so
    # the groups can be given them in a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in (("Engineers", ENGINEER_PERMS), ("Managers", MANAGER_PERMS)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=["Engineers", "Managers"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("flow_sessions", "0002_builtin_outcomes"),
        ("trees", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
