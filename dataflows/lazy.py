"""Lazy package exports (PEP 562): a package re-exports names from its submodules but imports a submodule only when
one of its names is first used, so importing the package stays cheap (`python -m dataflows --help` imports no
pipeline code)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package` that imports `exports[name]` (a submodule) on first use."""

    def attribute(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return attribute
