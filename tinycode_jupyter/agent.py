"""TinyCodeAgent: the loop of model turns and tool calls, and nothing Jupyter-specific."""
from __future__ import annotations

import asyncio
import difflib
import inspect
import logging
import os
import time
import uuid
from typing import Any, Callable, Sequence

from .checkpoints import GitCheckpointer
from .dispatch import ToolDispatcher
from .errors import ConfigurationError, MaxTurnsExceeded, RunCancelled
from .events import Callback, Event, EventBus
from .llm import LLM, LiteLLMModel, LLMResponse
from .logging_setup import enable_debug_logging_from_env, redact
from .mcp_tools import MCPServers
from .prompts import build_system_prompt
from .providers.base import Provider
from .providers.registry import create_provider
from .record import RunRecord, RunResult, Step
from .security import SecurityPolicy
from .tools.base import Tool, as_tool
from .tools.builtin import BuiltinFlags, ToolContext, builtin_tools
from .truncation import TruncationConfig

log = logging.getLogger(__name__)

DEFAULT_MODEL_ENV = "TINYCODE_MODEL"
_FILE_CHANGING_TOOLS = {"run_python", "bash", "write_file", "update_file"}


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
        llm: LLM | None = None,
        **unknown: Any,
    ) -> None:
        _reject_unknown(unknown)
        enable_debug_logging_from_env()
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigurationError(f"max_turns must be a positive integer, got {max_turns!r}")
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise ConfigurationError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
        if provider_config is not None and not isinstance(provider_config, dict):
            raise ConfigurationError(f"provider_config must be a dict, got {type(provider_config).__name__}")
        self.llm: LLM = llm or LiteLLMModel(_resolve_model(model), api_key=api_key, model_kwargs=model_kwargs)
        self.model = self.llm.model
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
        for callback in callbacks:
            self.bus.add(callback)
        self._custom_tools = [as_tool(t) for t in tools]
        self._context = ToolContext(self.provider, self.security)
        flags = BuiltinFlags(enable_python_tool, enable_shell_tool, enable_file_tools, enable_todo_write)
        self.tools: dict[str, Tool] = {}
        for item in builtin_tools(self._context, flags) + self._custom_tools:
            if item.name in self.tools:
                raise ConfigurationError(f"tools: two tools are named {item.name!r}")
            self.tools[item.name] = item
        self._extra_system_prompt = system_prompt
        self.dispatcher = ToolDispatcher(self.tools, self.bus, self.truncation)
        self.mcp = MCPServers(self.tools)
        self.messages: list[dict[str, Any]] = []
        self.history: list[RunRecord] = []
        self.last_run: RunRecord | None = None
        self._started = False
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
        """Stop the MCP servers and the provider."""
        self._started = False
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
    def add_callback(self, callback: Callback) -> None:
        self.bus.add(callback)

    def remove_callback(self, callback: Callback) -> None:
        self.bus.remove(callback)

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

    def tool_schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def export_notebook(self, path: str | os.PathLike[str]) -> None:
        """Write every run of this agent as a standalone notebook that re-runs without the agent."""
        import json

        from .jupyter.cells import notebook_for_session

        with open(path, "w", encoding="utf-8") as fh:
            json.dump(notebook_for_session(self.history), fh, indent=1)

    # --- the loop ------------------------------------------------------------------
    async def run(self, prompt: str, max_turns: int | None = None) -> RunResult:
        """Run the agent on ``prompt`` and return the final answer (``.record`` holds the details).

        Raises a :class:`~tinycode_jupyter.errors.TinyCodeError` subclass when the run
        itself fails; the transcript so far stays in ``agent.last_run`` and the conversation.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigurationError("prompt must be a non-empty string")
        async with self._lock:
            await self.start()
            record = RunRecord(uuid.uuid4().hex[:12], prompt, self.model, self.provider.name)
            self.last_run = record
            self.history.append(record)
            started = time.perf_counter()
            error: BaseException | None = None
            await self.bus.emit(Event("agent_start", record.run_id, prompt=prompt, record=record))
            try:
                answer = await self._loop(record, prompt, max_turns or self.max_turns)
                return RunResult(answer, record)
            except BaseException as exc:
                error = RunCancelled("the run was stopped") if isinstance(exc, asyncio.CancelledError) else exc
                record.error = f"{type(error).__name__}: {error}"
                raise
            finally:
                record.duration = time.perf_counter() - started
                await self.bus.emit(Event("agent_end", record.run_id, record=record, error=error))

    async def _loop(self, record: RunRecord, prompt: str, max_turns: int) -> str:
        if not self.messages:
            self.messages.append({"role": "system", "content": self.system_prompt})
        self.messages.append({"role": "user", "content": prompt})
        schemas = self.tool_schemas()
        for turn in range(1, max_turns + 1):
            response = await self._call_model(record.run_id, turn, schemas)
            step = Step(turn, response.content, usage=response.usage, cost=response.cost, llm_duration=response.duration)
            record.steps.append(step)
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
        start = Event("llm_start", run_id, turn, messages=self.messages, model=self.model)
        await self.bus.emit(start)
        outgoing = start.messages if start.messages is not None else self.messages  # hooks may transform them

        async def on_delta(text: str | None, tool_delta: dict[str, Any] | None) -> None:
            await self.bus.emit(Event("llm_delta", run_id, turn, text_delta=text, tool_call_delta=tool_delta))

        streaming = self.bus.wants("llm_delta")
        response = await self.llm.complete(outgoing, schemas, on_delta if streaming else None)
        await self.bus.emit(Event("llm_end", run_id, turn, response=response))
        return response

    async def _run_tool_calls(self, record: RunRecord, step: Step, response: LLMResponse, turn: int) -> None:
        pending = list(response.tool_calls)
        try:
            while pending:
                call = pending[0]
                debug = log.isEnabledFor(logging.DEBUG)
                if debug:
                    log.debug("tool call %s %s: %s", call.id, call.name, redact(call.arguments))
                call_record = await self.dispatcher.dispatch(call, record.run_id, turn)
                if debug:
                    log.debug("tool result %s ok=%s: %s", call.id, call_record.ok, redact(call_record.result))
                step.tool_calls.append(call_record)
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": call_record.result})
                pending.pop(0)
                if call.name in _FILE_CHANGING_TOOLS:
                    await self._checkpoint(call.name, call_record.arguments)
        finally:
            for call in pending:  # keep the conversation valid if the run is interrupted
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": "[not run: the run was stopped]"})

    async def _checkpoint(self, tool_name: str, arguments: dict[str, Any] | str) -> None:
        if not self.checkpointer.enabled:
            return
        if not self.provider.capabilities.workdir_on_host:
            self._note_once(f"git checkpoints need a work dir on this machine; the {self.provider.name} provider's is remote")
            return
        described = arguments if isinstance(arguments, dict) else {}
        command = described.get("command") or described.get("code") or described.get("file_path") or ""
        outcome = await self.checkpointer.checkpoint(f"after {tool_name}", str(command))
        if outcome.note:
            self._note_once(f"git checkpoint skipped: {outcome.note}")

    def _note_once(self, note: str) -> None:
        if note not in self._notes:
            self._notes.add(note)
            log.warning("%s", note)

    async def _call_tool_from_code(self, name: str, arguments: dict[str, Any]) -> Any:
        """Serve a custom-tool call made from inside run_python code."""
        tool = self.tools[name]
        tool.check_arguments(arguments)
        result = await self.dispatcher.invoke(tool, arguments)
        if not result.ok:
            raise RuntimeError(result.text)
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
