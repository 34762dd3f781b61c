"""Ready-made hooks. Each is a callable taking an :class:`~tinycode_jupyter.events.Event`."""
from .token_tracker import ModelUsage, TokenTracker

__all__ = ["ModelUsage", "TokenTracker"]
