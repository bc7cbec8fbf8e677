"""`manage.py rotate_integration_keys`: re-encrypt every connection's credentials
with the first key of INTEGRATIONS_KEYS (after prepending a new one)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from integrations import crypto
from integrations.models import Connection


class Command(BaseCommand):
    help = "Re-encrypt the stored PSA credentials with the newest INTEGRATIONS_KEYS key."

    def handle(self, *args, **options) -> None:
        count = 0
        with transaction.atomic():
            for connection in Connection.objects.select_for_update().exclude(credentials_token=""):
                connection.credentials_token = crypto.rotate(connection.credentials_token)
                connection.save(update_fields=["credentials_token"])
                count += 1
        self.stdout.write(f"Re-encrypted the credentials of {count} connection(s).")
