"""The security policy a provider consults before it runs code: gates, not sandboxes.

The checks read code and command lines before they run and refuse what breaks
the policy; they cannot stop a program from misbehaving once it runs. Real
isolation (a separate process under bubblewrap, a Modal sandbox) is the
execution provider's job; these gates keep an honest model on the paths the
user allowed, and explain the refusal in one sentence the model can act on.

Python is read the way a kernel reads a cell: ``!cmd`` and ``%magic`` lines are
checked as the shell commands and code they run, and a one-line cell that names
a magic (``rm -- data.csv``, automagic) is checked both as Python and as that magic.

Code that does not parse is refused with a ``"syntax"`` finding instead of
being passed on: the interpreter that runs it may accept syntax this one does
not (a newer Python on Modal), and a gate must not wave through what it
could not read. The finding carries the SyntaxError's message and line.
"""
from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import replace

from .finding import Finding
from .imports import ImportRule
from .ipython import automagic_call, scan_ipython
from .obfuscation import check_obfuscation
from .pyast import StringConstants, executed_strings, parse_cell
from .shell import ShellRule


class SecurityPolicy:
    """Import allowlist, string-obfuscation check and shell command check.

    ``check_python``/``check_shell`` return an empty list when the code may run.
    ``check_string_obfuscation`` may be changed at any time.
    """

    def __init__(
        self,
        authorized_imports: Sequence[str] | None = None,
        check_string_obfuscation: bool = True,
        bypass_shell_safety: bool = False,
        safe_shell_commands: Sequence[str] | None = None,
    ):
        self.imports = ImportRule(authorized_imports)
        self.check_string_obfuscation = check_string_obfuscation
        self.bypass_shell_safety = bypass_shell_safety
        self.shell = ShellRule(safe_shell_commands, check_python=self.check_python)

    def check_python(self, code: str) -> list[Finding]:
        """Findings for Python (or IPython cell) code; ``!cmd`` lines go through the shell check."""
        try:
            findings = self._python(code)
        except RecursionError:
            findings = [Finding("syntax", "The code is nested too deeply to check, so it was not run; simplify it.")]
        return list(dict.fromkeys(findings))  # drop exact repeats, keep order

    def check_shell(self, command: str, workdir: str | None = None, extra_dirs: Sequence[str] = ()) -> list[Finding]:
        """Findings for a shell command line; writes may go to ``workdir``, the temp dir and ``extra_dirs``."""
        if self.bypass_shell_safety:
            return []
        return self.shell.check(command, workdir, extra_dirs)

    def _python(self, code: str) -> list[Finding]:
        # A one-line cell naming a magic runs as that magic in a kernel, and as Python elsewhere: check both.
        magic = automagic_call(code)
        try:
            trees = [parse_cell(code)]
        except SyntaxError as error:
            if magic is None:
                return [Finding(
                    "syntax",
                    f"SyntaxError: {error.msg} (line {error.lineno}); the code was not run, fix the syntax and "
                    "try again.",
                    error.lineno,
                )]
            trees = []
        except ValueError as error:  # source with null bytes
            return [Finding("syntax", f"The code could not be read ({error}), so it was not run.")]
        nodes = [node for tree in [*trees, magic] if tree is not None for node in ast.walk(tree)]
        constants = StringConstants(nodes)
        # Obfuscation first: on a line that trips both rules it is the more specific explanation.
        findings = check_obfuscation(nodes, constants) if self.check_string_obfuscation else []
        findings += self.imports.check(nodes, constants)
        ipython_findings, embedded = scan_ipython(nodes, constants)
        findings += ipython_findings
        for item in embedded + executed_strings(nodes, constants):
            inner = self._python(item.text) if item.language == "python" else self.check_shell(item.text)
            findings += [replace(finding, line=item.line) for finding in inner]
        return findings
