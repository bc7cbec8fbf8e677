"""Fixtures of the ticket-loop tests: the fake PSAs, their connections, a completed session."""

from __future__ import annotations

import pytest

from integrations.models import Kind
from integrations.tests.factories import ConnectionFactory, PsaMemberFactory
from integrations.tests.fakes import FakeAutotask, FakeConnectWise, FakeHalo, FakeReceiver
from sessions import services as session_services
from sessions.models import Outcome
from sessions.tests.factories import build_version


@pytest.fixture
def cw_server():
    with FakeConnectWise() as server:
        yield server


@pytest.fixture
def at_server():
    with FakeAutotask() as server:
        yield server


@pytest.fixture
def halo_server():
    with FakeHalo() as server:
        yield server


@pytest.fixture
def receiver():
    with FakeReceiver() as server:
        yield server


def connection_for(server, kind: str, **kwargs):
    return ConnectionFactory(
        name=kwargs.pop("name", kind),
        kind=kind,
        base_url=server.base_url,
        credentials=server.credentials(),
        **kwargs,
    )


@pytest.fixture
def cw(cw_server, settings):
    settings.INTEGRATIONS_TIMEOUT_SECONDS = 0.3
    settings.INTEGRATIONS_LOOKUP_TIMEOUT_SECONDS = 0.3
    return connection_for(cw_server, Kind.CONNECTWISE, is_default=True)


@pytest.fixture
def version(db):
    return build_version()


@pytest.fixture
def complete(version, clock):
    """complete(engineer, ticket_ref=…, outcome=…, minutes=…): a session run and completed."""

    def make(
        engineer, *, ticket_ref="1042", outcome="resolved", minutes=12, member=None, kind=None
    ):
        if member is not None:
            PsaMemberFactory(user=engineer, kind=kind or Kind.CONNECTWISE, member_id=member)
        session = session_services.session_create(
            tree=version.tree, engineer=engineer, ticket_ref=ticket_ref, client="Acme"
        )
        clock.advance(minutes=minutes)
        return session_services.session_complete(
            session=session, outcome=Outcome.objects.get(code=outcome), by=engineer
        )

    return make
