"""YAML loading that remembers where every value came from.

Errors must name the file and line, so files are loaded twice from one read: once as plain data
and once as a node tree whose marks give the line and column of any key path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from chatbot.errors import UserError

PathKey = tuple[str | int, ...]


class LocatedYaml:
    """A parsed YAML document with a way to find the line of any key path."""

    def __init__(self, path: Path, data: Any, root: yaml.Node | None):
        self.path = path
        self.data = data
        self.root = root

    def node(self, keys: PathKey) -> yaml.Node | None:
        """The node at ``keys``, or the deepest existing ancestor."""
        node = self.root
        for key in keys:
            child = _child(node, key)
            if child is None:
                return node
            node = child
        return node

    def line(self, keys: PathKey) -> int | None:
        """1-based line of the value at ``keys`` (or of its key when that is more useful)."""
        node = self.node(keys)
        return node.start_mark.line + 1 if node is not None else None

    def column(self, keys: PathKey) -> int | None:
        node = self.node(keys)
        return node.start_mark.column + 1 if node is not None else None

    def scalar_style(self, keys: PathKey) -> str | None:
        node = self.node(keys)
        if isinstance(node, yaml.ScalarNode):
            return node.style or ""
        return None


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                return v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        child: yaml.Node = node.value[key]
        return child
    return None


# libyaml's parser (C) where PyYAML was built with it: a 2 MB file parses in a tenth of the
# time. Its nodes carry the same marks, so every message still names the line.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate keys: a silently overwritten question is a real risk."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key]}); remove one of them",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# Limits on what one file may make the tool do. A YAML alias repeats a node without copying it:
# nine lines of nested aliases stand for 387 million strings ("billion laughs"), and every walk
# over the tree (validation, the hashtag check, line lookups) would visit them all. So the tree
# is measured once, in the time its distinct nodes take, before anything walks it.
MAX_FILE_BYTES = 2_000_000
MAX_NODES = 200_000  # values after expanding aliases; 10,000 posts are about 40,000
MAX_DEPTH = 40


def _measure(root: yaml.Node) -> tuple[int, int]:
    """(nodes after expanding aliases, depth) of the tree, visiting each distinct node once."""
    sizes: dict[int, tuple[int, int]] = {}
    # Post-order without recursion: a deeply nested file must not exhaust Python's stack.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                children.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not children_done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        count, depth = 1, 1
        for child in children:
            child_count, child_depth = sizes.get(id(child), (1, 1))
            count += child_count
            depth = max(depth, child_depth + 1)
            if count > MAX_NODES:
                break
        sizes[id(node)] = (min(count, MAX_NODES + 1), depth)
    return sizes[id(root)]


def _measure_plain(root: yaml.Node) -> tuple[int, int]:
    """``_measure`` for a tree without aliases, where each node is visited once anyway: a plain
    walk, several times quicker than the post-order that shares counts between aliases."""
    count, deepest = 0, 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > deepest:
            deepest = depth
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend(((key, depth + 1), (value, depth + 1)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
    return count, deepest


def load_yaml(path: Path, error: type[UserError] = UserError) -> LocatedYaml:
    """Read and parse ``path``; a syntax error becomes a one-line ``error`` with the line.

    The file is parsed once into a node tree (whose marks give every value's line); the tree
    is measured against the limits above, then turned into data."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise error("file not found", path) from None
    if size > MAX_FILE_BYTES:
        raise error(
            f"the file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB a content "
            "or config file may be; split it into several files",
            path,
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", path) from None
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason}); save the file as UTF-8", path) from None
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            # Without an anchor there is no alias, so no node is shared: a plain walk counts it.
            nodes, depth = _measure(root) if "&" in text else _measure_plain(root)
            if nodes > MAX_NODES:
                raise error(
                    f"the file expands to more than {MAX_NODES:,} values (YAML aliases "
                    "repeating aliases?); write the content out plainly",
                    path,
                )
            if depth > MAX_DEPTH:
                raise error(
                    f"values are nested {depth} levels deep, more than {MAX_DEPTH}; "
                    "flatten the file",
                    path,
                )
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in problem:  # libyaml stops at 1,000 levels, before our measure
            raise error(
                f"values are nested more than {MAX_DEPTH} levels deep; flatten the file", path
            ) from None
        if "mapping values are not allowed" in problem:
            problem += " (text containing ': ' must be quoted, e.g. text: \"Q: like this\")"
        raise error(f"invalid YAML: {problem}", path, line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", path) from None
    except RecursionError:
        raise error(f"values are nested too deeply (over {MAX_DEPTH} levels)", path) from None
    finally:
        loader.dispose()
    _refuse_eaten_hashtags(path, text, root, error)
    return LocatedYaml(path, data, root)


_EATEN_HASHTAG = re.compile(r"^[ \t]+(#\w+)")


def _refuse_eaten_hashtags(
    path: Path, text: str, root: yaml.Node | None, error: type[UserError]
) -> None:
    """In YAML, `` #word`` after a plain value starts a comment: ``text: Join us #LFPchat``
    silently loses the hashtag. Posts are full of hashtags, so this is refused, not ignored."""
    lines = text.splitlines()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.style is None or node.style == "":
                end = node.end_mark
                rest = lines[end.line][end.column :] if end.line < len(lines) else ""
                match = _EATEN_HASHTAG.match(rest)
                if match:
                    raise error(
                        f"'{match.group(1)}' after a space starts a YAML comment, so it was "
                        "dropped; put the whole text in quotes",
                        path,
                        end.line + 1,
                    )
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def dotted(keys: PathKey) -> str:
    """``("accounts", "lfp", "platform")`` -> ``accounts.lfp.platform``; indexes in brackets."""
    out = ""
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out
