"""The words of a nack: what is wrong with a sample frame, as docs/protocol.md writes it.

`explain(frame)` takes a frame the standard library parsed and returns None or the first
problem as `path: expectation` (`data.host.mem.total: expected an integer`). It walks the
types of metrics/protocol.py, the same ones msgspec decodes with, so the nack texts cannot
drift from what the decoder accepts. It only runs when the fast decode (metrics/decode.py)
refused a frame or found something unusual in its bytes: a valid frame never gets here.
"""

from __future__ import annotations

import math
import types
from functools import cache
from typing import (
    Any,
    Literal,
    NotRequired,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

import msgspec

from metrics import protocol
from metrics.protocol import (
    DATA_TYPES,
    INT64_MAX,
    MAX_DEPTH,
    MAX_REASON,
    MAX_TEXT,
    TIERS,
    TIME_PATTERN,
    Invalid,
    Number,
    Percent,
    parse_time,
)

NUMBER_ARGS = get_args(Number)
PERCENT_ARGS = get_args(Percent)


def explain(frame: dict[str, Any]) -> str | None:
    """None if the sample frame is valid, else the nack's error text."""
    try:
        _explain(frame)
    except Invalid as exc:
        return str(exc)
    return None


def _explain(frame: dict[str, Any]) -> None:
    tier = frame.get("tier")
    if not isinstance(tier, str) or tier not in DATA_TYPES:
        raise Invalid("tier", "expected one of " + ", ".join(repr(t) for t in TIERS))
    parse_time(frame.get("collected_at"), "collected_at")
    data = frame.get("data")
    if not isinstance(data, dict):
        raise Invalid("data", "expected an object")
    errors = frame.get("errors", {})
    if not isinstance(errors, dict):
        raise Invalid("errors", "expected an object")
    for source, reason in errors.items():
        if len(source) > MAX_TEXT:
            raise Invalid("errors", f"a source name longer than {MAX_TEXT} characters")
        if not isinstance(reason, str):
            raise Invalid(f"errors.{source}", "expected a string")
        if len(reason) > MAX_REASON:
            raise Invalid(f"errors.{source}", f"expected at most {MAX_REASON:,} characters")
    if not _fine(data, 1):
        _locate(data, "data")
    for source, (hint, _) in _fields(DATA_TYPES[tier]).items():
        if source in data:
            _check(data[source], hint, f"data.{source}")


@cache
def _fields(typed: Any) -> dict[str, tuple[Any, bool]]:
    """A TypedDict's keys in declaration order: (type, required)."""
    fields = {}
    for key, hint in get_type_hints(typed, vars(protocol), include_extras=True).items():
        optional = get_origin(hint) is NotRequired
        fields[key] = (get_args(hint)[0] if optional else hint, not optional)
    return fields


def _check(value: Any, hint: Any, path: str) -> None:
    if hint is Any:
        return
    if hint is msgspec.Raw:  # raw command output
        if value is not None and not isinstance(value, dict):
            raise Invalid(path, "expected an object or null")
        return
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        _check_union(value, args, path)
    elif origin is Literal:
        _one_of(value, args, path)
    elif hint is bool:
        if not isinstance(value, bool):
            raise Invalid(path, "expected true or false")
    elif is_typeddict(hint):
        _check_object(value, hint, path)
    elif origin is list:
        _check_list(value, args[0], None, path)
    elif hasattr(hint, "__metadata__"):  # Annotated[base, Meta(...)]
        _check_annotated(value, args[0], hint.__metadata__[0], path)
    else:
        raise TypeError(f"metrics/nacks.py does not know the type {hint!r} of {path}")


def _check_union(value: Any, args: tuple[Any, ...], path: str) -> None:
    nullable = types.NoneType in args
    rest = tuple(a for a in args if a is not types.NoneType)
    if rest in (NUMBER_ARGS, PERCENT_ARGS):
        if value is not None or not nullable:
            _number(value, path, percent=rest == PERCENT_ARGS)
    elif len(rest) == 1 and get_origin(rest[0]) is Literal:
        _one_of(value, get_args(rest[0]) + ((None,) if nullable else ()), path)
    elif len(rest) == 1 and nullable:
        if value is not None:
            _check(value, rest[0], path)
    else:
        raise TypeError(f"metrics/nacks.py does not know the union {args!r} of {path}")


def _one_of(value: Any, choices: tuple[Any, ...], path: str) -> None:
    if isinstance(value, (dict, list)) or value not in choices:
        names = ", ".join("null" if c is None else repr(c) for c in choices)
        raise Invalid(path, f"expected one of {names}")


def _check_object(value: Any, typed: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise Invalid(path, "expected an object")
    for key, (hint, required) in _fields(typed).items():
        if key in value:
            _check(value[key], hint, f"{path}.{key}")
        elif required:
            raise Invalid(f"{path}.{key}", "missing")


def _check_list(value: Any, item: Any, meta: msgspec.Meta | None, path: str) -> None:
    if not isinstance(value, list):
        raise Invalid(path, "expected a list")
    if meta is not None and meta.min_length is not None and meta.min_length == meta.max_length:
        if len(value) != meta.min_length:
            raise Invalid(path, f"expected a list of {meta.min_length}")
    elif meta is not None and meta.max_length is not None and len(value) > meta.max_length:
        raise Invalid(path, f"expected at most {meta.max_length:,} entries")
    for index, entry in enumerate(value):
        _check(entry, item, f"{path}[{index}]")


def _check_annotated(value: Any, base: Any, meta: msgspec.Meta, path: str) -> None:
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(path, "expected an integer")
        if not meta.ge <= value <= meta.le:  # type: ignore[operator]
            top = "2^63-1" if meta.le == INT64_MAX else f"{meta.le:,}"
            raise Invalid(path, f"expected an integer from 0 to {top}")
    elif base is str and meta.pattern == TIME_PATTERN:
        parse_time(value, path)
    elif base is str:
        if not isinstance(value, str):
            raise Invalid(path, "expected a string")
        if meta.max_length is not None and len(value) > meta.max_length:
            raise Invalid(path, f"expected at most {meta.max_length:,} characters")
    elif get_origin(base) is list:
        _check_list(value, get_args(base)[0], meta, path)
    else:
        raise TypeError(f"metrics/nacks.py does not know the type {base!r} of {path}")


def _number(value: Any, path: str, percent: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(path, "expected a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(path, "expected a finite number")
    if abs(value) > INT64_MAX:
        raise Invalid(path, "number out of range")
    # a guest may use several cores: its percent of one core can exceed 100
    if percent and value < 0:
        raise Invalid(path, "expected a percentage of 0 or more")


# --- everything in `data`, raw output and unknown keys included ------------------------------


def _fine(value: Any, depth: int) -> bool:
    """No container deeper than MAX_DEPTH, no float that overflowed to infinity (or NaN)."""
    if depth > MAX_DEPTH:
        return False
    items = value.values() if type(value) is dict else value if type(value) is list else ()
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if not _fine(item, depth + 1):
                return False
        elif kind is float and not math.isfinite(item):
            return False
    return True


def _locate(value: Any, path: str) -> None:
    stack = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(where, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{_key(k)}", depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise Invalid(where, "expected a finite number")


def _key(key: str) -> str:
    """A key as a nack's path shows it: a hostile one of megabytes is cut."""
    return key if len(key) <= MAX_TEXT else f"{key[:MAX_TEXT]}..."
