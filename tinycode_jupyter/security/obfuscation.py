"""String-obfuscation check for Python code: a gate, not a sandbox.

Flags, from the AST:

- base64 in any form (``import base64``, ``base64.b64decode``, ``binascii.a2b_base64``,
  ``codecs.decode(x, "base64")``) and the rot13 codec: encoded text hides code from
  the other checks. This is what ``check_string_obfuscation=False`` turns off.
- strings built at run time that feed the places where a string becomes code or a
  module: ``exec``/``eval``/``compile``, ``__import__``/``importlib.import_module``,
  ``getattr`` (and friends) on the builtins, lookups in ``globals()``/``vars()``.
  There, concatenation, formatting, ``chr()``, ``bytes.fromhex``, ``[::-1]``,
  ``zlib``/``marshal`` and the like are flagged, followed through simple assignments.

Ordinary string work is never flagged on its own: ``.format()``, f-strings,
``",".join(...)``, ``chr(65)``, ``"abc"[::-1]`` and ``getattr(obj, "on_" + name)``
only count when their result reaches one of those sinks.
"""
from __future__ import annotations

import ast

from .finding import Finding
from .pyast import (
    BUILTINS_NAMES,
    ImportAliases,
    Nodes,
    StringConstants,
    call_name,
    code_argument,
    literal_str,
    module_argument,
)

_NOTE = (
    "work with plain text instead, or ask the user to call agent.set_check_string_obfuscation(False) "
    "if this is legitimate."
)
_ALWAYS_BLOCKED_CODECS = frozenset({"base64", "rot13"})
_CODEC_FUNCS = frozenset({
    "codecs.decode", "codecs.encode", "codecs.lookup", "codecs.getdecoder", "codecs.getencoder",
    "codecs.getincrementaldecoder", "codecs.getincrementalencoder", "codecs.getreader", "codecs.getwriter",
    "codecs.iterdecode", "codecs.iterencode",
})
_BINASCII_BASE64 = frozenset({"binascii.a2b_base64", "binascii.b2a_base64"})

# How strongly an expression was built at run time, with a few words on how.
_STRONG = 2
_WEAK = 1
_STRONG_CALLS = {
    "chr": "from chr() codes",
    "bytes.fromhex": "from hex", "bytearray.fromhex": "from hex",
    "binascii.unhexlify": "from hex", "binascii.a2b_hex": "from hex",
    "codecs.decode": "by decoding", "codecs.encode": "by encoding",
    "zlib.decompress": "by decompressing", "bz2.decompress": "by decompressing",
    "lzma.decompress": "by decompressing", "gzip.decompress": "by decompressing",
    "marshal.loads": "by unmarshalling", "pickle.loads": "by unpickling",
    "str.maketrans": "by character translation",
}
_STRONG_METHODS = {"fromhex": "from hex", "translate": "by character translation"}
_STRONG_NAMES = {"chr": "from chr() codes", "reversed": "by reversing a string"}
_WEAK_METHODS = frozenset({
    "join", "format", "format_map", "replace", "decode", "encode", "upper", "lower", "strip", "lstrip",
    "rstrip", "swapcase", "title", "capitalize", "removeprefix", "removesuffix",
})
_GETATTR_FUNCS = frozenset({"getattr", "setattr", "delattr"})
_NAMESPACE_FUNCS = frozenset({"globals", "locals", "vars"})


