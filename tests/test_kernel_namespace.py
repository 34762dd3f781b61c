"""The kernel provider's custom-tool functions never overwrite or delete a user's variable.

Each tool is reachable from code as ``tinycode_tools.<name>``, and also as ``<name>`` when the user
has no variable (and Python no builtin) of that name. Closing removes exactly what was injected and
is still the injected object, so the user namespace ends as it was.
"""
from __future__ import annotations

import json

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tinycode_jupyter import TinyCodeAgent, tool
from tinycode_jupyter.errors import ConfigurationError
from tinycode_jupyter.providers.kernel import TOOLS_NAMESPACE, KernelProvider
from tinycode_jupyter.testing import ScriptedLLM, ScriptedServer, call, say

from kernel_harness import Kernel

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def shell():
    shell = InteractiveShell.instance()
    saved = dict(shell.user_ns)
    yield shell
    shell.user_ns.clear()
    shell.user_ns.update(saved)


async def echo_handler(name, args):
    return {"tool": name, **args}


def snapshot(namespace):
    return {name: id(value) for name, value in namespace.items()}


async def started(shell, tmp_path, names):
    provider = KernelProvider(tmp_path, shell=shell)
    await provider.start()
    provider.set_tool_handler(names, echo_handler)
    return provider


async def test_a_tool_named_like_a_user_variable_leaves_the_variable_alone(shell, tmp_path):
    shell.user_ns["search"] = 42
    before = snapshot(shell.user_ns)
    provider = await started(shell, tmp_path, ["search"])
    assert shell.user_ns["search"] == 42
    result = await provider.run_python(f"{TOOLS_NAMESPACE}.search(query='x')")
    assert result.ok, result
    assert result.value == "{'tool': 'search', 'query': 'x'}"
    assert (await provider.run_python("search")).value == "42"
    await provider.close()
    assert shell.user_ns["search"] == 42
    assert snapshot(shell.user_ns) == before


async def test_a_free_name_is_injected_too_and_close_removes_only_it(shell, tmp_path):
    before = snapshot(shell.user_ns)
    provider = await started(shell, tmp_path, ["lookup"])
    result = await provider.run_python("(lookup(key=1), tinycode_tools.lookup(key=2))")
    assert result.value == "({'tool': 'lookup', 'key': 1}, {'tool': 'lookup', 'key': 2})"
    await provider.close()
    assert snapshot(shell.user_ns) == before


async def test_a_user_variable_created_after_injection_survives_close(shell, tmp_path):
    provider = await started(shell, tmp_path, ["lookup"])
    await provider.run_python("lookup = 'mine now'\ntinycode_tools = 'also mine'")
    await provider.close()
    assert shell.user_ns["lookup"] == "mine now"
    assert shell.user_ns[TOOLS_NAMESPACE] == "also mine"


async def test_a_user_deleting_the_injected_names_does_not_break_close(shell, tmp_path):
    before = snapshot(shell.user_ns)
    provider = await started(shell, tmp_path, ["lookup"])
    await provider.run_python("del lookup, tinycode_tools")
    await provider.close()
    await provider.close()
    assert snapshot(shell.user_ns) == before


async def test_a_tool_named_like_a_builtin_does_not_shadow_it(shell, tmp_path):
    before = snapshot(shell.user_ns)  # IPython's own `open` is in it; `len` is only a builtin
    provider = await started(shell, tmp_path, ["open", "len"])
    assert snapshot(shell.user_ns) == {**before, TOOLS_NAMESPACE: id(shell.user_ns[TOOLS_NAMESPACE])}
    result = await provider.run_python("(len('abc'), tinycode_tools.len(x=1)['tool'], tinycode_tools.open(x=1)['tool'])")
    assert result.value == "(3, 'len', 'open')"
    await provider.close()
    assert snapshot(shell.user_ns) == before


