"""Reading YAML a user hands us, with every cost capped before it is paid.

A spec file is a few hundred bytes. What reaches :func:`read_text` and :func:`load` may be
anything a shell can name: ``/dev/zero``, a FIFO nobody writes to, a directory, a sparse file of
many gigabytes, YAML nested thousands of levels deep, or an alias bomb (a few hundred bytes
whose aliases expand to billions of nodes). Each is refused with a
:class:`~apigee_psc.errors.ValidationError` naming the file, before it can block, exhaust
memory or raise ``RecursionError``:

- the path is checked with ``stat`` before it is opened, then opened without blocking and
  checked again on the open descriptor: only a regular file is read, and at most
  ``max_bytes + 1`` bytes of it;
- composition stops past :data:`MAX_DEPTH` levels of nesting (so PyYAML's recursive composer
  never nears Python's recursion limit) and past :data:`MAX_ALIASES` aliases;
- the document's size *as expanded* (an alias counts as the whole node it names) is capped at
  :data:`MAX_NODES`, and so is its expanded depth: the structure handed to validation is as
  small as the file looks, so quoting or walking it is cheap; an alias inside the node it
  names (a cycle) is refused too;
- a key repeated in one mapping is refused (PyYAML would keep the last silently).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, cast

from apigee_psc.errors import ValidationError

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load", "read_text"]

#: Bytes read at most; a larger file is refused from its size alone, before it is read.
MAX_BYTES = 1024 * 1024
#: Levels of nesting (mappings and sequences within each other), counted through aliases.
MAX_DEPTH = 32
#: Aliases per document (a spec needs none; a few are harmless).
MAX_ALIASES = 64
#: Nodes per document once every alias is expanded (a spec has about a hundred).
MAX_NODES = 10_000

_NOT_REGULAR = "a regular file (not a FIFO, device or directory)"


def read_text(path: str | Path, *, field: str = "<file>", max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (``"-"``: standard input), of at most
    ``max_bytes`` bytes. Anything else is a :class:`ValidationError` on ``field`` naming the
    file: it is never read whole and never waited on."""
    source = str(path)
    data = sys.stdin.buffer.read(max_bytes + 1) if source == "-" else _read_regular(path, source, field, max_bytes)
    if len(data) > max_bytes:
        raise ValidationError(field, source, f"a spec of at most {max_bytes} bytes", source=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(field, source, f"UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from None


def _read_regular(path: str | Path, source: str, field: str, max_bytes: int) -> bytes:
    def refuse(rule: str) -> ValidationError:
        return ValidationError(field, source, rule, source=source)

    try:
        # stat first: a device is never opened (opening one can have effects of its own) ...
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise refuse(_NOT_REGULAR)
        # ... and what is opened is checked again, in case the path changed in between: with
        # O_NONBLOCK, opening a FIFO returns at once instead of waiting for a writer.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise refuse(f"a readable spec file ({exc.__class__.__name__}: {exc.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(_NOT_REGULAR)
        if info.st_size > max_bytes:
            raise refuse(f"a spec file of at most {max_bytes} bytes")
        try:
            return handle.read(max_bytes + 1)
        except OSError as exc:
            raise refuse(f"a readable spec file ({exc.__class__.__name__}: {exc.strerror})") from None


def load(
    text: str,
    source: str | None = None,
    *,
    field: str = "<file>",
    positions: dict[str, tuple[int, int]] | None = None,
) -> object:
    """Parse one YAML document safely (PyYAML's ``SafeLoader``: plain data, no Python objects)
    within the caps above. Syntax errors, repeated keys and anything past a cap are a
    :class:`ValidationError` on ``field``, quoting at most one line of the text.

    Given a ``positions`` dict, it is filled with where each key and list item stands: its key
    path as errors name it (``nat_subnet.range``, ``firewall.ports[1]``) -> 1-based
    ``(line, column)``."""
    import yaml

    def refuse(value: object, rule: str) -> ValidationError:
        return ValidationError(field, value, rule, source=source)

    class _Loader(yaml.SafeLoader):
        depth = 0
        aliases = 0

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            # id(node) -> (nodes, depth) once expanded; None while the node is being composed
            self.sizes: dict[int, tuple[int, int] | None] = {}

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            line = cast(Any, self).peek_event().start_mark.line + 1
            alias = self.check_event(yaml.AliasEvent)
            if alias:
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise refuse(f"line {line}", f"at most {MAX_ALIASES} YAML aliases")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise refuse(f"line {line}", f"at most {MAX_DEPTH} levels of nesting")
            try:
                node = super().compose_node(parent, index)  # type: ignore[no-untyped-call,unused-ignore]
            finally:
                self.depth -= 1
            if node is None:
                return None
            if not alias:
                self._measure(node, line)
            elif self.sizes.get(id(node)) is None:  # the node it names is still being composed
                raise refuse(f"line {line}", "YAML without an alias inside the node it names")
            return node

        def _measure(self, node: yaml.Node, line: int) -> None:
            """Record the node's expanded size and depth (its children are measured already);
            an alias of a measured node costs what the node does, without a walk."""
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            nodes, depth = 1, 1
            for child in children:
                size = self.sizes.get(id(child))
                if size is None:  # never so: compose_node refuses an alias of an unfinished node
                    raise refuse(f"line {line}", "YAML without an alias inside the node it names")
                nodes += size[0]
                depth = max(depth, size[1] + 1)
            if nodes > MAX_NODES:
                raise refuse(f"line {line}", f"at most {MAX_NODES} YAML nodes once aliases are expanded")
            if depth > MAX_DEPTH:
                raise refuse(f"line {line}", f"at most {MAX_DEPTH} levels of nesting (aliases expanded)")
            self.sizes[id(node)] = (nodes, depth)

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    rule = f"each key once per mapping (line {line} repeats the key of line {seen[key]})"
                    raise refuse(key, rule)
                seen[key] = line
            except TypeError:  # an unhashable key: the caller reports it as a non-string key
                pass
        return loader.construct_mapping(node, deep=True)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    loader = _Loader(text)  # a SafeLoader subclass
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        if positions is not None and node is not None:
            _positions(node, "", positions)
        return data
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = ""
        snippet: object = None
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
            lines = text.splitlines()
            if 0 <= mark.line < len(lines):
                snippet = lines[mark.line].strip()
        problem = exc.problem or exc.context or "syntax error"
        raise refuse(snippet, f"well-formed YAML; {problem}{where}") from None
    except yaml.YAMLError as exc:
        raise refuse(None, f"well-formed YAML; {str(exc)[:200]}") from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call,unused-ignore]


def _positions(node: Any, path: str, out: dict[str, tuple[int, int]]) -> None:
    """Record where each key (mapping) and item (list) under ``node`` stands. The walk is as
    small as the document: :func:`load` has capped its expanded size and depth already."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            here = f"{path}.{key_node.value}" if path else str(key_node.value)
            out.setdefault(here, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            _positions(value_node, here, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = f"{path}[{index}]"
            out.setdefault(here, (item.start_mark.line + 1, item.start_mark.column + 1))
            _positions(item, here, out)
