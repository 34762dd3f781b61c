"""One agent per kernel: built from the magic's settings, run through the kernel runner."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import TinyCodeError
from ..record import RunResult
from .background_loop import BackgroundLoop
from .error_log import ErrorLog
from .kernel_runner import KernelRunner

if TYPE_CHECKING:
    from ..notebook.base import NotebookState
    from ..notebook.workspace import NotebookConnector, PromptSource

log = logging.getLogger(__name__)


class AgentSession:
    """Holds the kernel's agent, its conversation, usage totals, and the write-back channel."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.agent: Any = None
        self._key: tuple | None = None
        self._tracker: Any = None
        self._channel: Any = None
        self._notebooks: Any = None
        self.sandboxes: dict[str, Any] = {}
        """Providers started by ``%%sandbox`` cells before an agent used them; an agent built for one takes it over."""
        self.background = BackgroundLoop()
        self.running = False
        self._undo_history: Any = None
        self._undo_recorder: Any = None
        self.undone_runs: set[str] = set()
        """Runs ``%agent undo`` undid: an agent cell they answered is asked again."""
        self.errors = ErrorLog(shell, busy=lambda: self.running)
        """The errors of the kernel's cells (``%agent fix``, ``{Err[n]}``), recorded once :meth:`ErrorLog.attach` is called."""

    # --- the agent ------------------------------------------------------------------
    def get_agent(self, settings: dict[str, Any]) -> Any:
        """The session's agent, rebuilt (conversation reset) when model, server, provider or price change."""
        key = (settings["model"], settings["api_base"], settings["provider"], settings["price_per_mtok"])
        if self.agent is None or key != self._key:
            self.close()
            self.agent = self._build(settings)
            self._key = key
        self.agent.max_turns = settings["max_turns"]
        return self.agent

    def _build(self, settings: dict[str, Any]) -> Any:
        from ..agent import TinyCodeAgent
        from ..hooks import TokenTracker

        model_kwargs = {"api_base": settings["api_base"]} if settings["api_base"] else {}
        if settings["price_per_mtok"]:
            model_kwargs["price_per_mtok"] = settings["price_per_mtok"]  # "IN,OUT", checked by the magics
        provider = self.sandboxes.pop(settings["provider"], None) or settings["provider"]
        provider_config = {"shell": self.shell} if provider == "kernel" else None
        agent = TinyCodeAgent(model=settings["model"], model_kwargs=model_kwargs, provider=provider,
                              provider_config=provider_config, max_turns=settings["max_turns"])  # fmt: skip
        self._tracker = self._tracker or TokenTracker("session")
        agent.add_callback(self._tracker)
        self._undo_recorder = self._attach_undo(agent)
        return agent

    def _attach_undo(self, agent: Any) -> Any:
        """Checkpoints for ``%agent undo``, added before any run's approval so its notes come first."""
        from ..kernel_undo import UndoRecorder

        recorder = UndoRecorder(self.undo_history(), agent)
        agent.add_callback(recorder)
        return recorder

    def undo_history(self) -> Any:
        """The kernel's :class:`~tinycode_jupyter.kernel_undo.UndoHistory` (kept when the agent is rebuilt)."""
        from ..kernel_undo import UndoConfig, UndoHistory

        self._undo_history = self._undo_history or UndoHistory(UndoConfig.from_environment())
        return self._undo_history

    # --- one run --------------------------------------------------------------------------
    def run(self, prompt: "PromptSource", settings: dict[str, Any], record: str | None = None, replay: str | None = None, *,
            runner: KernelRunner | None = None, hooks: Sequence[Any] | None = None,
            on_answered: Callable[[str], None] | None = None, cell_id: str | None = None) -> RunResult:  # fmt: skip
        """Run the agent on ``prompt`` from the kernel's main thread; one run at a time per kernel.

        Cell references in the prompt are expanded (:mod:`.references`) and the variables it names
        described (:mod:`.variables`); a callable ``prompt`` writes the whole prompt from the notebook.

        ``hooks`` show the run (default: the cell's streaming output and the write-back of
        cells, both scheduled on ``runner``); pass your own ``runner`` to keep a handle for
        :meth:`KernelRunner.cancel`. ``cell_id``: the cell the run belongs to in the notebook (the
        sidebar's anchor, the chat's cell; default: the cell being executed), which finds the
        notebook's owner for the notebook tools. ``on_answered(run_id)`` is called on the main thread when
        the default hooks have written an answered run's cells live.
        """
        from ..cassette import RecordingLLM, ReplayLLM, recording_target
        from ..hooks.token_tracker import refuse_unpriced_cost_limits, run_budget_tracker

        if self.running:
            raise TinyCodeError("an agent run is already in progress in this kernel; wait for it or stop it")
        replayed = ReplayLLM(replay) if replay else None  # a bad cassette or --record path fails before any model call
        if record and not replay:
            recording_target(record)
        agent = self.get_agent(settings)
        budget = run_budget_tracker(settings["budget_usd"], settings["budget_tokens"])
        budgets = [budget] if budget is not None else []
        refuse_unpriced_cost_limits(agent.llm, budgets)
        runner = runner or KernelRunner()
        runner.background = runner.background or self.background
        self._undo_recorder.notify = self._undo_notice(runner) if hooks is None else None
        hooks = list(self._cell_hooks(runner, on_answered) if hooks is None else hooks) + budgets
        approval = self._approval_hook(settings["approve"], agent, runner)
        hooks += [approval] if approval is not None else []
        real_llm = agent.llm
        recorder = RecordingLLM(real_llm, record) if record and replayed is None else None
        agent.llm = replayed or recorder or real_llm
        if getattr(agent.provider, "name", "") == "kernel":
            agent.provider.main_thread_runner = runner.run_on_main
        for hook in hooks:
            agent.add_callback(hook)
        runner.attach(agent, hooks)  # interrupts stop the running step first; its printed output streams
        if hasattr(real_llm, "on_retry"):  # retries show on the cell's status line
            real_llm.on_retry = next((h.show_retry for h in hooks if hasattr(h, "show_retry")), None)
        written = prompt if callable(prompt) else lambda state: self.with_references(prompt, state)
        self.running = True
        try:
            anchor = cell_id or self._anchor_cell_id()
            return runner.run(lambda: self._run_in_notebook(agent, written, runner, anchor))
        except BaseException:
            if recorder is not None:
                self._restore_quietly(recorder)
            raise
        finally:
            self.running = False
            for hook in hooks:
                agent.remove_callback(hook)
            runner.detach(agent)
            agent.llm = real_llm
            if hasattr(real_llm, "on_retry"):
                real_llm.on_retry = None
            if getattr(agent.provider, "name", "") == "kernel":
                agent.provider.main_thread_runner = None

    def with_references(self, text: str, state: "NotebookState") -> str:
        """``text`` with its cell references expanded and the variables it names described (on the main thread)."""
        from .references import expand_references
        from .variables import context_for_prompt

        return expand_references(text, self.shell, self.errors, state) + context_for_prompt(text, self.shell.user_ns)

    def notebooks(self) -> "NotebookConnector":
        """What finds the notebook of each run and undo (one per session)."""
        from ..notebook.workspace import NotebookConnector

        self._notebooks = self._notebooks or NotebookConnector(self.shell)
        return self._notebooks

    async def _run_in_notebook(self, agent: Any, prompt: "PromptSource", runner: KernelRunner,
                               anchor: str | None) -> RunResult:  # fmt: skip
        """The run, with the notebook's outline, variables and changes, and the notebook tools for this run."""
        from ..notebook.workspace import run_in_notebook

        return await run_in_notebook(agent, prompt, self.notebooks(), runner.call_on_main, runner.run_on_main, anchor)

    def fix(self, settings: dict[str, Any], cell: str | None = None, instructions: str = "") -> RunResult:
        """``%agent fix``: run the agent on the error of ``cell`` (None: the latest one) with the cells involved.

        :class:`~tinycode_jupyter.notebook.fix_prompt.NothingToFix` when there is no error (no model is called).
        """
        from ..notebook.fix_prompt import choose_error, fix_prompt, involved_cells

        def written(state: "NotebookState") -> str:
            error, failing = choose_error(state, self.errors, cell)
            involved = involved_cells(error, failing, state, self.errors)
            return fix_prompt(error, involved, self.with_references(instructions, state) if instructions else "")

        return self.run(written, settings)

    @staticmethod
    def _restore_quietly(recorder: Any) -> None:
        """A failed run leaves its ``--record`` file as it was; a failure to put it back is logged, not raised
        (the run's own error is the one to show)."""
        try:
            recorder.restore()
        except OSError:
            log.warning("could not put %s back as it was before the failed run", recorder.path, exc_info=True)

    def _cell_hooks(self, runner: KernelRunner, on_answered: Callable[[str], None] | None) -> list[Any]:
        """The ``%%agent`` cell's hooks: streaming output in the cell, and the agent's cells written back."""
        from .cell_output import CellOutput
        from .writeback import JupyterNotebookCallback

        channel = self.cells_channel(runner)
        writeback = JupyterNotebookCallback(self._anchor_cell_id(), channel, self._set_next_input, runner.call_on_main,
                                            on_answered)  # fmt: skip
        return [CellOutput(runner.call_on_main, figures_below=lambda: writeback.live), writeback]

    def cells_channel(self, runner: KernelRunner) -> Any:
        """The kernel's cell-insertion channel (one per session, so the frontend handshake happens once),
        sending through ``runner``."""
        from .writeback import CommChannel

        self._channel = self._channel or CommChannel(runner.call_on_main)
        self._channel.schedule = runner.call_on_main
        return self._channel

    @staticmethod
    def _approval_hook(approve: str, agent: Any, runner: KernelRunner) -> Any:
        """Approve/Deny buttons in the notebook before risky tool calls (``approve`` = writes | all)."""
        if approve == "off":
            return None
        from ..hooks.approval import ApprovalPolicy, NotebookApproval

        policy = ApprovalPolicy.every_tool() if approve == "all" else ApprovalPolicy()
        return NotebookApproval(policy, run_on_main=runner.run_on_main)

    def _anchor_cell_id(self) -> str | None:
        from .answered import request_parent

        return request_parent(self.shell).get("metadata", {}).get("cellId")

    def _set_next_input(self, source: str) -> None:
        self.shell.set_next_input(source, replace=False)

    @staticmethod
    def _undo_notice(runner: KernelRunner) -> Any:
        from ..kernel_undo.notice import cell_notice

        return cell_notice(runner.call_on_main)

    # --- line-magic commands ------------------------------------------------------------------
    def undo(self, runs: int = 1, cell_id: str | None = None) -> Any:
        """Put back what the last ``runs`` agent runs changed: the kernel's variables, the notebook's cells (through the
        notebook's owner, found with ``cell_id`` or the undo cell's id), and the work dir's files when git checkpoints are on. Returns an :class:`~tinycode_jupyter.kernel_undo.UndoReport` (``.text()``)."""
        if self.running:
            raise TinyCodeError("an agent run is in progress in this kernel; wait for it or stop it, then undo")
        from ..notebook.cell_undo import NotebookCellReverter

        runner = KernelRunner(self.background)
        history, namespace, hidden = self.undo_history(), self.shell.user_ns, self.shell.user_ns_hidden
        anchor = cell_id or self._anchor_cell_id()
        cells = NotebookCellReverter(lambda: self.notebooks().find(runner.call_on_main, runner.run_on_main, anchor), anchor)
        report = runner.run(lambda: history.undo(runs, namespace, hidden, runner.run_on_main, cells))
        self.undone_runs.update(run.run_id for run in report.runs)
        return report

    def reset(self) -> None:
        if self.agent is not None:
            self.agent.reset()
        if self._tracker is not None:
            self._tracker.reset()

    def usage_summary(self) -> str:
        return self._tracker.summary() if self._tracker is not None else "no runs yet"

    def export(self, path: str) -> str:
        if self.agent is None:
            raise_usage("%agent export: no runs yet in this kernel")
        self.agent.export_notebook(path)
        return f"wrote {path}"

    def chat_widget(self, settings: dict[str, Any]) -> Any:
        from .chat_widget import ChatWidget

        return ChatWidget(self, settings).widget

    def close(self) -> None:
        """Close the agent (and its provider); the session can build a new one later."""
        if self.agent is not None:
            agent, self.agent = self.agent, None
            self._close_quietly(agent)

    def _close_quietly(self, agent: Any) -> None:
        """Close an agent from sync code, on the loop its provider was started on."""
        try:
            KernelRunner(self.background).run(agent.close)
        except Exception:
            log.exception("closing the previous agent failed")


def raise_usage(message: str) -> None:
    from IPython.core.error import UsageError

    raise UsageError(message)

