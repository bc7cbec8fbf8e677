from __future__ import annotations

import factory

from integrations.models import Connection, Event, Kind, PsaMember
from resolutionflow.tests.factories import UserFactory


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Connection {n}")
    kind = Kind.CONNECTWISE
    base_url = "http://127.0.0.1:9/v4_6_release/apis/3.0"
    events = factory.LazyFunction(lambda: [Event.SESSION_COMPLETED])

    @factory.post_generation
    def credentials(self, create, extracted, **kwargs):
        self.set_credentials(extracted or {})
        if create:
            self.save(update_fields=["credentials_token"])


class PsaMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PsaMember

    user = factory.SubFactory(UserFactory)
    kind = Kind.CONNECTWISE
    member_id = factory.Sequence(lambda n: f"member{n}")
