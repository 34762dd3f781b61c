"""A small parser for POSIX/bash command lines, written for the shell gate.

It is not a shell. It reads quotes (``'…'``, ``"…"``, ``$'…'``), escapes, line
continuations, comments, the operators ``; & && || | |&``, newlines, subshells
``( )``, groups, ``if``/``while``/``for`` keywords, ``[[ ]]``, ``(( ))``,
redirects (``> >> < 2> &> >& <<< <<``) and heredocs, and returns every simple
command — including the ones nested in ``$(…)``, backticks, ``<(…)``, ``${…}``
and unquoted heredoc bodies — so that each can be checked. What it cannot read
(``case``, function definitions, unbalanced quotes) raises :class:`ShellParseError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_NESTING = 32
_METACHARS = frozenset(" \t\n;&|()<>")
_OPERATORS = (  # longest first
    ";;&", "&>>", "<<<", "<<-",
    "&&", "||", "|&", ";;", ";&", "&>", ">>", ">|", "<<", "<>", ">&", "<&",
    ">", "<", "|", "&", ";", "(", ")",
)
_REDIRECTS = frozenset({"&>>", "<<<", "<<-", "&>", ">>", ">|", "<<", "<>", ">&", "<&", ">", "<"})
_TRANSPARENT = frozenset({"{", "}", "!", "if", "then", "elif", "else", "fi", "do", "done", "while", "until", "time"})
_UNSUPPORTED = frozenset({"case", "esac", "function", "coproc", "select"})
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*\+?=")
_BRACE_EXPANSION = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*|[0-9@*#?$!-])")
_ANSI_NUMBER = re.compile(r"x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{1,4})|U([0-9a-fA-F]{1,8})|([0-7]{1,3})")
_ANSI_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
                 "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


class ShellParseError(ValueError):
    """The command line could not be read."""


@dataclass
class Word:
    """One word after quote removal; expansions keep their source text (``$HOME``)."""

    text: str
    dynamic: bool = False  # holds $var, ${…}, $(…), `…` or $((…)): known only at run time
    pattern: bool = False  # holds an unquoted glob or brace expansion: *, ?, […], {a,b}
    tilde: bool = False  # starts with an unquoted ~
    quoted: bool = False  # some part was quoted or escaped
    assignment: bool = False  # NAME=value, unquoted NAME


@dataclass
class Redirect:
    op: str
    fd: int | None
    target: Word
    heredoc: str | None = None  # body of << and <<-


@dataclass
class SimpleCommand:
    """One command with its words; ``piped`` when its standard input is the previous command's output."""

    argv: list[Word]
    assignments: list[Word]
    redirects: list[Redirect]
    line: int
    piped: bool = False


def parse_command_line(text: str) -> list[SimpleCommand]:
    """Every simple command in ``text``, nested ones included."""
    commands: list[SimpleCommand] = []
    _Parser(text, commands, depth=0, line=1).parse_all()
    return commands


@dataclass
class _Builder:
    line: int
    piped: bool
    argv: list[Word] = field(default_factory=list)
    assignments: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    mode: str = "command"  # "for": swallow the loop words; "test": inside [[ ]]


@dataclass
class _PendingHeredoc:
    redirect: Redirect
    delimiter: str
    strip_tabs: bool
    expands: bool


