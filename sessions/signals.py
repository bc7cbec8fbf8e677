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

# sender=Session, session=<Session>: the session's clock has just started
# (`started_at` set; it counts as started on that day from now on).
session_started = Signal()

# sender=Session, session=<Session>, old_outcome_id=<int>: a completed session's
# outcome has just been corrected from `old_outcome_id` to `session.outcome_id`.
session_outcome_changed = Signal()

# sender=Decision, decision=<Decision>: a step has just closed (answered, Done,
# Back, handed off or closed with its session), its `active_seconds` now final.
step_closed = Signal()
