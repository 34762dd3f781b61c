"""Kernel-state undo: checkpoints of what each agent step can change in the live kernel, and undo N runs back.

``UndoHistory`` holds one checkpoint per run; ``UndoRecorder`` fills it before every step of an
agent (add it with ``agent.add_callback(UndoRecorder(history, agent))``; ``%%agent`` does this);
``await history.undo(n, namespace)`` puts the variables back and returns an :class:`UndoReport`.
"""
from __future__ import annotations

from .history import CellReverter, UndoConfig, UndoError, UndoHistory, UndoneRun, UndoReport
from .recorder import UndoRecorder

__all__ = ["CellReverter", "UndoConfig", "UndoError", "UndoHistory", "UndoRecorder", "UndoReport", "UndoneRun"]
