"""Setting methods on moto's classes, the way every patch adds or replaces an operation."""

from __future__ import annotations

from typing import Any, Callable


def set_methods(owner: type, *functions: Callable[..., Any], **methods: Callable[..., Any]) -> None:
    """Sets each of `functions` on `owner` under its own name less a leading `_` (a function
    `_describe_images` becomes `owner.describe_images`), and each of `methods` under its keyword
    (for a name no function can have, e.g. `__call__=...`)."""
    for function in functions:
        setattr(owner, function.__name__.removeprefix("_"), function)
    for name, method in methods.items():
        setattr(owner, name, method)
