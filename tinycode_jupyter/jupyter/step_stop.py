"""Stop a run right after a step the user interrupted, so that step keeps its result (:mod:`.kernel_runner`)."""
from __future__ import annotations

from ..actions import Action, Interceptor
from ..errors import RunCancelled
from ..events import Hook, ToolEnd


class StopAfterInterruptedStep(Interceptor, Hook):
    """Knows which model step is running, and ends the run at the next tool or model call once one was interrupted."""

    def __init__(self) -> None:
        self.step: str | None = None
        """The id of the model's tool call that is running (asked last, so it is about to be invoked)."""
        self.stop_message: str | None = None

    async def intercept(self, action: Action) -> None:
        self._check()
        if action.origin == "model":
            self.step = action.call.id

    async def before_model_call(self, run_id: str, turn: int) -> None:
        self._check()

    def on_tool_end(self, event: ToolEnd) -> None:
        if event.tool_call.id == self.step:
            self.step = None

    def _check(self) -> None:
        if self.stop_message is not None:
            raise RunCancelled(self.stop_message)
