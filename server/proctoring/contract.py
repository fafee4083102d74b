"""``Section``: a typed part of a contract body that reads back exactly what was stored.

A section's fields are named after the contract's keys (camelCase where the contract
is) and declared in the contract's order, so ``as_contract()`` is the JSON body.
``from_stored(data)`` reads a body stored by any version: keys this version does not
know are kept in ``extra``, keys an older version did not write stay absent, and a
value of an unexpected shape is kept as stored.  So
``Section.from_stored(d).as_contract() == d`` for every stored body, while the code
reads typed attributes.

Field metadata: ``{"section": Cls}`` for a nested section, ``{"items": Cls}`` for a
list of sections (or of any class with ``from_stored``/``as_contract``),
``{"stored_apart": True}`` for a field that is not part of the body.
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class _Plan:
    """How one Section class reads and writes its body (built once per class)."""

    keys: tuple[str, ...]  # body keys in contract order
    known: frozenset[str]
    plain: tuple[str, ...]  # keys whose value is JSON as it is
    nested: tuple[tuple[str, Any, Any, bool], ...]  # (key, section, items, optional)
    fill: dict[str, Any]  # body field -> what makes its value when the body lacks it


def _plan_of(cls: type) -> _Plan:
    body = [
        f
        for f in fields(cls)
        if f.name not in ("extra", "absent") and not f.metadata.get("stored_apart")
    ]
    nested = tuple(
        (f.name, f.metadata.get("section"), f.metadata.get("items"), f.default is None)
        for f in body
        if f.metadata.get("section") or f.metadata.get("items")
    )
    nested_names = {n for n, _, _, _ in nested}
    fill: dict[str, Any] = {}
    for f in body:
        section = f.metadata.get("section")
        if section is not None and f.default is not None:  # empty, its keys absent too
            fill[f.name] = functools.partial(section.from_stored, {})
        elif f.default_factory is not MISSING:
            fill[f.name] = f.default_factory
        else:
            fill[f.name] = functools.partial(_same, f.default)
    return _Plan(
        keys=tuple(f.name for f in body),
        known=frozenset(f.name for f in body),
        plain=tuple(f.name for f in body if f.name not in nested_names),
        nested=nested,
        fill=fill,
    )


_EMPTY: frozenset[str] = frozenset()


def _same(value: Any) -> Any:
    return value


@dataclass
class Section:
    # Keys of the stored body this version does not know (kept so a body reads back whole).
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)
    # Known keys the stored body did not have (an older version): not written back.
    absent: frozenset[str] = field(default=_EMPTY, kw_only=True, repr=False, compare=False)

    _plans: ClassVar[dict[type, _Plan]] = {}

    @classmethod
    def _plan(cls) -> _Plan:
        plan = Section._plans.get(cls)
        if plan is None:
            plan = Section._plans[cls] = _plan_of(cls)
        return plan

    @classmethod
    def from_stored(cls, data: Any) -> Self:
        # Reads many rows per request (every frame of a session): built without __init__.
        plan = cls._plan()
        if not isinstance(data, dict):
            data = {}
        values = {k: data[k] for k in plan.plain if k in data}
        extra: dict[str, Any] = {}
        for name, section, items, _ in plan.nested:
            if name not in data:
                continue
            value = data[name]
            if section is not None and isinstance(value, dict):
                values[name] = section.from_stored(value)
            elif items is not None and isinstance(value, list):
                if all(isinstance(v, dict) for v in value):
                    values[name] = [items.from_stored(v) for v in value]
                else:
                    extra[name] = value  # not a list of objects: kept as stored
            elif section is not None and value is not None:
                extra[name] = value  # not an object: kept as stored
            else:
                values[name] = value
        missing = _EMPTY
        if len(values) + len(extra) != len(data) or len(data) != len(plan.keys):
            missing = plan.known.difference(data)
            extra.update((k, v) for k, v in data.items() if k not in plan.known)
        if len(values) < len(plan.keys):
            for name in plan.keys:
                if name not in values:
                    values[name] = plan.fill[name]()
        obj = object.__new__(cls)
        obj.__dict__.update(values)
        obj.extra = extra
        obj.absent = missing
        return obj

    def as_contract(self) -> dict[str, Any]:
        plan = self._plan()
        d = self.__dict__
        out = {k: d[k] for k in plan.keys if k not in self.absent}
        for name, section, items, _ in plan.nested:
            if name in out:
                value = out[name]
                if section is not None and value is not None:
                    out[name] = value.as_contract()
                elif items is not None:
                    out[name] = [v.as_contract() for v in value]
        if self.extra:
            out.update(self.extra)
        return out
