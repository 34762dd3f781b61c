"""Choose an execution provider by name, entry point, or object.

Built-in names: ``kernel``, ``local`` (alias ``seatbelt``), ``modal``. Third-party
providers register a :class:`~tinycode_jupyter.providers.base.Provider` subclass
in the ``tinycode_jupyter.providers`` entry-point group.
"""
from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points
from typing import Any

from ..errors import ConfigurationError
from .base import Provider

ENTRY_POINT_GROUP = "tinycode_jupyter.providers"
_BUILTIN = {
    "kernel": "tinycode_jupyter.providers.kernel:KernelProvider",
    "local": "tinycode_jupyter.providers.local:LocalProvider",
    "seatbelt": "tinycode_jupyter.providers.local:LocalProvider",
    "modal": "tinycode_jupyter.providers.modal:ModalProvider",
}


def default_provider_name() -> str:
    """``kernel`` inside IPython, ``local`` elsewhere."""
    ipython = sys.modules.get("IPython")
    return "kernel" if ipython is not None and ipython.get_ipython() is not None else "local"


def available_providers() -> list[str]:
    names = set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def provider_class(name: str) -> type[Provider]:
    target = _BUILTIN.get(name)
    if target is None:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not matches:
            raise ConfigurationError(f"provider: unknown provider {name!r}; available: {', '.join(available_providers())}")
        cls = matches[0].load()
    else:
        module_name, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigurationError(f"provider: {name!r} does not name a Provider subclass")
    return cls


def create_provider(spec: str | Provider | None, config: dict[str, Any] | None, workdir: str | None) -> Provider:
    """A provider instance from a name (or None for the default), or ``spec`` itself."""
    if isinstance(spec, Provider):
        return spec
    if spec is not None and not isinstance(spec, str):
        raise ConfigurationError(f"provider must be a name or a Provider, got {type(spec).__name__}")
    cls = provider_class(spec or default_provider_name())
    return cls(workdir=workdir, **(config or {}))