async def test_registering_again_replaces_only_the_providers_own_objects(shell, tmp_path):
    provider = await started(shell, tmp_path, ["first"])
    shell.user_ns["first"] = "the user's"  # rebound while the tools were in place
    provider.set_tool_handler(["first", "second"], echo_handler)  # e.g. after connect_mcp_server
    assert shell.user_ns["first"] == "the user's"
    assert (await provider.run_python("(tinycode_tools.first(a=1)['tool'], second(a=1)['tool'])")).value == "('first', 'second')"
    await provider.close()
    assert shell.user_ns["first"] == "the user's"
    assert "second" not in shell.user_ns and TOOLS_NAMESPACE not in shell.user_ns


async def test_a_user_variable_named_tinycode_tools_is_kept_and_the_registration_refused(shell, tmp_path):
    shell.user_ns[TOOLS_NAMESPACE] = {"the": "user's"}
    provider = KernelProvider(tmp_path, shell=shell)
    await provider.start()
    with pytest.raises(ConfigurationError, match="the kernel variable 'tinycode_tools' is yours"):
        provider.set_tool_handler(["lookup"], echo_handler)
    assert shell.user_ns[TOOLS_NAMESPACE] == {"the": "user's"} and "lookup" not in shell.user_ns
    await provider.close()
    assert shell.user_ns[TOOLS_NAMESPACE] == {"the": "user's"}


@tool(name="search")
def search_tool(query: str) -> str:
    """Search the notes.

    Args:
        query: What to look for.
    """
    return f"found {query}"


async def test_through_the_agent_the_model_is_told_the_namespace_and_the_user_keeps_search(shell, tmp_path):
    shell.user_ns["search"] = 42
    llm = ScriptedLLM([call("run_python", {"code": "hit = tinycode_tools.search(query='x')\nprint(hit, search)"}), say("done")])
    agent = TinyCodeAgent(llm=llm, provider=KernelProvider(tmp_path, shell=shell), tools=[search_tool])
    async with agent:
        assert await agent.run("find x") == "done"
        assert shell.user_ns["search"] == 42
    assert shell.user_ns["search"] == 42 and TOOLS_NAMESPACE not in shell.user_ns
    system_prompt = llm.requests[0]["messages"][0]["content"]
    assert "Custom tools (search)" in system_prompt and "tinycode_tools.<name>(...)" in system_prompt
    tool_output = llm.requests[1]["messages"][-1]["content"]
    assert "found x 42" in tool_output


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("kernel")))
    yield k
    k.shutdown()


def test_in_a_real_kernel_search_is_still_42_after_the_run_and_after_close(kernel):
    with ScriptedServer([call("run_python", {"code": "print(tinycode_tools.search(query='x'), search)"}), say("done")]) as server:
        setup = kernel.execute(
            "from tinycode_jupyter import TinyCodeAgent, tool\n"
            "from tinycode_jupyter.jupyter.kernel_runner import KernelRunner\n"
            "search = 42\n"
            "@tool(name='search')\n"
            "def _search(query: str) -> str:\n"
            "    '''Search.'''\n"
            "    return 'found ' + query\n"
            f"agent = TinyCodeAgent(model='openai/scripted', model_kwargs={{'api_base': {server.url!r}}}, provider='kernel',\n"
            "                      provider_config={'shell': get_ipython()}, tools=[_search])\n"
            "runner = KernelRunner()\n"
            "agent.provider.main_thread_runner = runner.run_on_main\n"
            "answer = runner.run(lambda: agent.run('find x'))\n"
            "during = search\n"
            "runner.run(agent.close)\n"
            "del _search\n"
        )
        assert setup.status == "ok", setup.text()
        assert kernel.eval("(str(answer), during, search, 'tinycode_tools' in globals())") == "('done', 42, 42, False)"
        tool_result = server.requests[1]["body"]["messages"][-1]["content"]
        assert "found x 42" in tool_result
        assert "tinycode_tools.<name>(...)" in json.dumps(server.requests[0]["body"]["messages"][0])
