"""The Python API behind `resnet_dsl.load(...)`: specs in, validated networks out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resnet_dsl.errors import ArchError
from resnet_dsl.evaluate import evaluate
from resnet_dsl.loader import load_program, loads_program
from resnet_dsl.network import Network
from resnet_dsl.parser import parse
from resnet_dsl.transform import to_expr

Spec = Network | str | Path
"""A network already loaded, or the path of a `.arch` file."""


def load(path: str | Path, *, network: str | None = None, overrides: Mapping[str, Any] | None = None) -> Network:
    """Read, expand and validate the network a `.arch` file describes.

    `overrides` sets network parameters, e.g. {"classes": 10, "input": "224x224x3"}: a
    string is read as an expression of the language, a list as a list.
    """
    return load_program(path).expand(network, parse_overrides(overrides))


def loads(
    text: str,
    *,
    path: str = "<string>",
    network: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Network:
    """Like `load`, from the text of a spec; imports are relative to the working directory."""
    return loads_program(text, path).expand(network, parse_overrides(overrides))


def resolve(spec: Spec, **kwargs: Any) -> Network:
    """A `Network` from whatever the caller has: a network, or the path of a spec."""
    return spec if isinstance(spec, Network) else load(spec, **kwargs)


def parse_value(text: str, what: str = "--set") -> Any:
    """`224x224x3`, `10` or `[3, 4, 6, 3]`, as the language reads it."""
    return evaluate(to_expr(parse(text, what, start="expr"), what), {})


def parse_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: _value(value) for key, value in (overrides or {}).items()}


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
