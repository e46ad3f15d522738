"""Setting methods on moto's classes, the way every patch adds or replaces an operation."""

from __future__ import annotations

from typing import Any, Callable


def set_methods(owner: type, **methods: Callable[..., Any]) -> None:
    """Sets each of `methods` on `owner` under its keyword (e.g. `describe_images=...`)."""
    for name, method in methods.items():
        setattr(owner, name, method)
