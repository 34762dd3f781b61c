"""TinyCodeAgent: the loop of model turns and tool calls, and nothing Jupyter-specific."""
from __future__ import annotations

import asyncio
import copy
import difflib
import inspect
import json
import logging
import os
import time
import uuid
from typing import Any, Callable, Sequence

from .actions import ActionPipeline, Interceptor
from .checkpoints import GitCheckpointer
from .errors import ConfigurationError, MaxTurnsExceeded, RunCancelled
from .events import AgentEnd, AgentStart, Callback, EventBus, LLMDelta, LLMEnd, LLMStart, ModifyMessages, StopRun, copy_messages
from .llm import LLM, LLMResponse, ToolCall
from .hooks.token_tracker import refuse_unpriced_cost_limits
from .images import image_message
from .logging_setup import enable_debug_logging_from_env, redact
from .mcp_tools import MCPServers
from .models.prices import supports_vision
from .models.routing import create_model
from .prompts import build_system_prompt
from .providers.base import Provider
from .providers.registry import create_provider
from .record import RunRecord, RunResult, Step, ToolCallRecord
from .security import SecurityPolicy
from .security.effect_checks import EffectChecks
from .tools.base import Tool, as_tool
from .tools.builtin import BuiltinFlags, builtin_tools
from .tools.context import DEFAULT_MAX_SHELL_TIMEOUT, ToolContext
from .truncation import TruncationConfig

log = logging.getLogger(__name__)

DEFAULT_MODEL_ENV = "TINYCODE_MODEL"
_CHANGES_FILES = frozenset({"runs_python", "runs_shell", "writes_path", "unknown"})
_CLOSED = "the run was stopped: the agent was closed"


