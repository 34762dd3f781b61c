import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["TINYCODE_ALLOW_MODEL_REQUESTS"] = "0"  # any non-loopback model request fails


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last: Playwright's sync API keeps an event loop running on the main
    thread for the rest of the session, which async tests cannot share."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid)


@pytest.fixture(scope="module")
def server():
    """A loopback scripted model server shared by a module's tests (a module may define its own)."""
    from tinycode_jupyter.testing import ScriptedServer

    with ScriptedServer() as s:
        yield s
