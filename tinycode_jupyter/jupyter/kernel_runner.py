"""Run an agent inside a live kernel: the loop in a worker thread, code on the main thread.

A kernel's event loop is already running, so ``asyncio.run`` cannot be used in a
magic. :class:`KernelRunner` runs the agent's coroutine in a worker thread with
its own loop, while the kernel's main thread executes code (so interrupts,
display and matplotlib behave as in a cell), applies UI updates, and pumps
pending comm/widget messages (Stop buttons, approvals, frontend replies; see
:mod:`.message_pump`). **Kernel → Interrupt** raises KeyboardInterrupt on the main
thread, and :meth:`KernelRunner.cancel` (a Stop button) does the same from any
thread: the agent is cancelled and the kernel stays usable.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import signal
import threading
from typing import Any, Callable, Coroutine, TypeVar

from ..errors import RunCancelled
from .background_loop import BackgroundLoop
from .message_pump import Pump, pending_comm_messages

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_SECONDS = 0.02
CANCEL_GRACE_SECONDS = 0.8
INTERRUPTED = "The run was interrupted; the kernel is ready. The transcript so far is in agent.last_run."
STOPPED = "The run was stopped; the kernel is ready. The transcript so far is in agent.last_run."


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
        """Stop the run (a Stop button): cancel the agent's task, and interrupt a step running on the main thread."""
        with self._state:
            if not self._active:
                return
            self._stop_requested = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
            main_ident = self._main_thread.ident  # set: the main thread is always running
            if self._executing and main_ident is not None and threading.current_thread() is not self._main_thread:
                signal.pthread_kill(main_ident, signal.SIGINT)

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
            self._active, self._stop_requested = True, False
        if self.background is not None:
            done = self.background.submit(main())
        else:
            threading.Thread(target=worker, name="tinycode-agent", daemon=True).start()
        with pending_comm_messages() as pump:
            try:
                self._serve_until(done, pump)
            except KeyboardInterrupt:
                self._cancel(done)
                raise RunCancelled(STOPPED if self._stop_requested else INTERRUPTED) from None
            finally:
                self._deactivate()
        if done.cancelled() or isinstance(done.exception(), asyncio.CancelledError):
            raise RunCancelled(STOPPED if self._stop_requested else INTERRUPTED)
        return done.result()

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
        except KeyboardInterrupt:
            # the user's interrupt: the agent sees a typed error (a KeyboardInterrupt inside an
            # asyncio task would take its event loop down), and the main thread stops the run
            future.set_exception(RunCancelled(STOPPED if self._stop_requested else INTERRUPTED))
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