class TinyCodeAgent:
    """An agent that plans, writes Python and shell code, and runs it through a provider.

    Use it as ``async with TinyCodeAgent(model=...) as agent: await agent.run(prompt)``
    or call :meth:`close` yourself. See the README for every option.
    """

    def __init__(
        self,
        model: str | None = None,
        api_key: str | None = None,
        provider: str | Provider | None = None,
        provider_config: dict[str, Any] | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        authorized_imports: Sequence[str] | None = None,
        check_string_obfuscation: bool = True,
        model_kwargs: dict[str, Any] | None = None,
        enable_python_tool: bool = True,
        enable_shell_tool: bool = True,
        enable_file_tools: bool = True,
        enable_todo_write: bool = True,
        default_workdir: str | os.PathLike[str] | None = None,
        auto_git_checkpoint: bool = False,
        truncation_config: TruncationConfig | dict[str, Any] | None = None,
        ui: str | None = None,
        max_turns: int = 30,
        system_prompt: str | None = None,
        bypass_shell_safety: bool = False,
        callbacks: Sequence[Callback] = (),
        interceptors: Sequence[Interceptor] = (),
        max_shell_timeout: float = DEFAULT_MAX_SHELL_TIMEOUT,
        vision: bool | None = None,
        llm: LLM | None = None,
        **unknown: Any,
    ) -> None:
        _reject_unknown(unknown)
        enable_debug_logging_from_env()
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigurationError(f"max_turns must be a positive integer, got {max_turns!r}")
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise ConfigurationError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
        if isinstance(max_shell_timeout, bool) or not isinstance(max_shell_timeout, (int, float)) or not max_shell_timeout > 0:
            raise ConfigurationError(f"max_shell_timeout must be a positive number of seconds, got {max_shell_timeout!r}")
        if provider_config is not None and not isinstance(provider_config, dict):
            raise ConfigurationError(f"provider_config must be a dict, got {type(provider_config).__name__}")
        self.llm: LLM = llm or create_model(_resolve_model(model), api_key=api_key, model_kwargs=model_kwargs)
        self.model = self.llm.model
        if vision is not None and not isinstance(vision, bool):
            raise ConfigurationError(f"vision must be True, False or None, got {vision!r}")
        self._vision = vision
        self.max_turns = max_turns
        self.truncation = TruncationConfig.from_value(truncation_config)
        workdir = os.fspath(default_workdir) if default_workdir is not None else None
        self.provider = create_provider(provider, provider_config, workdir)
        self.security = SecurityPolicy(
            authorized_imports=authorized_imports,
            check_string_obfuscation=check_string_obfuscation,
            bypass_shell_safety=bypass_shell_safety,
        )
        self.checkpointer = GitCheckpointer(self.provider.workdir, enabled=auto_git_checkpoint)
        self.bus = EventBus()
        self.interceptors: list[Interceptor] = []
        for callback in callbacks:
            self.add_callback(callback)
        for interceptor in interceptors:
            self.add_interceptor(interceptor)
        self._custom_tools = [as_tool(t) for t in tools]
        self._context = ToolContext(self.provider, max_shell_timeout=float(max_shell_timeout))
        flags = BuiltinFlags(enable_python_tool, enable_shell_tool, enable_file_tools, enable_todo_write)
        self.tools: dict[str, Tool] = {}
        for item in builtin_tools(self._context, flags) + self._custom_tools:
            if item.name in self.tools:
                raise ConfigurationError(f"tools: two tools are named {item.name!r}")
            self.tools[item.name] = item
        self._extra_system_prompt = system_prompt
        checks = EffectChecks(self.security, self.provider)
        self.pipeline = ActionPipeline(self.tools, self.bus, checks, self.interceptors, self.truncation)
        self.mcp = MCPServers(self.tools)
        self.messages: list[dict[str, Any]] = []
        self.history: list[RunRecord] = []
        self.last_run: RunRecord | None = None
        self._active: tuple[RunRecord, Step] | None = None
        self._snapshots = _MessageSnapshots()
        self._started = False
        self._closes = 0
        """How many times close() was called: a run that sees it change was ended by close()."""
        self._notes: set[str] = set()
        self._lock = asyncio.Lock()
        if ui is not None:
            self._attach_ui(ui)

    # --- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        await self.provider.start()
        self._register_code_tools()
        self._started = True

    def _register_code_tools(self) -> None:
        custom = [t for t in self.tools.values() if not t.builtin]
        if custom:
            self.provider.set_tool_handler([t.name for t in custom], self._call_tool_from_code)

    async def close(self) -> None:
        """Stop the MCP servers and the provider; a run in progress ends with :class:`RunCancelled`."""
        self._started = False
        self._closes += 1
        try:
            await self.mcp.close()
        finally:
            await self.provider.close()

    async def connect_mcp_server(
        self,
        command: str,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        include_tools: Sequence[str] | None = None,
        exclude_tools: Sequence[str] | None = None,
    ) -> list[str]:
        """Start an MCP server over stdio and add its tools; returns their names.

        Several servers may be connected; a tool name that is already taken is a
        :class:`ConfigurationError` (use ``include_tools``/``exclude_tools``).
        The servers stop on :meth:`close`.
        """
        names = await self.mcp.connect(command, args, env, include_tools=include_tools, exclude_tools=exclude_tools)
        if self._started:
            self._register_code_tools()
        return names

    async def __aenter__(self) -> "TinyCodeAgent":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- configuration -----------------------------------------------------------
    def add_callback(self, callback: Callback | Interceptor) -> None:
        """Add a watcher (an :class:`~tinycode_jupyter.events.Hook` or a function of one event).

        An :class:`Interceptor` (approval, deny, budget trackers) is added as a control point
        too; one that is also a hook watches as well.
        """
        if isinstance(callback, Interceptor):
            self.add_interceptor(callback)
            if not callable(callback):
                return
        self.bus.add(callback)

    def remove_callback(self, callback: Callback | Interceptor) -> None:
        if isinstance(callback, Interceptor):
            self.interceptors.remove(callback)
        if callback in self.bus.callbacks:
            self.bus.remove(callback)

    def add_interceptor(self, interceptor: Interceptor) -> None:
        """Ask ``interceptor`` before every tool call and model call; if it raises, the call is blocked."""
        if not isinstance(interceptor, Interceptor):
            raise ConfigurationError(f"interceptors must be Interceptor objects, got {type(interceptor).__name__}")
        if interceptor not in self.interceptors:
            self.interceptors.append(interceptor)

    def add_tool(self, tool: Tool | Callable[..., Any]) -> Tool:
        """Offer ``tool`` to the model from the next run on; a name already taken is a :class:`ConfigurationError`."""
        item = as_tool(tool)
        if item.name in self.tools:
            raise ConfigurationError(f"tools: two tools are named {item.name!r}")
        self.tools[item.name] = item
        return item

    def remove_tool(self, name: str) -> None:
        """Stop offering the tool ``name`` (from the next run on)."""
        self.tools.pop(name, None)

    def reset(self) -> None:
        """Forget the conversation (the provider's state is kept)."""
        self.messages.clear()
        self._context.todos.clear()

    def set_check_string_obfuscation(self, enabled: bool) -> None:
        self.security.check_string_obfuscation = bool(enabled)

    def enable_auto_git_checkpoint(self, enabled: bool = True) -> None:
        self.checkpointer.enabled = bool(enabled)

    def get_auto_git_checkpoint_status(self) -> bool:
        return self.checkpointer.enabled

    @property
    def system_prompt(self) -> str:
        return build_system_prompt(
            workdir=self.provider.workdir,
            provider=self.provider.name,
            shares_user_namespace=self.provider.capabilities.shares_user_namespace,
            custom_tool_names=[t.name for t in self.tools.values() if not t.builtin],
            has_python="run_python" in self.tools,
            extra=self._extra_system_prompt,
        )

    @property
    def vision(self) -> bool:
        """Whether tools pass images to the model: as given, else as litellm's model map says (unknown: no)."""
        if self._vision is None:
            self._vision = supports_vision(self.model) is True
        return self._vision

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def export_notebook(self, path: str | os.PathLike[str]) -> None:
        """Write every run of this agent as a standalone notebook that re-runs without the agent."""
        import json

        from .jupyter.cells import notebook_for_session

        with open(path, "w", encoding="utf-8") as fh:
            json.dump(notebook_for_session(self.history), fh, indent=1)

    # --- the loop ------------------------------------------------------------------
    async def run(self, prompt: str, max_turns: int | None = None, *, context: str = "") -> RunResult:
        """Run the agent on ``prompt`` and return the final answer (``.record`` holds the details).

        ``context`` (the notebook's outline, for example) is appended to the prompt the model
        reads; the run record and events keep the prompt alone.

        Raises a :class:`~tinycode_jupyter.errors.TinyCodeError` subclass when the run
        itself fails; the transcript so far stays in ``agent.last_run`` and the conversation.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigurationError("prompt must be a non-empty string")
        async with self._lock:
            refuse_unpriced_cost_limits(self.llm, [*self.bus.callbacks, *self.interceptors])
            await self.start()
            record = RunRecord(uuid.uuid4().hex[:12], prompt, self.model, self.provider.name)
            self.last_run = record
            self.history.append(record)
            started = time.perf_counter()
            error: BaseException | None = None
            closes_before = self._closes
            await self.bus.emit(AgentStart(run_id=record.run_id, prompt=prompt, model=self.model, provider=self.provider.name))
            try:
                answer = await self._loop(record, prompt + context, max_turns or self.max_turns, closes_before)
                return RunResult(answer, record)
            except BaseException as exc:
                closed = self._closes != closes_before and not isinstance(exc, RunCancelled)
                if closed:
                    error = RunCancelled(_CLOSED)
                elif isinstance(exc, asyncio.CancelledError):
                    error = RunCancelled("the run was stopped")
                else:
                    error = exc
                record.error = f"{type(error).__name__}: {error}"
                if closed:
                    raise error from exc
                raise
            finally:
                self._active = None
                record.duration = time.perf_counter() - started
                await self.bus.emit(AgentEnd(run_id=record.run_id, record=copy.deepcopy(record), error=error))

    async def _loop(self, record: RunRecord, prompt: str, max_turns: int, closes_before: int) -> str:
        """The turns of one run; ``closes_before``: :meth:`close` calls before it (one more ends the run)."""
        if not self.messages:
            self.messages.append({"role": "system", "content": self.system_prompt})
        self.messages.append({"role": "user", "content": prompt})
        schemas = self.tool_schemas()
        for turn in range(1, max_turns + 1):
            if self._closes != closes_before:  # a step that outlived close() does not start another turn
                raise RunCancelled(_CLOSED)
            response = await self._call_model(record.run_id, turn, schemas)
            step = Step(turn, response.content, usage=response.usage, cost=response.cost, llm_duration=response.duration)
            record.steps.append(step)
            self._active = (record, step)
            self.messages.append(response.to_message())
            if not response.tool_calls:
                if response.content.strip():
                    record.answer = response.content
                    return response.content
                self.messages.append({"role": "user", "content": "Your reply was empty. Call a tool, or give the final answer as text."})
                continue
            await self._run_tool_calls(record, step, response, turn)
        raise MaxTurnsExceeded(max_turns)

    async def _call_model(self, run_id: str, turn: int, schemas: list[dict[str, Any]]) -> LLMResponse:
        await self._check_model_call(run_id, turn)
        outgoing = self.messages
        if self.bus.wants("llm_start"):
            start = LLMStart(run_id=run_id, turn=turn, messages=self._snapshots.of(self.messages), model=self.model)
            changes = [d for d in await self.bus.emit(start) if isinstance(d, ModifyMessages)]
            if changes:  # transforms compose; the last one is what is sent
                outgoing = changes[-1].messages

        async def on_delta(text: str | None, tool_delta: dict[str, Any] | None) -> None:
            await self.bus.emit(LLMDelta(run_id=run_id, turn=turn, text_delta=text, tool_call_delta=tool_delta))

        streaming = self.bus.wants("llm_delta")
        response = await self.llm.complete(outgoing, schemas, on_delta if streaming else None)
        await self.bus.emit(LLMEnd(run_id=run_id, turn=turn, response=copy.deepcopy(response)))
        return response

    async def _check_model_call(self, run_id: str, turn: int) -> None:
        """Ask every interceptor before a model call; one that fails stops the run (control fails closed)."""
        for interceptor in self.interceptors:
            try:
                await interceptor.before_model_call(run_id, turn)
            except StopRun as stop:
                raise stop.error from None
            except RunCancelled:
                raise
            except Exception as exc:
                raise RunCancelled(f"the run was stopped: the check {type(interceptor).__name__} failed "
                                   f"({type(exc).__name__}: {exc})") from exc  # fmt: skip

    async def _run_tool_calls(self, record: RunRecord, step: Step, response: LLMResponse, turn: int) -> None:
        pending = list(response.tool_calls)
        images: list[str] = []
        try:
            while pending:
                call = pending[0]
                debug = log.isEnabledFor(logging.DEBUG)
                if debug:
                    log.debug("tool call %s %s: %s", call.id, call.name, redact(call.arguments))
                call_record, result = await self.pipeline.run(call, record.run_id, turn)
                images += result.images if self.vision and call_record.ran else ()
                if debug:
                    log.debug("tool result %s ok=%s: %s", call.id, call_record.ok, redact(call_record.result))
                step.tool_calls.append(call_record)
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": call_record.result})
                pending.pop(0)
                if call_record.ran and any(effect.kind in _CHANGES_FILES for effect in call_record.effects):
                    await self._checkpoint(call_record)
            if images:
                self.messages.append(image_message(images, f"The {len(images)} image(s) the tool results above refer to, in order:"))
        finally:
            for call in pending:  # keep the conversation valid if the run is interrupted
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": "[not run: the run was stopped]"})

    async def _checkpoint(self, call: ToolCallRecord) -> None:
        if not self.checkpointer.enabled:
            return
        if not self.provider.capabilities.workdir_on_host:
            self._note_once(f"git checkpoints need a work dir on this machine; the {self.provider.name} provider's is remote")
            return
        detail = call.view.body if call.view is not None else ""
        outcome = await self.checkpointer.checkpoint(f"after {call.name}", detail)
        if outcome.note:
            self._note_once(f"git checkpoint: {outcome.note}" if outcome.committed else f"git checkpoint skipped: {outcome.note}")

    def _note_once(self, note: str) -> None:
        if note not in self._notes:
            self._notes.add(note)
            log.warning("%s", note)

    async def _call_tool_from_code(self, name: str, arguments: dict[str, Any]) -> Any:
        """Serve a custom-tool call made by code that run_python runs: the same pipeline as the model's calls."""
        active = self._active
        run_id, turn = (active[0].run_id, active[1].turn) if active else ("", 0)
        call = ToolCall(f"code-{uuid.uuid4().hex[:12]}", name, json.dumps(arguments, default=repr))
        call_record, result = await self.pipeline.run(call, run_id, turn, origin="code")
        if active is not None:
            active[1].tool_calls.append(call_record)
        if not call_record.ok:
            raise RuntimeError(call_record.result)
        return result.value

    def _attach_ui(self, ui: str) -> None:
        if ui != "rich":
            raise ConfigurationError(f"ui: unknown value {ui!r}; use 'rich' or None")
        from .hooks.rich_ui import RichUICallback

        self.bus.add(RichUICallback())


