"""Security checks run before a provider executes code: gates, not sandboxes.

They read Python (AST) and shell command lines (a real tokenizer) before anything
runs, and refuse imports outside ``authorized_imports``, obfuscated strings and
unsafe shell commands. They do not contain a program that is already running:
isolation is the execution provider's job (bubblewrap, Modal).
"""
from .finding import Finding, Rule
from .policy import SecurityPolicy

__all__ = ["Finding", "Rule", "SecurityPolicy"]
