"""The model seam's native clients: one module per protocol on a small HTTP client of our own.

:func:`~tinycode_jupyter.models.routing.create_model` picks the client for a model name (the
OpenAI Chat Completions, Anthropic Messages and Ollama chat protocols are served here, every
other provider by litellm through :class:`~tinycode_jupyter.llm.LiteLLMModel`). Nothing here
is imported before a model is made, and litellm never is for a native model.
"""
