"""Events of a session's life, sent by the services inside their own transaction.

Receivers run in the writer's transaction: a row they write (an outbox
delivery, say) commits with the change or rolls back with it. A receiver must
not do slow work or talk to the network; queue it instead.
"""

from django.dispatch import Signal

# sender=Session, session=<Session>, by=<user>: the session has just completed
# (any path: navigation, history popover, admin).
session_completed = Signal()

# sender=Session, session=<Session>, handoff=<the hand-off record>: the session
# has just moved to another engineer.
session_handed_off = Signal()
