"""Shell command check: a gate, not a sandbox.

The command line is parsed (:mod:`.shell_parser`) and every simple command in it —
after ``;``, ``&&``, ``||``, ``|``, ``&``, newlines, inside ``$(…)``, backticks,
subshells and unquoted heredocs — must be on the safe list
(:mod:`.shell_commands`). On top of the name, it checks what turns a safe
command into an unsafe one: a wrapped command (``env``, ``timeout``, ``xargs``,
``find -exec``), options that run programs (``tar -I``, ``sed``'s ``e``, awk's
``system()``), writes outside the working directory (redirects, ``cp``, ``mv``,
``tee`` …), environment variables such as ``LD_PRELOAD``, code piped into an
interpreter, and ``python -c`` code, which goes through the Python checks.

It judges the text, not what programs do: ``python script.py`` runs whatever
the script holds. Isolation is the execution provider's job.
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..errors import ConfigurationError
from .finding import Finding
from .shell_commands import (
    BLOCKED_REASONS,
    DANGEROUS_ENV,
    DEFAULT_SAFE_COMMANDS,
    FORBIDDEN_OPTIONS,
    GIT_FORBIDDEN_GLOBALS,
    GIT_GLOBALS_WITH_VALUE,
    INTERPRETERS,
    STANDARD_BIN_DIRS,
    WRAPPERS,
    WRITE_ARGUMENTS,
    WRITE_OPTIONS,
    canonical_name,
)
from .shell_parser import Redirect, ShellParseError, SimpleCommand, Word, parse_command_line
from .write_area import WriteArea

PythonCheck = Callable[[str], list[Finding]]

_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})
_SAFE_DEVICES = re.compile(r"/dev/(null|stdout|stderr|fd/\d+)")
# sed: the "e" command, or an s/// command with the "e" flag, runs a shell command.
_SED_ADDRESS = r"(?:\d+|\$|/(?:\\.|[^/\\])*/)"
_SED_EXECUTES = re.compile(
    rf"(?:^|[;{{}}\n])\s*(?:{_SED_ADDRESS}(?:\s*,\s*{_SED_ADDRESS})?)?\s*!?\s*e(?:\s|;|$)"
    r"|s([^\\\n])(?:\\.|(?!\1).)*\1(?:\\.|(?!\1).)*\1[gpiImM0-9]*e"
)
_AWK_EXECUTES = re.compile(r"\bsystem\s*\(|\|\s*getline|\|&|\b(?:print|printf)\b[^;{}\n]*\|")


class ShellRule:
    """Checks command lines against the safe command list."""

    def __init__(self, safe_shell_commands: Sequence[str] | None, check_python: PythonCheck):
        if isinstance(safe_shell_commands, str):
            raise ConfigurationError("safe_shell_commands must be a list of command names, not a single string")
        self.allowed: dict[str, frozenset[str] | None] = dict(DEFAULT_SAFE_COMMANDS)
        for entry in safe_shell_commands or ():
            name, _, sub = entry.strip().partition(" ")
            if not name:
                raise ConfigurationError("safe_shell_commands entries must not be empty")
            name = canonical_name(name)
            current = self.allowed.get(name, frozenset())
            if not sub:
                self.allowed[name] = None
            elif current is not None:
                self.allowed[name] = current | {sub.strip()}
        self.python_check = check_python

    def check(self, command: str, workdir: str | None = None, extra_dirs: Sequence[str] = ()) -> list[Finding]:
        """One finding per refused simple command; an empty list when all are allowed.

        Writes may go to ``workdir``, the temp dir and ``extra_dirs``.
        """
        try:
            commands = parse_command_line(command)
        except ShellParseError as error:
            return [Finding(
                "shell",
                f"The command could not be parsed ({error}), so it was not run; "
                "write it as plain commands joined by ;, &&, || or |.",
            )]
        area = _WriteArea(workdir, extra_dirs)
        findings = (_CommandCheck(self, command, area).run() for command in commands)
        return [finding for finding in findings if finding is not None]


class _WriteArea:
    """Where commands may write (see :class:`WriteArea`), judged on shell words."""

    def __init__(self, workdir: str | None, extra_dirs: Sequence[str] = ()):
        self.area = WriteArea(workdir, extra_dirs)

    def problem(self, word: Word) -> str | None:
        """Why writing to ``word`` is refused, or None."""
        if word.dynamic or word.tilde:
            return "depends on a variable or the home directory"
        if word.text == "-" or _SAFE_DEVICES.fullmatch(word.text):
            return None
        return self.area.problem(word.text)


class _CommandCheck:
    """The first problem with one simple command, if any."""

    def __init__(self, rule: ShellRule, command: SimpleCommand, area: _WriteArea):
        self.rule = rule
        self.command = command
        self.area = area

    def run(self) -> Finding | None:
        for assignment in self.command.assignments:
            finding = self._check_assignment(assignment)
            if finding:
                return finding
        for redirect in self.command.redirects:
            if _writes(redirect):
                finding = self._check_write(redirect.target)
                if finding:
                    return finding
        return self._check_argv(self.command.argv) if self.command.argv else None

    def finding(self, message: str) -> Finding:
        return Finding("shell", message, self.command.line)

    # ---- the command itself ------------------------------------------------------------

    def _check_argv(self, argv: list[Word]) -> Finding | None:
        name_word, args = argv[0], argv[1:]
        if name_word.dynamic or name_word.pattern:
            return self.finding(
                f"The command name `{name_word.text}` is computed at run time, so it cannot be checked; "
                "write the command name out."
            )
        name = _command_name(name_word.text)
        if name in INTERPRETERS and name != "python" and self.command.piped and not _plain(args):
            return self._piped_into(name)
        finding = self._check_allowed(name, args)
        if finding:
            return finding
        return self._check_arguments(name, args)

    def _check_allowed(self, name: str, args: list[Word]) -> Finding | None:
        if name not in self.rule.allowed:
            reason = BLOCKED_REASONS.get(name)
            if reason:
                return self.finding(
                    f"`{name}` is blocked because it {reason}; ask the user, who can allow it with "
                    f"safe_shell_commands=[..., '{name}']."
                )
            return self.finding(
                f"`{name}` is not in the safe shell command list; use an allowed command, or ask the user "
                f"to add it with safe_shell_commands=[..., '{name}']."
            )
        subcommands = self.rule.allowed[name]
        if subcommands is None:
            return None
        sub = _git_subcommand(args)[0] if name == "git" else _first_plain_or_option(args)
        return self._check_subcommand(name, sub, subcommands)

    def _check_subcommand(self, name: str, sub: str | None, allowed: frozenset[str]) -> Finding | None:
        if sub is None or sub in allowed:
            return None
        return self.finding(
            f"`{name} {sub}` is not allowed (allowed: {', '.join(sorted(allowed))}); ask the user, who can "
            f"allow it with safe_shell_commands=[..., '{name} {sub}']."
        )

    def _check_git(self, args: list[Word]) -> Finding | None:
        sub, global_options = _git_subcommand(args)
        forbidden = next((option for option in global_options if option in GIT_FORBIDDEN_GLOBALS), None)
        if forbidden:
            return self._forbidden("git", forbidden)
        if sub == "grep" and any(arg.text.startswith(("-O", "--open-files-in-pager")) for arg in args):
            return self._forbidden("git grep", "-O")
        return None

    def _check_variables(self, name: str, args: list[Word]) -> Finding | None:
        """``export``/``set``/``local``: no dangerous variables, and no dump of every variable."""
        if name in ("export", "set") and all(arg.text == "-p" for arg in args):
            return self.finding(
                f"`{name}` without a variable {BLOCKED_REASONS[name]}; print only the variable you need."
            )
        return next(filter(None, (self._check_assignment(arg) for arg in args if arg.assignment)), None)

    def _check_arguments(self, name: str, args: list[Word]) -> Finding | None:
        for option in FORBIDDEN_OPTIONS.get(name, ()):
            if any(_is_option(arg.text, option) for arg in args):
                return self._forbidden(name, option)
        special = {
            "python": self._check_python,
            "git": self._check_git,
            "find": self._check_find,
            "sed": self._check_sed,
            "awk": self._check_awk,
            "cd": self._check_cd,
            "export": lambda args: self._check_variables("export", args),
            "set": lambda args: self._check_variables("set", args),
            "local": lambda args: self._check_variables("local", args),
        }.get(name)
        finding = special(args) if special else None
        if finding is None and name in WRAPPERS:
            finding = self._check_wrapper(name, args)
        return finding or self._check_write_arguments(name, args)

    def _forbidden(self, name: str, option: str) -> Finding:
        return self.finding(
            f"`{name} {option}` can run other programs, delete files or change the system, so it is blocked; "
            "leave that option out."
        )

    # ---- commands that run other commands -----------------------------------------------

    def _check_wrapper(self, name: str, args: list[Word]) -> Finding | None:
        value_options, positional = WRAPPERS[name]
        index = 0
        while index < len(args):
            text = args[index].text
            if text == "--":
                index += 1
                break
            if text.startswith("-") and len(text) > 1:
                index += 2 if text in value_options else 1
            elif name == "env" and args[index].assignment:
                finding = self._check_assignment(args[index])
                if finding:
                    return finding
                index += 1
            else:
                break
        wrapped = args[index + positional:]
        if wrapped:
            return self._check_argv(wrapped)
        if name == "env":
            return self.finding(f"`env` without a command {BLOCKED_REASONS['env']}; print only the variable you need.")
        return None

    def _check_find(self, args: list[Word]) -> Finding | None:
        for index, arg in enumerate(args):
            if arg.text in ("-exec", "-execdir", "-ok", "-okdir"):
                end = next((i for i in range(index + 1, len(args)) if args[i].text in (";", "+")), len(args))
                if end > index + 1:
                    finding = self._check_argv(args[index + 1:end])
                    if finding:
                        return finding
        return None

    def _check_python(self, args: list[Word]) -> Finding | None:
        index = 0
        while index < len(args):
            text = args[index].text
            if text == "-":
                break
            if text == "--" or not text.startswith("-"):
                return None  # a script file: its contents are not checked
            if text.startswith("--"):
                index += 1
                continue
            for position, letter in enumerate(text[1:], start=2):
                if letter in "cmWX":
                    attached = text[position:]
                    value = replace(args[index], text=attached) if attached else _argument(args, index + 1)
                    rest = args[index + 1:] if attached else args[index + 2:]
                    if letter == "c":
                        return self._check_python_code(value)
                    if letter == "m":
                        return self._check_python_module(value, rest)
                    index += 0 if attached else 1
                    break
            index += 1
        return self._check_python_stdin()

    def _check_python_code(self, code: Word | None) -> Finding | None:
        if code is None:
            return None
        if code.dynamic:
            return self.finding(
                "The code passed to `python -c` depends on shell variables or substitutions, so it cannot be "
                "checked; write it literally in single quotes."
            )
        findings = self.rule.python_check(code.text)
        return replace(findings[0], line=self.command.line) if findings else None

    def _check_python_module(self, module: Word | None, rest: list[Word]) -> Finding | None:
        if module is None or canonical_name(module.text) != "pip":
            return None  # like a script: runs a module that is not checked here
        return self._check_argv([Word("pip"), *rest])

    def _check_python_stdin(self) -> Finding | None:
        for redirect in self.command.redirects:
            if redirect.op in ("<<", "<<-") and redirect.heredoc is not None:
                if not redirect.target.quoted and re.search(r"[$`]", redirect.heredoc):
                    return self.finding(
                        "The heredoc given to python is changed by shell expansion; quote its delimiter "
                        "(<<'EOF') so the code is checked as written."
                    )
                return self._check_python_code(Word(redirect.heredoc))
            if redirect.op == "<<<":
                return self._check_python_code(redirect.target)
            if redirect.op == "<":
                return None  # a script file
        if self.command.piped:
            return self._piped_into("python")
        return self.finding(
            "`python` without a script or -c reads its program from standard input, which cannot be checked; "
            "use python -c '...' or a script file."
        )

    def _piped_into(self, name: str) -> Finding:
        return self.finding(
            f"Piping into `{name}` runs the piped text as code, which cannot be checked; "
            "save it to a file and inspect it instead."
        )

    # ---- commands with scripts of their own -------------------------------------------------

    def _check_sed(self, args: list[Word]) -> Finding | None:
        scripts = [_argument(args, i + 1) for i, arg in enumerate(args) if arg.text in ("-e", "--expression")]
        scripts += [replace(a, text=a.text.partition("=")[2]) for a in args if a.text.startswith("--expression=")]
        plain = _plain(args, value_options=frozenset({"-e", "--expression", "-f", "--file", "-l"}))
        if not scripts and plain and not any(arg.text in ("-f", "--file") for arg in args):
            scripts, plain = [plain[0]], plain[1:]
        if any(script and _SED_EXECUTES.search(script.text) for script in scripts):
            return self.finding(
                "`sed` with the `e` command or flag runs shell commands, so it is blocked; edit text without it."
            )
        in_place = any(arg.text.startswith("--in-place") or re.fullmatch(r"-[a-zA-Z]*i.*", arg.text) for arg in args)
        return next(filter(None, (self._check_write(word) for word in plain)), None) if in_place else None

    def _check_awk(self, args: list[Word]) -> Finding | None:
        plain = _plain(args, value_options=frozenset({"-F", "-v", "-f"}))
        if plain and not any(arg.text == "-f" for arg in args) and _AWK_EXECUTES.search(plain[0].text):
            return self.finding(
                "This awk program runs shell commands (system() or a pipe), so it is blocked; "
                "process the text without them."
            )
        return None

    def _check_cd(self, args: list[Word]) -> Finding | None:
        plain = _plain(args)
        if not plain or plain[-1].text == "-":
            return self.finding(
                "`cd` without a directory (or `cd -`) leaves the working directory; give a directory inside it."
            )
        problem = self.area.problem(plain[-1])
        if problem is None:
            return None
        return self.finding(
            f"`cd {plain[-1].text}` is blocked because that path {problem}; stay inside the working directory."
        )

    # ---- writes and environment -----------------------------------------------------------

    def _check_write_arguments(self, name: str, args: list[Word]) -> Finding | None:
        plain = _plain(args)
        which = WRITE_ARGUMENTS.get(name)
        targets = {"all": plain, "last": plain[-1:], "first": plain[:1]}.get(which or "", [])
        options = WRITE_OPTIONS.get(name, frozenset())
        for index, arg in enumerate(args):
            for option in options:
                if arg.text == option and index + 1 < len(args):
                    targets.append(args[index + 1])
                elif _is_option(arg.text, option) and arg.text != option:
                    targets.append(replace(arg, text=re.sub(rf"^{re.escape(option)}=?", "", arg.text)))
        return next(filter(None, (self._check_write(target) for target in targets)), None)

    def _check_write(self, target: Word) -> Finding | None:
        problem = self.area.problem(target)
        if problem is None:
            return None
        return self.finding(
            f"Writing to '{target.text}' is blocked because that path {problem}; "
            "write inside the working directory instead."
        )

    def _check_assignment(self, assignment: Word) -> Finding | None:
        variable = assignment.text.partition("=")[0].rstrip("+")
        if not DANGEROUS_ENV.fullmatch(variable):
            return None
        return self.finding(
            f"Setting {variable} can make commands load or run other programs, so it is blocked; "
            f"leave {variable} unchanged."
        )


def _writes(redirect: Redirect) -> bool:
    if redirect.op == ">&":
        return not (redirect.target.text.isdigit() or redirect.target.text == "-")
    return redirect.op in _WRITE_REDIRECTS


def _command_name(text: str) -> str:
    directory, base = posixpath.split(text)
    if directory in STANDARD_BIN_DIRS:
        return canonical_name(base)
    return text if directory else canonical_name(text)


def _is_option(text: str, option: str) -> bool:
    """``--opt``, ``--opt=value`` and, for one-letter options, ``-Xvalue``."""
    if text == option or text.startswith(option + "="):
        return True
    return len(option) == 2 and option[0] == "-" and text.startswith(option) and not text.startswith("--")


def _plain(args: list[Word], value_options: frozenset[str] = frozenset()) -> list[Word]:
    """The arguments that are not options (everything after ``--``)."""
    plain: list[Word] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg.text == "--":
            return plain + args[index + 1:]
        elif arg.text.startswith("-") and arg.text != "-":
            skip = arg.text in value_options
        else:
            plain.append(arg)
    return plain


def _git_subcommand(args: list[Word]) -> tuple[str | None, list[str]]:
    """git's subcommand (``--version`` counts as one) and the global options before it."""
    options: list[str] = []
    index = 0
    while index < len(args) and args[index].text.startswith("-") and args[index].text not in ("--version", "--help"):
        options.append(args[index].text.split("=")[0])
        index += 2 if args[index].text in GIT_GLOBALS_WITH_VALUE else 1
    return (args[index].text if index < len(args) else None), options


def _first_plain_or_option(args: list[Word]) -> str | None:
    """The subcommand: the first plain argument, else the first option (``pip --version``)."""
    plain = _plain(args)
    if plain:
        return plain[0].text
    return args[0].text if args else None


def _argument(args: list[Word], index: int) -> Word | None:
    return args[index] if index < len(args) else None
