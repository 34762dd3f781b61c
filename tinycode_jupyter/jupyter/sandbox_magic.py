"""``%%sandbox NAME``: run a written-back cell again in the provider its code came from.

A cell the agent wrote from a ``local`` or ``modal`` run starts with ``%%sandbox local``
(``%%sandbox modal``, ...; see :func:`.cells.runs_where_it_ran`), so re-running the notebook
runs that code in the sandbox again, never on the host. Without ``%load_ext tinycode_jupyter``
IPython fails such a cell at once ("Cell magic `%%sandbox` not found"): nothing runs.

The body is what the tool call became: Python, ``%%bash`` and a script, or ``%%writefile PATH``
and the file's content. The provider is the session's: the agent's own when the agent uses that
provider (the cells share its state), else one started for these cells, which the next agent
built for that provider takes over (:attr:`.session.AgentSession.sandboxes`). The output is
shown as a cell's would be, and a step that fails fails the cell.
"""
from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class

from ..errors import RunCancelled, TinyCodeError
from .cells import HOST_PROVIDERS, SANDBOX_MAGIC
from .kernel_runner import KernelRunner
from .magics import PlainText

if TYPE_CHECKING:
    from ..providers.base import ExecResult, Provider
    from .session import AgentSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What a ``%%sandbox`` cell asks the provider to do."""

    kind: Literal["python", "shell", "write"]
    text: str
    path: str = ""

    @classmethod
    def of(cls, body: str) -> "Step":
        """The step of a cell's body: ``%%bash`` and a script, ``%%writefile PATH`` and content, or Python."""
        first, _, rest = body.partition("\n")
        words = _words(first)
        if words == ["%%bash"]:
            return cls("shell", rest)
        if words[:1] == ["%%writefile"] and len(words) == 2:
            return cls("write", rest, words[1])
        if first.lstrip().startswith("%%"):
            raise UsageError(f"%%{SANDBOX_MAGIC}: runs Python, %%bash or %%writefile PATH cells, not {first.strip()!r}")
        return cls("python", body)

    async def run(self, provider: "Provider") -> ExecResult:
        if self.kind == "shell":
            return await provider.run_shell(self.text)
        if self.kind == "write":
            from ..providers.base import ExecResult
            from ..tools.context import ToolContext

            path = ToolContext(provider).resolve(self.path)
            await provider.file_op("write_bytes", path=path, data=self.text.encode(), create_dirs=True)
            return ExecResult()
        return await provider.run_python(self.text)


class SandboxCellError(Exception):
    """The cell's code failed in the sandbox; shown with the sandbox's own traceback."""

    def __init__(self, provider: str, result: ExecResult) -> None:
        if result.error is not None:
            what, self.lines = f"{result.error.name}: {result.error.value}", result.error.traceback.splitlines()
        elif result.timed_out:
            what, self.lines = "the step timed out", []
        else:
            what, self.lines = f"the command exited with status {result.exit_code}", []
        super().__init__(f"{what} (in the {provider} sandbox)")

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of the frames of this module."""
        return [*self.lines, f"{type(self).__name__}: {self}"]


@magics_class
class SandboxMagics(Magics):
    """The ``%%sandbox`` cell magic of one kernel session."""

    def __init__(self, shell: Any, session: "AgentSession") -> None:
        super().__init__(shell=shell)
        self.session = session

    @cell_magic
    def sandbox(self, line: str, cell: str) -> Any:
        """%%sandbox NAME: run the cell in the provider NAME (local, modal, ...), where the agent ran it."""
        name = line.strip()
        if not name:
            raise UsageError(f"%%{SANDBOX_MAGIC}: name the provider the cell's code ran in, e.g. %%{SANDBOX_MAGIC} local")
        if name in HOST_PROVIDERS:
            raise UsageError(f"%%{SANDBOX_MAGIC} {name}: that code runs in this kernel; run it without %%{SANDBOX_MAGIC}")
        step = Step.of(cell)
        try:
            result = KernelRunner(self.session.background).run(lambda: self._run(name, step))
        except RunCancelled:
            raise KeyboardInterrupt from None
        except TinyCodeError as exc:
            raise UsageError(f"%%{SANDBOX_MAGIC} {name}: {type(exc).__name__}: {exc}") from None
        return _show(result, name)

    async def _run(self, name: str, step: Step) -> ExecResult:
        return await step.run(await self._provider(name))

    async def _provider(self, name: str) -> "Provider":
        from ..providers.registry import create_provider

        agent = self.session.agent
        if agent is not None and agent.provider.name == name:
            await agent.start()
            return agent.provider
        provider = self.session.sandboxes.get(name)
        if provider is None:
            provider = self.session.sandboxes[name] = create_provider(name, None, None)
        await provider.start()
        return provider

    def close(self) -> None:
        """Stop the providers started for ``%%sandbox`` cells that no agent took over."""
        providers = list(self.session.sandboxes.values())
        self.session.sandboxes.clear()
        for provider in providers:
            try:
                KernelRunner(self.session.background).run(provider.close)
            except Exception:
                log.exception("closing the %s sandbox failed", provider.name)


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%{SANDBOX_MAGIC}: {exc} in {line.strip()!r}") from None


def _show(result: ExecResult, provider: str) -> Any:
    """The result as a cell shows it: streams, displays, the last value; a failure fails the cell."""
    from IPython.display import display

    if result.stdout:
        sys.stdout.write(result.stdout)
    if result.stderr:
        sys.stderr.write(result.stderr)
    for bundle in result.displays:
        display(bundle, raw=True)
    if not result.ok:
        raise SandboxCellError(provider, result)
    return PlainText(result.value) if result.value is not None else None
