"""Images in cell outputs reach a model that reads them, over the real HTTP seams; others get their names only.

A notebook (the headless document owner, through the protocol) has a cell whose output is a
PNG; the scripted model calls ``read_cells``; the next request on the wire is inspected.
"""
from __future__ import annotations

import asyncio
import base64
from typing import Any

import nbformat
import pytest

from tinycode_jupyter import TinyCodeAgent
from tinycode_jupyter.images import MAX_IMAGES, image_url
from tinycode_jupyter.models.prices import supports_vision
from tinycode_jupyter.notebook.comm_backend import DirectTransport, connect
from tinycode_jupyter.notebook.document import NotebookDocument
from tinycode_jupyter.notebook.workspace import run_with_notebook
from tinycode_jupyter.testing import ScriptedServer, call, say

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


def plot_notebook(images: int = 1, mime: str = "image/png", data: str = PNG) -> Any:
    nb = nbformat.v4.new_notebook()
    outputs = [nbformat.v4.new_output("display_data", data={mime: data, "text/plain": "<Figure>"}) for _ in range(images)]
    nb.cells = [nbformat.v4.new_code_cell("plt.plot(sales)", id="plot", outputs=outputs),
                nbformat.v4.new_code_cell("%%agent\nWhat does the plot show?", id="agent")]  # fmt: skip
    return nb


def run(nb: Any, model: str, vision: bool | None = None, route: str = "url") -> list[dict[str, Any]]:
    """One run whose model reads every cell and answers; the request bodies the server received."""
    with ScriptedServer([call("read_cells", {}), say("A rising line.")]) as server:
        async def main() -> None:
            notebook = await connect(DirectTransport(NotebookDocument(nb, "deny", "t.ipynb", lambda: "agent")), "agent")
            assert notebook is not None
            base = getattr(server, route)
            async with TinyCodeAgent(model=model, api_key="k", model_kwargs={"api_base": base}, provider="kernel",
                                     vision=vision) as agent:  # fmt: skip
                await run_with_notebook(agent, "What does the plot show?", notebook, "agent")

        asyncio.run(main())
        return [r["body"] for r in server.requests]


def image_parts(body: dict[str, Any]) -> list[Any]:
    found = []
    for message in body["messages"]:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                found.append(part["image_url"]["url"])
            elif part.get("type") == "image":  # Anthropic's block
                found.append(f"data:{part['source']['media_type']};base64,{part['source']['data']}")
    return found


def test_a_vision_model_gets_the_plot_of_a_cell_it_reads_after_the_tool_result():
    second = run(plot_notebook(), "openai/gpt-4o")[1]
    assert supports_vision("openai/gpt-4o") is True  # what the model map says decides
    assert image_parts(second) == [f"data:image/png;base64,{PNG}"]
    roles = [m["role"] for m in second["messages"]]
    assert roles[-2:] == ["tool", "user"]  # the images follow the tool result they belong to
    tool_text = second["messages"][-2]["content"]
    assert "[image/png output: attached as image 1]" in tool_text


def test_anthropic_gets_the_image_as_an_image_block():
    second = run(plot_notebook(), "anthropic/claude-sonnet-4-5", route="anthropic_url")[1]
    assert image_parts(second) == [f"data:image/png;base64,{PNG}"]


def test_a_model_not_known_to_read_images_gets_only_their_names():
    second = run(plot_notebook(), "openai/scripted")[1]
    assert supports_vision("openai/scripted") is None
    assert image_parts(second) == []
    assert "[image/png output]" in second["messages"][-1]["content"]


def test_vision_can_be_forced_on_for_a_server_the_map_does_not_know():
    second = run(plot_notebook(), "openai/scripted", vision=True)[1]
    assert image_parts(second) == [f"data:image/png;base64,{PNG}"]


@pytest.mark.parametrize("mime, data", [("image/svg+xml", "<svg onload='alert(1)'/>"),
                                        ("image/png", "not base64 \" onerror=alert(1)"),
                                        ("image/png", "A" * 2_000_004)])  # fmt: skip
def test_svg_markup_non_base64_and_oversized_images_are_never_sent(mime, data):
    second = run(plot_notebook(mime=mime, data=data), "openai/gpt-4o")[1]
    assert image_parts(second) == []
    assert f"[{mime} output, not attached" in second["messages"][-1]["content"]
    assert image_url(mime, data) is None


def test_at_most_four_images_per_call():
    second = run(plot_notebook(images=MAX_IMAGES + 2), "openai/gpt-4o")[1]
    assert len(image_parts(second)) == MAX_IMAGES
    assert second["messages"][-2]["content"].count("not attached") == 2
