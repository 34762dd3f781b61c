"""Run an agent inside a live kernel: the loop in a worker thread, code on the main thread.

A kernel's event loop is already running, so ``asyncio.run`` cannot be used in a
magic. :class:`KernelRunner` runs the agent's coroutine in a worker thread with
its own loop, while the kernel's main thread executes code (so interrupts,
display and matplotlib behave as in a cell), applies UI updates, and pumps
pending comm/widget messages (Stop buttons, approvals, frontend replies).
**Kernel → Interrupt** raises KeyboardInterrupt on the main thread: the agent is
cancelled and the kernel stays usable.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from typing import Any, Callable, Coroutine, Iterator, TypeVar

from ..errors import RunCancelled

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_SECONDS = 0.02
CANCEL_GRACE_SECONDS = 0.8


class KernelRunner:
    """Drives one agent coroutine from the kernel's main thread."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future | None]] = queue.SimpleQueue()
        self._main_thread = threading.main_thread()

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

    # --- called on the main thread ----------------------------------------------------
    def run(self, make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine to completion, serving the main-thread work until it ends."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        loop_box: dict[str, Any] = {}

        def worker() -> None:
            async def main() -> T:
                loop_box["task"] = asyncio.current_task()
                loop_box["loop"] = asyncio.get_running_loop()
                return await make_coroutine()

            try:
                done.set_result(asyncio.run(main()))
            except BaseException as exc:  # handed to the main thread below
                done.set_exception(exc)

        thread = threading.Thread(target=worker, name="tinycode-agent", daemon=True)
        thread.start()
        with _ui_events() as pump:
            try:
                self._serve_until(done, pump)
            except KeyboardInterrupt:
                self._cancel(loop_box, done, pump)
                raise RunCancelled("The run was interrupted; the kernel is ready. The transcript so far is in agent.last_run.") from None
        return done.result()

    def _serve_until(self, done: concurrent.futures.Future, pump: Callable[[int], None]) -> None:
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
        try:
            future.set_result(func())
        except BaseException as exc:  # KeyboardInterrupt included: it is the user's interrupt
            future.set_exception(exc)
            if isinstance(exc, KeyboardInterrupt):
                raise

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

    def _cancel(self, loop_box: dict[str, Any], done: concurrent.futures.Future, pump: Callable[[int], None]) -> None:
        loop, task = loop_box.get("loop"), loop_box.get("task")
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
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


@contextlib.contextmanager
def _ui_events() -> Iterator[Callable[[int], None]]:
    """Process pending kernel messages (comm replies, widget clicks) while a cell runs, if in a kernel."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        yield lambda n: None
        return
    try:
        from jupyter_ui_poll import ui_events
    except ImportError:
        log.warning("jupyter-ui-poll is missing: Stop buttons and approvals wait until the cell ends")
        yield lambda n: None
        return
    with ui_events() as poll:
        yield poll
