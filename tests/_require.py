"""Skip a test when a system tool is missing, or fail when TINYCODE_REQUIRE_ALL=1 (CI)."""
from __future__ import annotations

import os
import shutil

import pytest


def require_all() -> bool:
    return os.environ.get("TINYCODE_REQUIRE_ALL") == "1"


def require_tool(name: str, why: str = "") -> str:
    """Return the tool's path; skip (or fail under TINYCODE_REQUIRE_ALL=1) when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed{': ' + why if why else ''} (apt-get install -y {name})"
    if require_all():
        pytest.fail(f"TINYCODE_REQUIRE_ALL=1 but {message}")
    pytest.skip(message)
