"""Frozen dataclasses to and from plain mappings (the YAML shape), driven by the dataclasses.

A dataclass declares each key once, as a field:

- a field without a default is **required**; a field with one may be left out, and
  :func:`dump` leaves it out while it holds its default (unless its metadata says
  ``{ALWAYS: True}``: a key the file always shows);
- a field whose type is another dataclass (or ``X | None``) is a nested mapping, read and
  written the same way;
- a rule a type cannot say (a CIDR, a name pattern, a port range) is a function declared in
  the field's metadata under :data:`CHECK`: ``check(value, key) -> value`` returns the value
  (normalised) or raises :class:`~apigee_psc.errors.ValidationError`;
- a rule between fields is the class's ``_check_across`` method, run once every field passes.

:func:`validate` (called from ``__post_init__``) runs those rules on an instance, collecting
every problem; :func:`load` builds an instance from a mapping and reports every problem of the
whole tree at once: unknown keys (with a "did you mean" hint), missing required keys, and
each broken rule, each with its key path and, given the positions
:func:`apigee_psc._yaml.load` records, the line and column where the key stands. Each value is
checked once: by the instance it builds, or (when a missing key or a broken section keeps it
from being built) by :func:`load` on its own.

The JSON Schema of the spec (:mod:`apigee_psc._schema`) is derived from the same fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from apigee_psc.errors import ValidationError

__all__ = ["ALWAYS", "CHECK", "Check", "dump", "join", "known_keys", "load", "sections", "validate"]

#: Field metadata key of a field's rule: ``check(value, key) -> value`` (normalised).
CHECK = "check"
#: Field metadata key: ``True`` writes the key in :func:`dump` even when it holds its default.
ALWAYS = "dump_always"

Check = Callable[[Any, str], Any]
Positions = Mapping[str, tuple[int, int]]

_MISSING_RULE = "required, but missing (or empty)"


def join(prefix: str, key: str) -> str:
    """The key path of ``key`` under ``prefix`` (``a.b``, ``a[1]``)."""
    if not key:
        return prefix
    if not prefix:
        return key
    if key.startswith("["):
        return prefix + key
    return f"{prefix}.{key}"


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    required: bool
    default: Any
    check: Check | None
    nested: type | None  # the dataclass of a nested mapping
    always: bool


_FIELDS: dict[type, tuple[_Field, ...]] = {}


def _fields(cls: type) -> tuple[_Field, ...]:
    """The keys of ``cls``: its init fields that take part in comparison (not e.g. ``source``)."""
    cached = _FIELDS.get(cls)
    if cached is None:
        cached = _FIELDS[cls] = _read_fields(cls)
    return cached


def _read_fields(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out: list[_Field] = []
    for f in dataclasses.fields(cls):
        if not f.init or not f.compare:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        out.append(
            _Field(
                name=f.name,
                required=default is dataclasses.MISSING,
                default=default,
                check=f.metadata.get(CHECK),
                nested=_nested(hints[f.name]),
                always=bool(f.metadata.get(ALWAYS)),
            )
        )
    return tuple(out)


def _nested(hint: Any) -> type | None:
    """The dataclass a hint names (``X`` or ``X | None``), else ``None``."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    classes = [o for o in options if isinstance(o, type) and dataclasses.is_dataclass(o)]
    return classes[0] if len(classes) == 1 else None


def known_keys(cls: type) -> tuple[str, ...]:
    """The keys a mapping of ``cls`` may hold, in the declared order."""
    return tuple(f.name for f in _fields(cls))


def sections(cls: type, where: str = "") -> dict[str, tuple[str, ...]]:
    """The keys of ``cls`` and of every nested section, by key path (``where`` is this one's)."""
    out = {where: known_keys(cls)}
    for f in _fields(cls):
        if f.nested is not None:
            out.update(sections(f.nested, join(where, f.name)))
    return out


def _prefixed(prefix: str, error: ValidationError) -> list[ValidationError]:
    return [
        ValidationError(join(prefix, p.field), p.value, p.rule, line=p.line, column=p.column) for p in error.problems
    ]


