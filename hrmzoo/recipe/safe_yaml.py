"""Bounded safe YAML: one document, no Python tags, no "billion laughs".

Shared by recipe files (`hrmzoo.recipe.loader`) and override values
(`hrmzoo.recipe.overrides`), so both parse literals the same way.
"""

from __future__ import annotations

import yaml

#: YAML bounds: a recipe is a few hundred nodes; these stop "billion laughs"
#: (aliases expanding exponentially) and 100k-deep nesting before they cost anything.
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_YAML_DEPTH while composing."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node, memo: dict[int, int], depth: int = 0) -> int:
    """Nodes the document has once every alias is expanded (what walking it costs)."""
    key = id(node)
    if key in memo:
        if memo[key] < 0:
            raise yaml.composer.ComposerError(None, None, "an alias refers to the collection that holds it (recursive alias)", node.start_mark)
        return memo[key]
    if depth > 4 * MAX_YAML_DEPTH:
        raise yaml.composer.ComposerError(None, None, f"aliases nest deeper than {4 * MAX_YAML_DEPTH} levels", node.start_mark)
    memo[key] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(v, memo, depth + 1) for v in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1) for k, v in node.value)
    if total > MAX_YAML_NODES:
        raise yaml.composer.ComposerError(None, None, f"aliases expand it to more than {MAX_YAML_NODES} nodes", node.start_mark)
    memo[key] = total
    return total


def load_yaml(text: str):
    """Safe-load one YAML document within the bounds above; returns (data, node)."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _expanded_size(node, {})
        try:
            return loader.construct_document(node), node
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise yaml.constructor.ConstructorError(None, None, str(exc).split(";")[0], node.start_mark) from None
    finally:
        loader.dispose()