def check_obfuscation(nodes: Nodes, constants: StringConstants) -> list[Finding]:
    """Every obfuscation pattern among ``nodes`` (see the module docstring)."""
    taint = _Taint(nodes, ImportAliases(nodes))
    findings: list[Finding] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            findings.extend(_base64_finding(node.lineno) for alias in node.names if _is_base64(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_base64(node.module or ""):
            findings.append(_base64_finding(node.lineno))
        elif isinstance(node, ast.Call):
            findings.extend(_check_call(node, constants, taint))
        elif isinstance(node, ast.Subscript):
            findings.extend(_check_namespace_lookup(node, taint))
    return findings


def _is_base64(module: str) -> bool:
    return module.partition(".")[0] == "base64"


def _base64_finding(line: int) -> Finding:
    return Finding(
        "obfuscation",
        "base64 is blocked by check_string_obfuscation because encoded text can hide code from these checks; "
        + _NOTE,
        line,
    )


def _check_call(call: ast.Call, constants: StringConstants, taint: _Taint) -> list[Finding]:
    qualified = taint.aliases.call_name(call) or ""
    if (_is_base64(qualified) and "." in qualified) or qualified in _BINASCII_BASE64:
        return [_base64_finding(call.lineno)]
    if qualified in _CODEC_FUNCS:
        return _check_codec(call, qualified)
    name = call_name(call) or ""
    sink = code_argument(call) or module_argument(call)
    if sink is not None:
        modules = constants.resolve(sink)
        if modules is not None and any(_is_base64(m) for m in modules):
            return [_base64_finding(call.lineno)]
        return _flag_built(f"`{name}()`", sink, taint, _WEAK, call.lineno)
    if name in _GETATTR_FUNCS and len(call.args) > 1:
        if not _is_builtins(call.args[0]):
            return _flag_built(f"`{name}()`", call.args[1], taint, _STRONG, call.lineno)
        if literal_str(call.args[1]) is None:
            return [_sink_finding(f"`{name}()` on the builtins", "at run time", call.lineno)]
    return []


def _check_codec(call: ast.Call, name: str) -> list[Finding]:
    position = 1 if name.rpartition(".")[2] in {"decode", "encode", "iterdecode", "iterencode"} else 0
    codec_node = call.args[position] if len(call.args) > position else None
    codec_node = next((kw.value for kw in call.keywords if kw.arg == "encoding"), codec_node)
    codec = _normalise_codec(literal_str(codec_node) or "")
    if codec not in _ALWAYS_BLOCKED_CODECS:
        return []
    return [Finding(
        "obfuscation",
        f"The {codec} codec is blocked by check_string_obfuscation because encoded text can hide "
        "code from these checks; " + _NOTE,
        call.lineno,
    )]


def _normalise_codec(name: str) -> str:
    name = name.lower().replace("-", "").replace("_", "").replace(" ", "")
    return name.removesuffix("codec")


def _check_namespace_lookup(node: ast.Subscript, taint: _Taint) -> list[Finding]:
    if isinstance(node.slice, ast.Slice):
        return []
    if _is_builtins(node.value):
        if literal_str(node.slice) is None:
            return [_sink_finding("a lookup in the builtins", "at run time", node.lineno)]
        return []
    container = call_name(node.value) if isinstance(node.value, ast.Call) else None
    if container in _NAMESPACE_FUNCS:
        return _flag_built(f"a `{container}()` lookup", node.slice, taint, _STRONG, node.lineno)
    if isinstance(node.value, ast.Attribute) and node.value.attr == "__dict__":
        return _flag_built("a `__dict__` lookup", node.slice, taint, _STRONG, node.lineno)
    return []


def _is_builtins(node: ast.AST) -> bool:
    """``builtins``, ``__builtins__``, ``__import__("builtins")``, ``vars(builtins)``, ``builtins.__dict__``."""
    if isinstance(node, ast.Name):
        return node.id in BUILTINS_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr == "__dict__" and _is_builtins(node.value)
    if isinstance(node, ast.Call):
        if call_name(node) == "vars" and node.args:
            return _is_builtins(node.args[0])
        return literal_str(module_argument(node)) == "builtins"
    return False


def _flag_built(target: str, node: ast.AST, taint: _Taint, threshold: int, line: int) -> list[Finding]:
    level, how = taint.construction(node)
    return [_sink_finding(target, how, line)] if level >= threshold else []


def _sink_finding(target: str, how: str, line: int) -> Finding:
    return Finding(
        "obfuscation",
        f"The name or code passed to {target} is built {how}, which hides what will run; "
        "write it out literally instead.",
        line,
    )


class _Taint:
    """How strongly each assigned name was built at run time, followed through assignments.

    A worklist: a name's level only rises (0, 1, 2), so each assignment is revisited a
    bounded number of times however the assignments are ordered.
    """

    def __init__(self, nodes: Nodes, aliases: ImportAliases):
        self.aliases = aliases
        self._names: dict[str, tuple[int, str]] = {}
        entries: list[tuple[str, tuple[int, str], set[str]]] = []
        for node in nodes:
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
                entries.extend(_assignment_entries(node, node.value, aliases))
        readers: dict[str, list[tuple[str, tuple[int, str], set[str]]]] = {}
        for entry in entries:
            for name in entry[2]:
                readers.setdefault(name, []).append(entry)
        pending = list(entries)
        while pending:
            target, own, reads = pending.pop()
            best = max([own, *(self._names[name] for name in reads if name in self._names)], key=lambda x: x[0])
            if best[0] > self._names.get(target, (0, ""))[0]:
                self._names[target] = best
                pending.extend(readers.get(target, []))

    def construction(self, node: ast.AST) -> tuple[int, str]:
        """(level, how): 2 for chr/hex/reversal/decoding, 1 for concatenation or formatting, 0 for neither."""
        return _construction(node, self._names, self.aliases)


def _assignment_entries(
    node: ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr, value: ast.expr, aliases: ImportAliases
) -> list[tuple[str, tuple[int, str], set[str]]]:
    """(target, how ``value`` itself is built, the names it reads) for each simple target of ``node``."""
    targets: list[ast.expr] = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [target.id for target in targets if isinstance(target, ast.Name)]
    own, reads = (0, ""), set()
    for child in ast.walk(value):
        found = _builder(child, {}, aliases)
        own = found if found[0] > own[0] else own
        if isinstance(child, ast.Name):
            reads.add(child.id)
    if isinstance(node, ast.AugAssign):
        own = max(own, (_WEAK, "by concatenation"), key=lambda x: x[0])
        reads |= set(names)
    return [(name, own, reads) for name in names]


def _construction(node: ast.AST, names: dict[str, tuple[int, str]], aliases: ImportAliases) -> tuple[int, str]:
    best = (0, "")
    for child in ast.walk(node):
        found = _builder(child, names, aliases)
        if found[0] > best[0]:
            best = found
    return best


def _builder(node: ast.AST, names: dict[str, tuple[int, str]], aliases: ImportAliases) -> tuple[int, str]:
    """How strongly ``node`` alone builds a string; names already known to be built count too."""
    if isinstance(node, ast.Name):
        if node.id in _STRONG_NAMES:
            return _STRONG, _STRONG_NAMES[node.id]
        return names.get(node.id, (0, ""))
    if isinstance(node, ast.Call):
        return _call_builder(node, aliases.call_name(node) or "")
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        return (_STRONG, "by reversing a string") if _negative(node.slice.step) else (_WEAK, "by slicing")
    if isinstance(node, ast.BinOp):
        return _WEAK, "by concatenation"
    if isinstance(node, ast.JoinedStr):
        return _WEAK, "with an f-string"
    return 0, ""


def _call_builder(node: ast.Call, name: str) -> tuple[int, str]:
    if name in _STRONG_CALLS:
        return _STRONG, _STRONG_CALLS[name]
    if name.partition(".")[0] == "base64" or name in _BINASCII_BASE64:
        return _STRONG, "by base64 decoding"
    sequences = (ast.List, ast.Tuple, ast.GeneratorExp, ast.ListComp)
    if name in {"bytes", "bytearray"} and node.args and isinstance(node.args[0], sequences):
        return _STRONG, "from byte values"
    if isinstance(node.func, ast.Attribute):
        if node.func.attr in _STRONG_METHODS:
            return _STRONG, _STRONG_METHODS[node.func.attr]
        if node.func.attr in _WEAK_METHODS:
            return _WEAK, f"with .{node.func.attr}()"
    return 0, ""


def _negative(step: ast.expr | None) -> bool:
    if isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub):
        return True
    return isinstance(step, ast.Constant) and isinstance(step.value, (int, float)) and step.value < 0