def _reject_unknown(unknown: dict[str, Any]) -> None:
    if not unknown:
        return
    name = sorted(unknown)[0]
    options = [p for p in inspect.signature(TinyCodeAgent.__init__).parameters if p not in ("self", "unknown")]
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigurationError(f"TinyCodeAgent: unknown option {name!r}{hint}")


def _resolve_model(model: str | None) -> str:
    if model:
        if not isinstance(model, str):
            raise ConfigurationError(f"model must be a string, got {type(model).__name__}")
        return model
    configured = os.environ.get(DEFAULT_MODEL_ENV)
    if configured:
        return configured
    if os.environ.get("OPENAI_API_KEY"):
        return "gpt-4.1-mini"
    raise ConfigurationError(
        f"no model configured: pass model='gpt-4.1-mini' (or 'anthropic/...', 'ollama/...'), "
        f"or set {DEFAULT_MODEL_ENV} or OPENAI_API_KEY"
    )


class _MessageSnapshots:
    """Copies of the conversation for hooks, made once per message (the conversation only grows)."""

    def __init__(self) -> None:
        self._copies: list[dict[str, Any]] = []
        self._sources: list[dict[str, Any]] = []

    def of(self, messages: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
        known = len(self._sources)
        if known > len(messages) or any(a is not b for a, b in zip(self._sources[-1:], messages[known - 1:known])):
            self._copies, self._sources, known = [], [], 0  # the conversation was reset or rewritten
        self._copies += copy_messages(messages[known:])
        self._sources += messages[known:]
        return tuple(self._copies)
