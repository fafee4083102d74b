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

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self


def to_contract(value: Any) -> Any:
    """A value as JSON data: sections and alerts by their ``as_contract``."""
    if hasattr(value, "as_contract"):
        return value.as_contract()
    if isinstance(value, list):
        return [to_contract(v) for v in value]
    if isinstance(value, dict):
        return {k: to_contract(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Key:
    name: str
    section: Any  # nested Section class, or None
    items: Any  # class of the list's items, or None
    optional: bool  # default None: a missing section stays None


@dataclass
class Section:
    # Keys of the stored body this version does not know (kept so a body reads back whole).
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)
    # Known keys the stored body did not have (an older version): not written back.
    absent: frozenset[str] = field(default=frozenset(), kw_only=True, repr=False, compare=False)

    _plans: ClassVar[dict[type, tuple[_Key, ...]]] = {}

    @classmethod
    def _keys(cls) -> tuple[_Key, ...]:
        plan = Section._plans.get(cls)
        if plan is None:
            plan = tuple(
                _Key(f.name, f.metadata.get("section"), f.metadata.get("items"), f.default is None)
                for f in fields(cls)
                if f.name not in ("extra", "absent") and not f.metadata.get("stored_apart")
            )
            Section._plans[cls] = plan
        return plan

    @classmethod
    def from_stored(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            data = {}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        absent = []
        for key in cls._keys():
            name = key.name
            if name not in data:
                absent.append(name)
                if key.section is not None and not key.optional:
                    kwargs[name] = key.section.from_stored({})  # empty, its keys absent too
                continue
            value = data[name]
            if key.section is not None and isinstance(value, dict):
                kwargs[name] = key.section.from_stored(value)
            elif key.items is not None and isinstance(value, list):
                if all(isinstance(v, dict) for v in value):
                    kwargs[name] = [key.items.from_stored(v) for v in value]
                else:
                    extra[name] = value  # not a list of objects: kept as stored
            elif key.section is not None and value is not None:
                if not key.optional:
                    kwargs[name] = key.section.from_stored({})
                extra[name] = value  # not an object: kept as stored
            else:
                kwargs[name] = value
        if len(data) + len(absent) > len(cls._keys()):  # keys this version does not know
            known = {key.name for key in cls._keys()}
            extra.update((k, v) for k, v in data.items() if k not in known)
        return cls(**kwargs, extra=extra, absent=frozenset(absent))

    def as_contract(self) -> dict[str, Any]:
        out = {
            key.name: to_contract(getattr(self, key.name))
            for key in self._keys()
            if key.name not in self.absent
        }
        if self.extra:
            out.update(self.extra)
        return out
