"""Cassettes: record every model request/response to a JSON file, and replay them without a model.

Replay fails loudly (:class:`CassetteMismatch`) when a request no longer matches
what was recorded: the user prompts and the tool calls the conversation made
must be the same. Tool *outputs* and the system prompt may differ (paths,
timings), so notebooks replay on any machine.

Both sides check before the first model call: :class:`ReplayLLM` reads and checks
the whole cassette (JSON within limits, format version, the shape of every
exchange), and :class:`RecordingLLM` checks that its file can be written. Every
problem is one line (:class:`CassetteError`). A recording is rewritten after every
call as a new file renamed over the old one, so the file on disk is always a whole
cassette: a crash or a full disk never leaves it cut short.
"""
from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import TinyCodeError
from .json_limits import JSONLimitError, loads_bounded
from .llm import LLM, DeltaCallback, LLMResponse, ToolCall, Usage, cap_arguments

FORMAT_VERSION = 1
MAX_CASSETTE_BYTES = 128 * 1024 * 1024
"""A larger file is refused before it is read."""
MAX_CASSETTE_DEPTH = 64
"""Nesting levels a cassette may have (one written here has about 10)."""

_NUMBER = (int, float)
_RESPONSE_FIELDS: dict[str, Any] = {"content": str, "tool_calls": list, "usage": dict, "cost": (*_NUMBER, type(None)),
                                    "model": str, "finish_reason": (str, type(None))}  # fmt: skip
"""A ``cost`` of None (null) is a call whose price was unknown."""
_CALL_FIELDS: dict[str, Any] = {"id": str, "name": str, "arguments": str}
_USAGE_FIELDS: dict[str, Any] = {"prompt_tokens": int, "completion_tokens": int, "cached_tokens": int}
_REQUEST_FIELDS: dict[str, Any] = {"conversation": list, "tools": list}


class CassetteError(TinyCodeError):
    """A cassette cannot be read, is not a cassette, or cannot be written."""


class CassetteMismatch(CassetteError):
    """A replayed request differs from the recorded one, the cassette ran out, or it does not exist."""


