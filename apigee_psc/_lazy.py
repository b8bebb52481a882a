"""Lazy package attributes: a package names where each public name lives and imports it on first use.

Keeps ``import apigee_psc`` (and its subpackages) light: a heavy module is imported only when
one of its names is read.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["load"]


def load(namespace: dict[str, Any], homes: Mapping[str, str], name: str) -> Any:
    """The value of ``name`` from its module ``homes[name]``, kept in ``namespace`` (a package's
    ``globals()``) so that the next read does not come back here; ``AttributeError`` for a name
    ``homes`` does not know, as a module's ``__getattr__`` must raise."""
    module = homes.get(name)
    if module is None:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value
