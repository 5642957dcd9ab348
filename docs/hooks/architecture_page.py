"""The architecture page and its picture, generated from the package's import graph.

`gen_pages.py` adds `architecture.md` and `architecture/layers.svg` to the site
at build time. Both read `hrmzoo.architecture` (the declared layers) and the
imports it finds in the source, so the picture cannot drift from the code; the
prose around them is `docs/snippets/architecture-intro.md`.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path

from hrmzoo import architecture as arch

ROOT = Path(__file__).resolve().parents[2]
INTRO = ROOT / "docs" / "snippets" / "architecture-intro.md"

# picture geometry (px)
LABEL_W, BAND_H, BOX_H, GAP, PAD, CHAR_W, MARGIN = 130, 70, 28, 14, 12, 7.2, 16


def unit_label(unit: str, modules: set[str] | None = None) -> str:
    """`data/` for a folder, `errors.py` for a top-level module, `__init__.py` for the package's front door."""
    if unit == "hrmzoo":
        return "__init__.py"
    return f"{unit}/" if (arch.PACKAGE_DIR / unit).is_dir() else f"{unit}.py"


def units_by_layer() -> list[tuple[arch.Layer, dict[str, set[str]]]]:
    """Per layer (lowest first), its units (folder or top-level module) and their modules."""
    grouped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module in arch.modules():
        grouped[arch.layer_of(module).name][arch.unit_of(module)].add(module)
    return [(layer, dict(grouped[layer.name])) for layer in arch.LAYERS]


def unit_edges(edges: list[arch.Import]) -> set[tuple[str, str]]:
    """Unit -> unit dependencies with the ones implied by a longer path removed (transitive reduction),
    so the picture shows the structure rather than every import."""
    direct = {(arch.unit_of(e.source), arch.unit_of(e.target)) for e in edges}
    direct = {(a, b) for a, b in direct if a != b}
    succ: dict[str, set[str]] = defaultdict(set)
    for a, b in direct:
        succ[a].add(b)

    def reachable_without(a: str, b: str) -> bool:
        seen, todo = set(), [n for n in succ[a] if n != b]
        while todo:
            n = todo.pop()
            if n == b:
                return True
            if n not in seen:
                seen.add(n)
                todo.extend(succ[n])
        return False

    return {(a, b) for a, b in direct if not reachable_without(a, b)}


def layers_svg() -> str:
    """Layers as bands (lowest at the bottom), units as boxes, arrows from importer to imported."""
    layers = units_by_layer()
    edges = arch.imports()
    reduced = unit_edges(edges)
    rows = list(reversed(layers))  # highest layer on top
    boxes: dict[str, tuple[float, float, float]] = {}  # unit -> (x, y, width)
    widths = {unit: len(unit_label(unit, members)) * CHAR_W + 2 * PAD for _, units in rows for unit, members in units.items()}
    row_width = [sum(widths[u] for u in units) + GAP * (len(units) - 1) for _, units in rows]
    width = LABEL_W + 2 * MARGIN + max(row_width) + 2 * GAP
    for row, (layer, units) in enumerate(rows):  # each row centred, so the arrows fan out evenly
        x = LABEL_W + MARGIN + GAP + (max(row_width) - row_width[row]) / 2
        y = MARGIN + row * BAND_H + (BAND_H - BOX_H) / 2
        for unit in sorted(units, key=lambda u: (u != "hrmzoo", u)):
            boxes[unit] = (x, y, widths[unit])
            x += widths[unit] + GAP
    height = 2 * MARGIN + len(rows) * BAND_H
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8a8a"/></marker></defs>',
           f'<title>hrmzoo package layers: {len(arch.modules())} modules, {len(edges)} imports, '
           f'{len(reduced)} unit dependencies drawn (implied ones omitted)</title>']
    for row, (layer, _) in enumerate(rows):
        y = MARGIN + row * BAND_H
        fill = "#f4f6fa" if row % 2 == 0 else "#ffffff"
        out.append(f'<rect x="{MARGIN}" y="{y}" width="{width - 2 * MARGIN:.0f}" height="{BAND_H}" fill="{fill}" stroke="#d9dde5"/>')
        out.append(f'<text x="{MARGIN + 8}" y="{y + BAND_H / 2 + 4:.0f}" font-weight="bold" fill="#333">'
                   f'{len(layers) - row}. {escape(layer.name)}</text>')
    for a, b in sorted(reduced):
        (xa, ya, wa), (xb, yb, wb) = boxes[a], boxes[b]
        x1, y1, x2, y2 = xa + wa / 2, ya + BOX_H, xb + wb / 2, yb
        if abs(ya - yb) < 1:  # same layer: arc over the boxes
            x1, x2 = (xa + wa, xb) if xa < xb else (xa, xb + wb)
            y1 = y2 = ya + BOX_H / 2
            path = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {y1 - 30:.0f}, {x2:.0f} {y2 - 30:.0f}, {x2:.0f} {y2:.0f}"
        else:
            mid = (y1 + y2) / 2
            path = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {mid:.0f}, {x2:.0f} {mid:.0f}, {x2:.0f} {y2:.0f}"
        out.append(f'<path d="{path}" fill="none" stroke="#8a8a8a" stroke-width="1" opacity="0.7" '
                   f'marker-end="url(#arrow)"><title>{escape(a)} imports {escape(b)}</title></path>')
    for layer, units in layers:
        for unit, members in units.items():
            x, y, w = boxes[unit]
            out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{BOX_H}" rx="5" fill="#ffffff" stroke="#4a6fa5">'
                       f'<title>{escape(", ".join(sorted(members)))}</title></rect>')
            out.append(f'<text x="{x + w / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
                       f'font-family="monospace">{escape(unit_label(unit, members))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def architecture_page() -> str:
    """The page: the hand-written intro, the picture, then the layers table from the same declaration."""
    edges = arch.imports()
    lazy = sum(e.lazy for e in edges)
    intro = INTRO.read_text().rstrip() if INTRO.is_file() else "# Architecture"
    out = [intro, "",
           "## The layers", "",
           "<!-- generated by docs/hooks/gen_pages.py from hrmzoo.architecture and the source's imports: do not edit -->", "",
           "![hrmzoo's package layers](architecture/layers.svg)", "",
           f"Drawn when the site is built from the imports in the source: {len(arch.modules())} modules, "
           f"{len(edges)} imports between them ({len(edges) - lazy} at module level, {lazy} inside functions). "
           "An arrow runs from the importer to what it imports; an arrow that a longer path already implies is "
           "left out. Hover a box for its modules.", "",
           "| # | layer | folders and modules | what it does |", "|---|---|---|---|"]
    for number, (layer, units) in reversed(list(enumerate(units_by_layer(), start=1))):
        names = ", ".join(f"`{unit_label(u, m)}`" for u, m in sorted(units.items(), key=lambda kv: (kv[0] != "hrmzoo", kv[0])))
        out.append(f"| {number} | {layer.name} | {names} | {layer.role} |")
    out += ["", "Lowest last: a module may import from its own layer or one below it. "
            "`tests/test_architecture.py` fails on an import that goes up, and on any import circle.", ""]
    return "\n".join(out)