class _Parser:
    """Character-level lexing and token-level parsing in one pass over ``text``."""

    def __init__(self, text: str, commands: list[SimpleCommand], depth: int, line: int):
        if depth > MAX_NESTING:
            raise ShellParseError("substitutions are nested too deeply")
        self.text = text
        self.pos = 0
        self.line = line
        self.depth = depth
        self.commands = commands
        self.pending: list[_PendingHeredoc] = []

    # ---- parsing -------------------------------------------------------------------------

    def parse_all(self) -> None:
        self._parse_sequence(closer=None)
        if self.pending:
            self._read_heredocs()

    def _parse_sequence(self, closer: str | None) -> None:
        builder = _Builder(self.line, piped=False)
        while True:
            kind, value, line = self._token()
            if builder.mode == "test":
                if kind == "eof":
                    raise ShellParseError("'[[' is never closed with ']]'")
                if isinstance(value, Word) and value.text == "]]" and not value.quoted:
                    builder.mode = "command"
                continue
            if builder.mode == "for" and (kind in ("word", "arith")):
                continue
            if kind == "eof":
                if closer:
                    raise ShellParseError(f"missing '{closer}'")
                self._finish(builder)
                return
            if kind in ("word", "redir") and not (builder.argv or builder.assignments or builder.redirects):
                builder.line = line
            if isinstance(value, Word):
                self._add_word(builder, value)
            elif isinstance(value, Redirect):
                builder.redirects.append(value)
            elif kind == "arith":
                if builder.argv:
                    raise ShellParseError("unexpected '(('")
            elif value == ")":
                if closer != ")":
                    raise ShellParseError("unexpected ')'")
                self._finish(builder)
                return
            elif value == "(":
                if builder.argv or builder.assignments:
                    raise ShellParseError("unexpected '(' (function definitions and arrays are not supported)")
                self._parse_sequence(closer=")")
            elif value in (";;", ";&", ";;&"):
                raise ShellParseError("case statements are not supported")
            else:
                self._finish(builder)
                builder = _Builder(line, piped=value in ("|", "|&"))

    def _add_word(self, builder: _Builder, word: Word) -> None:
        if builder.argv:
            builder.argv.append(word)
        elif word.assignment:
            builder.assignments.append(word)
        elif word.quoted or builder.assignments:
            builder.argv.append(word)
        elif word.text in _TRANSPARENT:
            return
        elif word.text == "for":
            builder.mode = "for"
        elif word.text == "[[":
            builder.mode = "test"
        elif word.text in _UNSUPPORTED:
            raise ShellParseError(f"'{word.text}' is not supported")
        else:
            builder.argv.append(word)

    def _finish(self, builder: _Builder) -> None:
        if builder.argv or builder.assignments or builder.redirects:
            self.commands.append(
                SimpleCommand(builder.argv, builder.assignments, builder.redirects, builder.line, builder.piped)
            )

    # ---- tokens --------------------------------------------------------------------------

    def _token(self) -> tuple[str, Word | Redirect | str | None, int]:
        self._skip_blanks()
        if self.pos >= len(self.text):
            return "eof", None, self.line
        line = self.line
        char = self.text[self.pos]
        if char == "#":
            while self.pos < len(self.text) and self.text[self.pos] != "\n":
                self.pos += 1
            return self._token()
        if char == "\n":
            self.pos += 1
            self.line += 1
            self._read_heredocs()
            return "op", "\n", line
        if self.text.startswith("((", self.pos):
            self.pos += 2
            self._read_arithmetic()
            return "arith", None, line
        if char in "<>" and self.text.startswith("(", self.pos + 1):
            return "word", self._read_word(), line
        operator = next((op for op in _OPERATORS if self.text.startswith(op, self.pos)), None)
        if operator in _REDIRECTS:
            self.pos += len(operator)
            return "redir", self._read_redirect(operator, fd=None), line
        if operator:
            self.pos += len(operator)
            return "op", operator, line
        start = self.pos
        word = self._read_word()
        if word.text.isdigit() and not word.quoted and self.pos == start + len(word.text):
            redirect = next((op for op in _OPERATORS if op in _REDIRECTS and self.text.startswith(op, self.pos)), None)
            if redirect and not redirect.startswith("&"):
                self.pos += len(redirect)
                return "redir", self._read_redirect(redirect, fd=int(word.text)), line
        return "word", word, line

    def _skip_blanks(self) -> None:
        while self.pos < len(self.text):
            if self.text[self.pos] in " \t":
                self.pos += 1
            elif self.text.startswith("\\\n", self.pos):
                self.pos += 2
                self.line += 1
            else:
                return

    def _read_redirect(self, op: str, fd: int | None) -> Redirect:
        self._skip_blanks()
        at_substitution = self.text[self.pos:self.pos + 2] in ("<(", ">(")
        if self.pos >= len(self.text) or (self.text[self.pos] in _METACHARS and not at_substitution):
            raise ShellParseError(f"redirect '{op}' has no target")
        target = self._read_word()
        redirect = Redirect(op, fd, target)
        if op in ("<<", "<<-"):
            self.pending.append(_PendingHeredoc(redirect, target.text, op == "<<-", expands=not target.quoted))
        return redirect

    def _read_heredocs(self) -> None:
        pending, self.pending = self.pending, []
        for heredoc in pending:
            body_line = self.line
            lines = []
            while self.pos < len(self.text):
                end = self.text.find("\n", self.pos)
                end = len(self.text) if end < 0 else end
                line_text = self.text[self.pos:end]
                self.pos = min(end + 1, len(self.text))
                self.line += 1
                if heredoc.strip_tabs:
                    line_text = line_text.lstrip("\t")
                if line_text == heredoc.delimiter:
                    break
                lines.append(line_text)
            heredoc.redirect.heredoc = "\n".join(lines) + ("\n" if lines else "")
            if heredoc.expands:
                _Parser(heredoc.redirect.heredoc, self.commands, self.depth + 1, body_line).scan_expansions()

    # ---- words ---------------------------------------------------------------------------

    def _read_word(self) -> Word:
        parts: list[tuple[str, bool]] = []  # (text, unquoted)
        word = Word("")
        if self.text[self.pos] in "<>":  # process substitution <(…) / >(…)
            start = self.pos
            self.pos += 2
            self._parse_nested(")")
            parts.append((self.text[start:self.pos], False))
            word.dynamic = True
        while self.pos < len(self.text) and self.text[self.pos] not in _METACHARS:
            part = self._read_word_part(word)
            if part is not None:
                parts.append(part)
        word.text = "".join(text for text, _ in parts)
        shape = "".join(text if unquoted else "\0" * len(text) for text, unquoted in parts)
        word.tilde = shape.startswith("~")
        word.pattern = word.text not in ("[", "[[", "]]") and (
            bool(set(shape) & set("*?[")) or bool(_BRACE_EXPANSION.search(shape))
        )
        word.assignment = bool(_ASSIGNMENT.match(shape))
        return word

    def _read_word_part(self, word: Word) -> tuple[str, bool] | None:
        """One piece of a word: (its text, whether it was unquoted); marks ``word`` quoted/dynamic."""
        char = self.text[self.pos]
        if self.text.startswith("\\\n", self.pos):  # line continuation
            self.pos += 2
            self.line += 1
            return None
        if char == "\\":
            word.quoted = True
            self.pos += 2
            return self.text[self.pos - 1:self.pos] or "\\", False
        if char == "'":
            end = self.text.find("'", self.pos + 1)
            if end < 0:
                raise ShellParseError("unbalanced single quote")
            part = self.text[self.pos + 1:end]
            self.line += part.count("\n")
            self.pos = end + 1
            word.quoted = True
            return part, False
        if char == '"' or self.text.startswith('$"', self.pos):
            self.pos += 1 if char == '"' else 2
            part, dynamic = self._read_double_quoted()
            word.quoted = True
            word.dynamic |= dynamic
            return part, False
        if self.text.startswith("$'", self.pos):
            word.quoted = True
            return self._read_ansi_c(), False
        if char in "$`":
            part, dynamic = self._read_expansion()
            word.dynamic |= dynamic
            return part, not dynamic
        self.pos += 1
        return char, True

    def _read_double_quoted(self) -> tuple[str, bool]:
        """From just after an opening ``"`` to just after the closing one."""
        parts: list[str] = []
        dynamic = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(parts), dynamic
            if char == "\\" and self.text[self.pos + 1:self.pos + 2] in ("$", "`", '"', "\\", "\n"):
                escaped = self.text[self.pos + 1]
                if escaped == "\n":
                    self.line += 1
                else:
                    parts.append(escaped)
                self.pos += 2
            elif char in "$`":
                part, is_dynamic = self._read_expansion()
                parts.append(part)
                dynamic |= is_dynamic
            else:
                if char == "\n":
                    self.line += 1
                parts.append(char)
                self.pos += 1
        raise ShellParseError("unbalanced double quote")

    def _read_expansion(self) -> tuple[str, bool]:
        """At ``$`` or a backtick: the source text of the expansion and whether it is dynamic."""
        start = self.pos
        if self.text[self.pos] == "`":
            self._read_backticks()
        elif self.text.startswith("$((", self.pos):
            self.pos += 3
            self._read_arithmetic()
        elif self.text.startswith("$(", self.pos):
            self.pos += 2
            self._parse_nested(")")
        elif self.text.startswith("${", self.pos):
            self.pos += 2
            self._read_braced()
        else:
            match = _PARAMETER.match(self.text, self.pos)
            if not match:
                self.pos += 1
                return "$", False
            self.pos = match.end()
        return self.text[start:self.pos], True

    def _parse_nested(self, closer: str) -> None:
        nested = _Parser(self.text, self.commands, self.depth + 1, self.line)
        nested.pos = self.pos
        nested._parse_sequence(closer=closer)
        if nested.pending:
            raise ShellParseError("heredocs inside substitutions are not supported")
        self.pos, self.line = nested.pos, nested.line

    def _read_backticks(self) -> None:
        self.pos += 1
        inner: list[str] = []
        start_line = self.line
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "`":
                self.pos += 1
                _Parser("".join(inner), self.commands, self.depth + 1, start_line).parse_all()
                return
            if char == "\\" and self.text[self.pos + 1:self.pos + 2] in ("`", "$", "\\"):
                inner.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == "\n":
                self.line += 1
            inner.append(char)
            self.pos += 1
        raise ShellParseError("unbalanced backtick")

    def _read_braced(self) -> None:
        """From just after ``${`` to just after its ``}``; substitutions inside are parsed."""
        depth = 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
            elif char == "'":
                end = self.text.find("'", self.pos + 1)
                if end < 0:
                    raise ShellParseError("unbalanced single quote")
                self.pos = end + 1
            elif char == '"':
                self.pos += 1
                self._read_double_quoted()
            elif char in "$`":
                self._read_expansion()
            else:
                depth += {"{": 1, "}": -1}.get(char, 0)
                self.pos += 1
                if depth == 0:
                    return
        raise ShellParseError("unbalanced '${'")

    def _read_arithmetic(self) -> None:
        """From just after ``((`` to just after the matching ``))``; substitutions inside are parsed."""
        depth = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "$`":
                self._read_expansion()
            elif char == "(":
                depth += 1
                self.pos += 1
            elif char == ")":
                if depth == 0:
                    if not self.text.startswith("))", self.pos):
                        raise ShellParseError("unbalanced '(('")
                    self.pos += 2
                    return
                depth -= 1
                self.pos += 1
            else:
                self.line += char == "\n"
                self.pos += 1
        raise ShellParseError("unbalanced '(('")

    def _read_ansi_c(self) -> str:
        """``$'…'`` with its escapes decoded (``$'\\x72m'`` is ``rm``)."""
        self.pos += 2
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "'":
                self.pos += 1
                return "".join(out)
            if char != "\\":
                out.append(char)
                self.pos += 1
                continue
            escape = self.text[self.pos + 1:self.pos + 2]
            match = _ANSI_NUMBER.match(self.text, self.pos + 1)
            if match:
                digits = next(group for group in match.groups() if group)
                out.append(chr(int(digits, 8 if match.group(4) else 16) % 0x110000))
                self.pos = match.end()
            elif escape == "c" and self.pos + 2 < len(self.text):
                out.append(chr(ord(self.text[self.pos + 2]) & 0x1F))
                self.pos += 3
            else:
                out.append(_ANSI_ESCAPES.get(escape, "\\" + escape))
                self.pos += 2
        raise ShellParseError("unbalanced $'…' quote")

    def scan_expansions(self) -> None:
        """Parse the substitutions in text that is otherwise data (an unquoted heredoc body)."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
            elif char in "$`":
                self._read_expansion()
            else:
                self.line += char == "\n"
                self.pos += 1
