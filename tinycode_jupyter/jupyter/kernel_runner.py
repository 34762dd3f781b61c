"""Run an agent inside a live kernel: the loop in a worker thread, code on the main thread.

A kernel's event loop is already running, so ``asyncio.run`` cannot be used in a
magic. :class:`KernelRunner` runs the agent's coroutine in a worker thread with
its own loop, while the kernel's main thread executes code (so interrupts,
display and matplotlib behave as in a cell), applies UI updates, and pumps
pending comm/widget messages (Stop buttons, approvals, frontend replies; see
:mod:`.message_pump`). The kernel shows busy for the whole run (:mod:`.busy_status`).

**Kernel → Interrupt** (or :meth:`KernelRunner.cancel`, a Stop button) during a step stops
that step, which ends with what it did until then: its call is in the run's record and its
cell is written, because it changed the kernel's state; the run then stops at the next tool
or model call (:class:`.step_stop.StopAfterInterruptedStep`). Between steps, or when a step does not
stop within :data:`STEP_STOP_SECONDS`, or at a second interrupt, the agent is cancelled at
once. Either way the cell fails with ``RunCancelled`` and the kernel stays usable.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Sequence, TypeVar

from ..errors import RunCancelled
from ..providers.base import StepInterrupted
from .background_loop import BackgroundLoop
from .busy_status import busy_while_running
from .message_pump import Pump, pending_comm_messages

if TYPE_CHECKING:
    from .step_stop import StopAfterInterruptedStep

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_SECONDS = 0.02
CANCEL_GRACE_SECONDS = 0.8
STEP_STOP_SECONDS = 3.0
"""How long an interrupted step may take to stop and hand back its result before the agent is cancelled."""
INTERRUPTED = "The run was interrupted; the kernel is ready. The transcript so far is in agent.last_run."
STOPPED = "The run was stopped; the kernel is ready. The transcript so far is in agent.last_run."


class _StepDidNotStop(Exception):
    """An interrupted step did not hand back its result in time."""


class KernelRunner:
    """Drives one agent coroutine from the kernel's main thread."""

    def __init__(self, background: BackgroundLoop | None = None) -> None:
        self.background = background
        """Where the agent's coroutine runs; None: a fresh loop in a new thread for each run."""
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future | None]] = queue.SimpleQueue()
        self._main_thread = threading.main_thread()
        self._state = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._active = False
        self._executing = False
        self._stop_requested = False
        self._watch: StopAfterInterruptedStep | None = None
        self._provider: Any = None
        self._live: list[Any] = []
        self._stop_deadline: float | None = None

    # --- around one run (called on the main thread) ----------------------------------------
    def attach(self, agent: Any, hooks: Sequence[Any]) -> None:
        """For the next run of ``agent``: stop it after an interrupted step, and send what a step
        prints to the hook that shows it live (one with ``show_output``)."""
        from .step_stop import StopAfterInterruptedStep

        self._watch = StopAfterInterruptedStep()
        agent.add_callback(self._watch)
        self._provider = agent.provider
        self._live = [hook for hook in hooks if hasattr(hook, "show_output")]
        if hasattr(agent.provider, "on_output"):
            agent.provider.on_output = self._live[0].show_output if self._live else None

    def detach(self, agent: Any) -> None:
        """Undo :meth:`attach` after the run."""
        if self._watch is not None:
            agent.remove_callback(self._watch)
        if hasattr(agent.provider, "on_output"):
            agent.provider.on_output = None
        for hook in self._live:
            if hasattr(hook, "close"):
                hook.close()
        self._watch, self._provider, self._live = None, None, []

    # --- called from the worker thread ----------------------------------------------
    async def run_on_main(self, func: Callable[[], T]) -> T:
        """Run ``func`` on the kernel's main thread and await its result (used for code execution)."""
        if threading.current_thread() is self._main_thread:
            return func()
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._work.put((func, future))
        return await asyncio.wrap_future(future)

    def call_on_main(self, func: Callable[[], Any]) -> None:
        """Schedule ``func`` (a UI update, a comm send) on the main thread without waiting."""
        if threading.current_thread() is self._main_thread:
            func()
        else:
            self._work.put((func, None))

    # --- called from any thread ---------------------------------------------------------
    def cancel(self) -> None:
        """Stop the run (a Stop button): the running step first (it keeps what it did), else the agent at once."""
        with self._state:
            if not self._active:
                return
            self._stop_requested = True
            main_ident = self._main_thread.ident  # set: the main thread is always running
            if self._executing and main_ident is not None and threading.current_thread() is not self._main_thread:
                signal.pthread_kill(main_ident, signal.SIGINT)  # the step gets KeyboardInterrupt, as in a cell
                return
            if self._stop_step():
                return
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    # --- called on the main thread ----------------------------------------------------
    def run(self, make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine to completion, serving the main-thread work until it ends."""
        done: concurrent.futures.Future = concurrent.futures.Future()

        async def main() -> T:
            task = asyncio.current_task()  # set: asyncio runs main() as a task
            with self._state:
                self._loop, self._task = asyncio.get_running_loop(), task
                if self._stop_requested and task is not None:
                    task.cancel()
            try:
                return await make_coroutine()
            finally:
                with self._state:
                    self._task = None

        def worker() -> None:
            try:
                done.set_result(asyncio.run(main()))
            except BaseException as exc:  # handed to the main thread below
                done.set_exception(exc)

        with self._state:
            self._active, self._stop_requested, self._stop_deadline = True, False, None
        if self.background is not None:
            done = self.background.submit(main())
        else:
            threading.Thread(target=worker, name="tinycode-agent", daemon=True).start()
        with pending_comm_messages() as pump, busy_while_running():
            try:
                self._serve(done, pump)
            finally:
                self._deactivate()
        if done.cancelled() or isinstance(done.exception(), asyncio.CancelledError):
            raise RunCancelled(self._stop_message())
        return done.result()

    def _stop_message(self) -> str:
        return STOPPED if self._stop_requested else INTERRUPTED

    def _serve(self, done: concurrent.futures.Future, pump: Pump) -> None:
        """Serve until the run ends; an interrupt stops the running step first, the agent if there is none."""
        while True:
            try:
                self._serve_until(done, pump)
                return
            except KeyboardInterrupt:
                with self._state:
                    stopping = self._stop_step()
                if stopping:
                    continue
            except _StepDidNotStop:
                pass
            self._cancel(done)
            raise RunCancelled(self._stop_message()) from None

    def _stop_step(self) -> bool:
        """Ask the provider to stop a step it runs off the main thread (a sandbox); False if there is none to stop.

        Call with ``_state`` held. A step of the kernel provider runs on the main thread and gets the
        interrupt itself (:class:`StepInterrupted`); one that is already stopping is not asked twice.
        """
        watch, provider, loop = self._watch, self._provider, self._loop
        if watch is None or watch.step is None or watch.stop_message is not None or loop is None:
            return False
        if getattr(provider, "name", "") == "kernel":
            return False
        self._step_was_interrupted(watch)
        asyncio.run_coroutine_threadsafe(provider.interrupt(), loop)
        return True

    def _step_was_interrupted(self, watch: StopAfterInterruptedStep) -> None:
        watch.stop_message = self._stop_message()
        self._stop_deadline = time.monotonic() + STEP_STOP_SECONDS

    def _deactivate(self) -> None:
        """After this, :meth:`cancel` sends no more interrupts; one already on its way is absorbed here."""
        while True:
            try:
                with self._state:
                    self._active = False
                return
            except KeyboardInterrupt:
                continue

    def _serve_until(self, done: concurrent.futures.Future, pump: Pump) -> None:
        while not done.done():
            deadline = self._stop_deadline
            if deadline is not None and time.monotonic() > deadline:
                raise _StepDidNotStop
            self._serve_one(timeout=POLL_SECONDS)
            pump(5)
        self._drain()

    def _serve_one(self, timeout: float) -> None:
        try:
            func, future = self._work.get(timeout=timeout)
        except queue.Empty:
            return
        if future is None:
            _run_logged(func)
            return
        if not future.set_running_or_notify_cancel():
            return
        self._executing = True
        try:
            future.set_result(func())
        except StepInterrupted as interrupted:
            watch = self._watch
            if watch is None:  # no run to stop after the step: stop it now
                future.set_exception(RunCancelled(self._stop_message()))
                raise
            with self._state:
                self._step_was_interrupted(watch)
            future.set_result(interrupted.result)  # the step ends with what it did; the run stops after it
        except KeyboardInterrupt:
            # the user's interrupt: the agent sees a typed error (a KeyboardInterrupt inside an
            # asyncio task would take its event loop down), and the main thread stops the run
            future.set_exception(RunCancelled(self._stop_message()))
            raise
        except BaseException as exc:  # the step's own failure goes back to the agent
            future.set_exception(exc)
        finally:
            self._executing = False

    def _drain(self) -> None:
        while True:
            try:
                func, future = self._work.get_nowait()
            except queue.Empty:
                return
            if future is None:
                _run_logged(func)
            else:
                future.cancel()

    def _cancel(self, done: concurrent.futures.Future) -> None:
        with self._state:
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
        deadline = CANCEL_GRACE_SECONDS
        while not done.done() and deadline > 0:
            try:
                self._serve_one(timeout=POLL_SECONDS)
            except KeyboardInterrupt:
                pass
            deadline -= POLL_SECONDS
        self._drain()


def _run_logged(func: Callable[[], Any]) -> None:
    try:
        func()
    except Exception:
        log.exception("UI update failed")
