"""The events tests' fixtures, defined in tests/events/support.py."""

from tests.events.support import events_stack, presence_stack, queue, queue_azurite

__all__ = ["events_stack", "presence_stack", "queue", "queue_azurite"]
