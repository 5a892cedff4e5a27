"""The Python API behind `resnet_dsl.load(...)`: specs in, validated networks out."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resnet_dsl.language import limits
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.ir import Span
from resnet_dsl.language.parser import parse
from resnet_dsl.language.transform import to_expr
from resnet_dsl.network.evaluate import evaluate
from resnet_dsl.network.loader import load_program, loads_program
from resnet_dsl.network.model import Network

Spec = Network | str | Path
"""A network already loaded, or the path of a `.arch` file."""


def load(path: str | Path, *, network: str | None = None, overrides: Mapping[str, Any] | None = None) -> Network:
    """Read, expand and validate the network a `.arch` file describes.

    `overrides` sets network parameters, e.g. {"classes": 10, "input": "224x224x3"}: a
    string is read as an expression of the language, a list as a list.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load() argument 'path' must be a str or a path, not {type(path).__name__}")
    _check_network(network)
    return load_program(path).expand(network, parse_overrides(overrides))


def loads(
    text: str,
    *,
    path: str = "<string>",
    network: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Network:
    """Like `load`, from the text of a spec; imports are relative to the working directory."""
    if not isinstance(text, str):
        hint = " (decode bytes first: data.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"loads() argument 'text' must be a str, not {type(text).__name__}{hint}")
    if not isinstance(path, str):
        raise TypeError(f"loads() argument 'path' must be a str, not {type(path).__name__}")
    _check_network(network)
    return loads_program(text, path).expand(network, parse_overrides(overrides))


def _check_network(network: object) -> None:
    if network is not None and not isinstance(network, str):
        raise TypeError(f"argument 'network' must be a str or None, not {type(network).__name__}")


def resolve(spec: Spec, **kwargs: Any) -> Network:
    """A `Network` from whatever the caller has: a network, or the path of a spec."""
    return spec if isinstance(spec, Network) else load(spec, **kwargs)


def parse_value(text: str, what: str = "--set") -> Any:
    """`224x224x3`, `10` or `[3, 4, 6, 3]`, as the language reads it."""
    return evaluate(to_expr(parse(text, what, start="expr"), what), {})


def parse_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Python values (or strings in the language) for network parameters, checked like the
    values a spec computes: a wrong type is a `TypeError` naming it, a value past the limits
    an `ArchError`."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(f"argument 'overrides' must be a mapping of names to values, not {type(overrides).__name__}")
    parsed = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise TypeError(f"argument 'overrides' has a key {key!r} of type {type(key).__name__}; keys are str")
        limits.check_value(_typed(key, value), Span(file="override"))
        parsed[key] = _value(value)
    return parsed


_PLAIN = (str, int, float, bool)


def _typed(key: str, value: Any) -> Any:
    """`value`, once every item in it (nested lists included, walked without recursion) has
    a type the language knows; lists and tuples past the depth limit are left to it."""
    stack, seen = [value], 0
    while stack and seen <= limits.MAX_VALUE_ITEMS:
        item = stack.pop()
        seen += 1
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not isinstance(item, _PLAIN):
            raise TypeError(
                f"argument 'overrides' sets {key!r} to a value of type {type(item).__name__};"
                " values are str, int, float, bool, or lists of them"
            )
    return value


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return parse_value(value, "override")
    if isinstance(value, (list, tuple)):
        return tuple(_value(v) for v in value)
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """`classes=10` -> ("classes", 10); the form of `--set`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise ArchError(f"--set takes name=value, got {text!r}", hint="e.g. --set classes=10")
    return key.strip(), parse_value(value.strip())
