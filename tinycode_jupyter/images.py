"""Images for models that read them: taken from notebook outputs, checked, and sent as one user message.

Only raster formats pass (PNG, JPEG, GIF, WebP: never SVG, which is markup), only as plain
base64, at most :data:`MAX_IMAGES` per tool call and :data:`MAX_IMAGE_CHARS` each. Tool
results carry them (:attr:`~tinycode_jupyter.tools.base.ToolResult.images`); the agent sends
them in a user message after the step's tool results, since tool messages hold text only.
"""
from __future__ import annotations

import re
from typing import Any

RASTER_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGES = 4
MAX_IMAGE_CHARS = 2_000_000
"""Base64 characters of one image (about 1.5 MB of image)."""
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def image_url(mime: str, data: Any) -> str | None:
    """A ``data:`` URL for one output's image, or None when it is not a raster image in plain base64 under the cap."""
    text = "".join(data) if isinstance(data, list) else data
    if mime not in RASTER_TYPES or not isinstance(text, str):
        return None
    compact = "".join(text.split())
    if not compact or len(compact) > MAX_IMAGE_CHARS or not _BASE64.fullmatch(compact):
        return None
    return f"data:{mime};base64,{compact}"


def image_message(images: list[str], note: str) -> dict[str, Any]:
    """The user message that shows ``images`` to the model, after ``note`` saying where they come from."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": note}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return {"role": "user", "content": parts}