def request_key(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """What must match on replay: user prompts, assistant tool calls, and the tool names offered.

    The notebook's context (outline, variables, changes: it differs from one kernel to the next) and
    the notebook tools offered with it are not part of it, so a cassette replays in any notebook.
    """
    from .notebook.base import TOOL_NAMES
    from .notebook.context import without_context

    conversation = []
    for message in messages:
        if message["role"] == "user":
            content = message.get("content")
            conversation.append({"user": without_context(content) if isinstance(content, str) else content})
        elif message["role"] == "assistant" and message.get("tool_calls"):
            conversation.append({"calls": [[c["function"]["name"], c["function"]["arguments"]] for c in message["tool_calls"]]})
    offered = sorted(t["function"]["name"] for t in tools if t["function"]["name"] not in TOOL_NAMES)
    return {"conversation": conversation, "tools": offered}


class RecordingLLM:
    """Wraps a real model and writes each exchange to a cassette file (after every call).

    The path is checked when the recorder is made: :class:`CassetteError` if the file
    could not be written (a directory, a missing or read-only folder, a read-only file).
    :meth:`restore` puts the file back as it was, for a run that failed.
    """

    def __init__(self, inner: LLM, path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.model = inner.model
        self.path = recording_target(path)
        self.exchanges: list[dict[str, Any]] = []
        self._before: bytes | None = None
        """The file's bytes before this recorder first wrote it (None: there was no file)."""
        self._written = False

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None) -> LLMResponse:
        response = await self.inner.complete(messages, tools, on_delta)
        self.exchanges.append({"request": request_key(messages, tools), "response": _dump(response)})
        payload = {"version": FORMAT_VERSION, "model": self.model, "exchanges": self.exchanges}
        try:
            if not self._written:
                self._before = self.path.read_bytes() if self.path.exists() else None
            _replace_file(self.path, json.dumps(payload, indent=1).encode())
        except OSError as exc:
            raise CassetteError(f"cannot write cassette {self.path}: {exc.strerror or exc}; the file is as it was") from None
        self._written = True
        return response

    def restore(self) -> None:
        """Undo this recorder's writes: the file as it was before (or no file, if there was none)."""
        if not self._written:
            return
        if self._before is None:
            self.path.unlink(missing_ok=True)
        else:
            _replace_file(self.path, self._before)
        self._written = False


def recording_target(path: str | os.PathLike[str]) -> Path:
    """The file a recording to ``path`` writes (a symlink's target); :class:`CassetteError` if it cannot be written."""
    target = Path(path)
    target = target.resolve() if target.is_symlink() else target
    problem = _unwritable(target)
    if problem:
        raise CassetteError(f"cannot record to {os.fspath(path)}: {problem}")
    return target


def _unwritable(target: Path) -> str | None:
    """Why ``target`` cannot be (re)written as a whole new file, or None; probes with a real file."""
    if target.is_dir():
        return f"it is a directory; name a file in it, e.g. {target / 'run.json'}"
    folder = target.parent
    if not folder.exists():
        return f"the folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if target.exists() and not target.is_file():
        return "it is not a regular file"
    if target.exists() and not os.access(target, os.W_OK):
        return "the file is read-only"
    try:
        probe = _new_sibling(target)
    except OSError as exc:
        return f"cannot write in the folder {folder} ({exc.strerror or exc})"
    probe.unlink()
    return None


def _new_sibling(target: Path) -> Path:
    """A new empty file beside ``target`` (created with the user's umask, like any new file)."""
    sibling = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(sibling, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return sibling


def _replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file beside ``target``, then rename it over ``target`` (atomic)."""
    temporary = _new_sibling(target)
    try:
        if target.exists():
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class ReplayLLM:
    """Serves recorded responses in order, checking each request against the recording.

    The whole cassette is read and checked here, before any request: a missing, corrupt or
    foreign file is a one-line :class:`CassetteError`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        payload = _read_cassette(self.path)
        self.model = payload.get("model", "cassette")
        self.exchanges: list[dict[str, Any]] = payload["exchanges"]
        self.position = 0

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], on_delta: DeltaCallback | None = None) -> LLMResponse:
        if self.position >= len(self.exchanges):
            raise CassetteMismatch(f"cassette {self.path} has only {len(self.exchanges)} recorded requests; the run made more")
        exchange = self.exchanges[self.position]
        key = request_key(messages, tools)
        if key != exchange["request"]:
            raise CassetteMismatch(
                f"request {self.position + 1} does not match cassette {self.path}: "
                f"{_difference(exchange['request'], key)}; re-record the cassette with --record"
            )
        self.position += 1
        response = _load(exchange["response"])
        if on_delta and response.content:
            await on_delta(response.content, None)
        return response