def _run(f: _Field, value: Any) -> Any:
    """Check one value of field ``f``: a nested dataclass by type, anything else by its rule."""
    if value is None and f.default is None:
        return None  # an optional key left unset
    if f.nested is not None:
        if not isinstance(value, f.nested):
            raise ValidationError(f.name, value, f"a {f.nested.__name__}")
        return value
    return f.check(value, f.name) if f.check is not None else value


def validate(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` (storing normalised values), then
    its ``_check_across`` rules; raise one ValidationError listing every problem found."""
    problems: list[ValidationError] = []
    for f in _fields(type(obj)):
        value = getattr(obj, f.name)
        try:
            checked = _run(f, value)
        except ValidationError as exc:
            problems.extend(exc.problems)
            continue
        if checked is not value:
            object.__setattr__(obj, f.name, checked)
    if not problems:
        across = getattr(obj, "_check_across", None)
        if across is not None:
            try:
                across()
            except ValidationError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ValidationError.combine(problems)


def load(
    cls: type[Any], data: object, *, positions: Positions | None = None, extra: Mapping[str, Any] | None = None
) -> Any:
    """An instance of ``cls`` from the mapping ``data`` (``extra`` adds keyword arguments that are
    not keys, e.g. ``source``). Every problem of the tree is reported in one ValidationError,
    each with its key path and, from ``positions``, its line and column."""
    problems: list[ValidationError] = []
    built = _load(cls, data, "", problems, extra or {})
    if problems:
        raise ValidationError.combine([_place(p, positions) for p in problems])
    return built


def _load(cls: type[Any], value: object, where: str, problems: list[ValidationError], extra: Mapping[str, Any]) -> Any:
    """``cls`` from ``value`` at key path ``where``, or ``None`` with the problems recorded."""
    fields = {f.name: f for f in _fields(cls)}
    known = list(fields)
    if not isinstance(value, Mapping):
        problems.append(ValidationError(where, value, f"a mapping with the keys {', '.join(known)}"))
        return None
    section = where or "the spec"
    for key in value:
        if not isinstance(key, str):
            rule = f"a known key of {section} (keys are names: {', '.join(known)})"
            problems.append(ValidationError(join(where, str(key)), key, rule))
        elif key not in fields:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            rule = f"unknown key; {hint}known keys of {section}: {', '.join(known)}"
            problems.append(ValidationError(join(where, key), key, rule))
    present = {k: v for k, v in value.items() if isinstance(k, str) and k in fields and v is not None}
    missing = [name for name, f in fields.items() if f.required and name not in present]
    problems.extend(ValidationError(join(where, name), None, _MISSING_RULE) for name in missing)
    later: list[ValidationError] = []  # the nested sections' problems come after this section's own
    kwargs: dict[str, Any] = {}
    for name, raw in present.items():
        f = fields[name]
        if f.nested is None:
            kwargs[name] = raw
            continue
        child = _load(f.nested, raw, join(where, name), later, {})
        if child is not None:
            kwargs[name] = child
    if not missing and not later:
        try:
            return cls(**kwargs, **extra)
        except ValidationError as exc:
            problems.extend(_prefixed(where, exc))
            return None
    for name, raw in kwargs.items():  # it cannot be built: check each value on its own
        f = fields[name]
        if f.nested is None and f.check is not None:
            try:
                f.check(raw, name)
            except ValidationError as exc:
                problems.extend(_prefixed(where, exc))
    problems.extend(later)
    return None


def _place(problem: ValidationError, positions: Positions | None) -> ValidationError:
    """``problem`` with the line and column of its key, or of the nearest enclosing key that
    has one (a missing key: its section)."""
    if not positions:
        return problem
    path = problem.field.split(" (", 1)[0]  # "forwarding_rule (project)" stands at forwarding_rule
    while path:
        if path in positions:
            line, column = positions[path]
            return problem.at(line, column)
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return problem


def dump(obj: Any) -> dict[str, Any]:
    """The dataclass instance ``obj`` as a mapping: every key that differs from its default
    (or is marked :data:`ALWAYS`), nested dataclasses as mappings, tuples as lists;
    ``load(type(obj), dump(obj)) == obj``."""
    out: dict[str, Any] = {}
    for f in _fields(type(obj)):
        value = getattr(obj, f.name)
        if not f.required and not f.always and value == f.default:
            continue
        out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dump(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
