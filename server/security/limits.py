"""Limits on what clients send: strict JSON, bounded ``job_data``, texts and numbers.

Python's ``json`` accepts what JSON does not (``NaN``, ``Infinity``, ``1e400`` -> inf) and
what UTF-8 cannot store (``"\\ud800"``, a lone surrogate); either, once stored, breaks every
later read that serialises it (the session list, the report).  So every JSON body is
parsed strictly at the edge (``strict_loads``), and the fields the server keeps are held to
limits here, each refusal a 400 in the contract's error shape.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..service.errors import ServiceError

MAX_BODY_DEPTH = 32  # any JSON body: deeper than anything the contract sends
MAX_INT_DIGITS = 30  # a JSON integer longer than this is not a count, an id or a score


class InputRejected(ServiceError):
    """A request value outside the limits (400, contract shape)."""


@dataclass(frozen=True)
class ObjectLimits:
    """Bounds on a free-form JSON object kept with a session (``job_data``)."""

    max_depth: int = 4
    max_bytes: int = 16 * 1024  # serialised as compact UTF-8 JSON
    max_keys: int = 64  # all keys of all nested objects together
    max_items: int = 100  # items of any one list
    max_key_chars: int = 100
    max_string_chars: int = 2000


JOB_DATA = ObjectLimits()


def has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str):
    raise InputRejected(f"Invalid JSON body: {name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputRejected("Invalid JSON body: number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InputRejected("Invalid JSON body: number out of range")
    return int(text)


def strict_loads(body: bytes | str, max_depth: int = MAX_BODY_DEPTH) -> Any:
    """``json.loads`` that refuses non-finite numbers, lone surrogates and deep nesting."""
    if isinstance(body, bytes):
        opening = body.count(b"[") + body.count(b"{")
    else:
        opening = body.count("[") + body.count("{")
    try:
        value = json.loads(
            body,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except InputRejected:
        raise
    except RecursionError:
        raise InputRejected(f"Invalid JSON body: nested deeper than {max_depth}") from None
    except (ValueError, UnicodeDecodeError):
        raise InputRejected("Invalid JSON body") from None
    # Cheap bound first: a body with fewer brackets than the limit cannot nest that deep.
    check_tree(value, "JSON body", max_depth=max_depth if opening > max_depth else None)
    return value


def check_tree(value: Any, where: str, max_depth: int | None) -> None:
    """Refuse lone surrogates (keys and strings) and non-finite floats anywhere in ``value``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                raise InputRejected(f"Invalid text in {where}: not valid Unicode")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InputRejected(f"Invalid number in {where}: not finite")
        elif isinstance(item, dict | list):
            if max_depth is not None and depth > max_depth:
                raise InputRejected(f"{where} is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, sub in item.items():
                    if isinstance(key, str) and has_lone_surrogate(key):
                        raise InputRejected(f"Invalid text in {where}: not valid Unicode")
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)


def check_object(value: Any, where: str, limits: ObjectLimits = JOB_DATA) -> dict:
    """A free-form object within ``limits`` (returned as is), else ``InputRejected``."""
    if not isinstance(value, dict):
        raise InputRejected(f"{where} must be an object")
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > limits.max_string_chars:
                raise InputRejected(
                    f"{where}: text values are limited to {limits.max_string_chars} characters"
                )
            if has_lone_surrogate(item):
                raise InputRejected(f"Invalid text in {where}: not valid Unicode")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) >= 10**MAX_INT_DIGITS:
                raise InputRejected(f"Invalid number in {where}: out of range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InputRejected(f"Invalid number in {where}: not finite")
        elif isinstance(item, dict | list):
            if depth > limits.max_depth:
                raise InputRejected(f"{where} is nested deeper than {limits.max_depth} levels")
            if isinstance(item, dict):
                keys += len(item)
                if keys > limits.max_keys:
                    raise InputRejected(f"{where} has more than {limits.max_keys} keys")
                for key, sub in item.items():
                    if not isinstance(key, str) or len(key) > limits.max_key_chars:
                        raise InputRejected(
                            f"{where}: keys are limited to {limits.max_key_chars} characters"
                        )
                    if has_lone_surrogate(key):
                        raise InputRejected(f"Invalid text in {where}: not valid Unicode")
                    stack.append((sub, depth + 1))
            else:
                if len(item) > limits.max_items:
                    raise InputRejected(f"{where}: lists are limited to {limits.max_items} items")
                stack.extend((sub, depth + 1) for sub in item)
        else:
            raise InputRejected(f"{where} must hold JSON values only")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > limits.max_bytes:
        raise InputRejected(f"{where} is larger than {limits.max_bytes // 1024} KB")
    return value


def check_text(value: Any, where: str, max_chars: int, *, allow_none: bool = True) -> str | None:
    """A string of at most ``max_chars`` valid Unicode characters without control characters."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InputRejected(f"{where} must be a string")
    if len(value) > max_chars:
        raise InputRejected(f"{where} is limited to {max_chars} characters")
    if has_lone_surrogate(value):
        raise InputRejected(f"Invalid text in {where}: not valid Unicode")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value) or "\x7f" in value:
        raise InputRejected(f"{where} contains control characters")
    return value


def check_number(value: Any, where: str, low: float, high: float) -> float:
    """A finite number (JSON number or numeric string) within [low, high]."""
    if isinstance(value, bool):
        raise InputRejected(f"{where} must be a number")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputRejected(f"{where} must be a number") from None
    if not math.isfinite(number):
        raise InputRejected(f"{where} must be a finite number")
    if not low <= number <= high:
        raise InputRejected(f"{where} must be from {low:g} to {high:g}")
    return number


def check_integer(value: Any, where: str, low: int, high: int) -> int:
    """A whole number (``12``, ``12.0``, ``"12"``) within [low, high]; inf, NaN and 1e400 refused."""
    number = check_number(value, where, low, high)
    if number != int(number):
        raise InputRejected(f"{where} must be a whole number from {low} to {high}")
    return int(number)


def readable(value: Any, max_depth: int = MAX_BODY_DEPTH) -> Any:
    """A copy safe to serialise: lone surrogates replaced, non-finite floats as None, nesting
    below ``max_depth`` cut off (None).

    For values stored before these limits existed, so that one old row cannot break a read.
    """
    return _readable(value, max_depth)


def _readable(value: Any, depth: int) -> Any:
    if hasattr(value, "as_contract") and hasattr(type(value), "from_stored"):
        # A typed contract section (the report): cleaned as stored, read back as its type.
        return type(value).from_stored(_readable(value.as_contract(), depth))
    if isinstance(value, str):
        return (
            value.encode("utf-8", "replace").decode("utf-8") if has_lone_surrogate(value) else value
        )
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple) and depth <= 0:
        return None
    if isinstance(value, dict):
        return {
            _readable(k, 1) if isinstance(k, str) else k: _readable(v, depth - 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_readable(v, depth - 1) for v in value]
    return value