def _read_cassette(path: Path) -> dict[str, Any]:
    """The cassette's payload, checked through; a one-line :class:`CassetteError` otherwise."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise CassetteError(f"cassette {path} is a directory, not a cassette file")
        if size > MAX_CASSETTE_BYTES:
            raise CassetteError(f"cassette {path} is {size:,} bytes, more than the {MAX_CASSETTE_BYTES:,} a cassette may have")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise CassetteMismatch(f"cassette {path} does not exist; record it first with --record") from None
    except OSError as exc:
        raise CassetteError(f"cannot read cassette {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CassetteError(f"cassette {path} is not UTF-8 text, so not a cassette") from None
    try:
        payload = loads_bounded(text, max_depth=MAX_CASSETTE_DEPTH, max_chars=MAX_CASSETTE_BYTES, what=f"cassette {path} is")
    except JSONLimitError as exc:
        raise CassetteError(f"{exc}, so not a cassette") from None
    except json.JSONDecodeError as exc:
        raise CassetteError(
            f"cassette {path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            "it is cut short or corrupt; re-record it with --record"
        ) from None
    problem = _shape_problem(payload)
    if problem:
        raise CassetteError(f"cassette {path} is not a tinycode cassette: {problem}")
    return payload


def _shape_problem(payload: Any) -> str | None:
    """The first way ``payload`` differs from a cassette of :data:`FORMAT_VERSION`, or None."""
    if not isinstance(payload, dict):
        return f"it holds a JSON {type(payload).__name__}, not an object"
    if "version" not in payload:
        return "it has no 'version'"
    if payload["version"] != FORMAT_VERSION:
        return f"it has format version {payload['version']!r}; this version of tinycode reads {FORMAT_VERSION}: re-record it"
    if not isinstance(payload.get("exchanges"), list):
        return "its 'exchanges' is missing or not a list"
    if not isinstance(payload.get("model", ""), str):
        return "its 'model' is not a string"
    for number, exchange in enumerate(payload["exchanges"], 1):
        problem = _exchange_problem(exchange, f"exchange {number}")
        if problem:
            return problem
    return None


def _exchange_problem(exchange: Any, where: str) -> str | None:
    problem = _fields_problem(exchange, {"request": dict, "response": dict}, where)
    if problem:
        return problem
    request, response = exchange["request"], exchange["response"]
    problem = (
        _fields_problem(request, _REQUEST_FIELDS, f"{where} request")
        or _fields_problem(response, _RESPONSE_FIELDS, f"{where} response")
        or _fields_problem(response["usage"], _USAGE_FIELDS, f"{where} usage")
    )
    if problem:
        return problem
    for index, call in enumerate(response["tool_calls"], 1):
        problem = _fields_problem(call, _CALL_FIELDS, f"{where} tool call {index}")
        if problem:
            return problem
    return None


def _fields_problem(value: Any, fields: dict[str, Any], where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where} is a {type(value).__name__}, not an object"
    for name, kind in fields.items():
        if name not in value:
            return f"{where} has no {name!r}"
        if not isinstance(value[name], kind) or (kind is not bool and isinstance(value[name], bool)):
            return f"{where} {name!r} is a {type(value[name]).__name__}"
    return None


def _difference(recorded: dict[str, Any], now: dict[str, Any]) -> str:
    """Where the request differs from the recorded one, on one line."""
    if recorded["tools"] != now["tools"]:
        added = sorted(set(now["tools"]) - set(recorded["tools"]))
        gone = sorted(set(recorded["tools"]) - set(now["tools"]))
        return f"the tools offered differ (new: {', '.join(added) or 'none'}; gone: {', '.join(gone) or 'none'})"
    for step, (was, is_now) in enumerate(zip(recorded["conversation"], now["conversation"]), 1):
        if was != is_now:
            return f"step {step} is {_brief(is_now)} where the recording has {_brief(was)}"
    return f"the conversation has {len(now['conversation'])} steps where the recording has {len(recorded['conversation'])}"


def _brief(step: Any) -> str:
    if isinstance(step, dict) and "user" in step:
        return f"the prompt {_clip(repr(step['user']))}"
    if isinstance(step, dict) and isinstance(step.get("calls"), list):
        return f"the tool calls {_clip(repr(step['calls']))}"
    return _clip(repr(step))


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dump(response: LLMResponse) -> dict[str, Any]:
    return {
        "content": response.content,
        "tool_calls": [asdict(c) for c in response.tool_calls],
        "usage": asdict(response.usage),
        "cost": response.cost,
        "model": response.model,
        "finish_reason": response.finish_reason,
    }


def _load(data: dict[str, Any]) -> LLMResponse:
    return LLMResponse(
        data["content"],
        [ToolCall(c["id"], c["name"], cap_arguments(c["arguments"])) for c in data["tool_calls"]],
        Usage(**{name: data["usage"][name] for name in _USAGE_FIELDS}, estimated=data["usage"].get("estimated") is True),
        cost=data["cost"],
        model=data["model"],
        finish_reason=data["finish_reason"],
    )
