"""Ready-made hooks. Each is a callable taking an :class:`~tinycode_jupyter.events.Event`.

Hooks that need optional packages (``RichUICallback`` needs rich, ``NotebookApproval``
needs ipywidgets) import them only when they are created.
"""
from .approval import ApprovalHook, ApprovalPolicy, ApprovalRequest, NotebookApproval, TerminalApproval, deny_tools
from .budget import Budget
from .message_cleanup import MessageCleanupHook
from .prompt_cache import AnthropicPromptCacheCallback
from .rich_ui import RichUICallback
from .token_tracker import ModelUsage, TokenTracker

__all__ = [
    "AnthropicPromptCacheCallback",
    "ApprovalHook",
    "ApprovalPolicy",
    "ApprovalRequest",
    "Budget",
    "MessageCleanupHook",
    "ModelUsage",
    "NotebookApproval",
    "RichUICallback",
    "TerminalApproval",
    "TokenTracker",
    "deny_tools",
]
