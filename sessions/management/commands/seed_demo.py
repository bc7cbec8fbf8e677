"""Demo data for `make run`: users, trees and a realistic history. Idempotent."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from sessions.demo import seed_history
from trees.demo import seed_trees

DEMO_USERS = [
    # username, first name, last name, group, superuser
    ("engineer", "Erin", "Engineer", "Engineers", False),
    ("engineer2", "Sam", "Second", "Engineers", False),
    ("manager", "Morgan", "Manager", "Managers", False),
    ("admin", "Ada", "Admin", None, True),
]


class Command(BaseCommand):
    help = "Create the demo users, trees and session history (safe to run repeatedly)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-history", action="store_true", help="Skip generating session history."
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            created = self.seed_users()
        trees = seed_trees()
        self.stdout.write(f"Demo trees: {len(trees)} published.")
        if not options["no_history"]:
            count = seed_history()
            self.stdout.write(f"Demo history: {count} sessions.")
        self.print_logins(created)

    def seed_users(self) -> dict[str, str]:
        """Create missing demo users; return {username: password} for the new ones."""
        User = get_user_model()
        created = {}
        for username, first, last, group, superuser in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user(
                username=username,
                password=password,
                first_name=first,
                last_name=last,
                email=f"{username}@example.com",
                is_staff=superuser,
                is_superuser=superuser,
            )
            if group:
                user.groups.add(Group.objects.get(name=group))
            created[username] = password
        return created

    def print_logins(self, created: dict[str, str]) -> None:
        if not created:
            self.stdout.write(
                "Demo users already exist; their passwords were printed when they were "
                "created (reset one with `manage.py changepassword USERNAME`)."
            )
            return
        if not settings.DEBUG:
            self.stdout.write("Demo users created; passwords are only printed with DEBUG on.")
            return
        self.stdout.write(self.style.SUCCESS("\nDemo logins (shown once, keep them):"))
        for username, password in created.items():
            self.stdout.write(f"  {username:<10} {password}")
        self.stdout.write("")
