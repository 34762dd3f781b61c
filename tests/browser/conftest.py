"""Fixtures for real-browser tests: one JupyterLab server and one Chromium per session.

Each test gets a fresh browser page, writes its own notebook, and shuts its
kernels down afterwards. Screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _require import require_all, require_tool
from labserver import BUNDLE, LabServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _require_module(name: str) -> None:
    if importlib.util.find_spec(name) is not None:
        return
    message = f"Python package {name} is not installed (uv pip install playwright jupyterlab notebook)"
    if require_all():
        pytest.fail(f"TINYCODE_REQUIRE_ALL=1 but {message}")
    pytest.skip(message)


def _require_bundle() -> None:
    if (BUNDLE / "package.json").is_file():
        return
    message = "the labextension is not built (cd labextension && npm ci && npm run build)"
    if require_all():
        pytest.fail(f"TINYCODE_REQUIRE_ALL=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_stack() -> str:
    """Skip (or fail under TINYCODE_REQUIRE_ALL=1) unless everything a browser test needs is here."""
    chromium = require_tool("chromium", "real-browser tests of the labextension")
    for module in ("playwright", "jupyterlab", "notebook"):
        _require_module(module)
    _require_bundle()
    return chromium


@pytest.fixture(scope="session")
def lab_server(browser_stack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("jupyter"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(browser_stack: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from notebook_page import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=browser_stack, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; on teardown: screenshot to tests/artifacts/<test>.png, kernels shut down."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    new_page = context.new_page()
    yield new_page
    ARTIFACTS.mkdir(exist_ok=True)
    new_page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    lab_server.shutdown_kernels()


@pytest.fixture
def model_server() -> Iterator[Any]:
    """A scripted model server for one test (modules that share a kernel define a module-scoped one)."""
    from tinycode_jupyter.testing import ScriptedServer

    with ScriptedServer() as server:
        yield server


@pytest.fixture
def extension_console(page: Any) -> list[str]:
    """Browser console lines that mention the extension (it logs only when it rejects a message)."""
    lines: list[str] = []
    page.on("console", lambda msg: lines.append(msg.text) if "tinycode-jupyter" in msg.text else None)
    return lines
