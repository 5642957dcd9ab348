"""Segment-loop diagrams: read from the components, drawn for every shipped recipe."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from hrmzoo.analysis.schedule_svg import recipe_schedule, schedule_svg, segment_schedule, text_timeline
from hrmzoo.cli import main
from hrmzoo.controllers.none import NoController
from hrmzoo.couplings.base import Coupling, LevelSpec, Update
from hrmzoo.gradients.masked import LastCycleGradient
from hrmzoo.recipe import shipped_recipes

SVG = "{http://www.w3.org/2000/svg}"


def _svg_parts(text: str):
    root = ET.fromstring(text)
    levels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "level"]
    boxes = [g for g in root.iter(f"{SVG}g") if "update" in (g.get("class") or "").split()]
    return levels, boxes


@pytest.mark.parametrize("name", shipped_recipes())
def test_every_shipped_recipe_draws(name):
    s = recipe_schedule(name)
    levels, boxes = _svg_parts(schedule_svg(s))
    model_tags = s.updates
    # every level is named with its tag and the state tensors it writes, plus the input row
    assert len(levels) == len(s.levels) + 1
    for lv in s.levels:
        assert lv.keys, f"{name}: level {lv.tag} writes no state"
        assert f"{lv.tag}: {', '.join(lv.keys)}" in levels
    assert set(k for lv in s.levels for k in lv.keys) == set(s.state_keys)
    # one box per update; the gradient-carrying ones are exactly the estimator's mask
    assert len(boxes) == len(model_tags)
    grad_boxes = [int(g.get("data-index")) for g in boxes if "grad" in g.get("class").split()]
    assert grad_boxes == [u.index for u in s.updates if u.grad]
    assert 0 < len(grad_boxes) <= len(boxes)


def test_mask_comes_from_the_estimator():
    hrm = recipe_schedule("hrm_sudoku")
    assert text_timeline(hrm) == "L L H | L [L] [H]"
    bptt = recipe_schedule("hrm_sudoku", ["model.gradient.type=bptt"])
    assert text_timeline(bptt) == "[L] [L] [H] | [L] [L] [H]"
    trm = recipe_schedule("trm_sudoku")
    assert text_timeline(trm).split(" | ")[-1] == " ".join(["[L]"] * 6 + ["[H]"])
    assert "[" not in text_timeline(trm).split(" | ")[0]


def test_reads_and_writes_are_probed():
    s = recipe_schedule("hrm_sudoku")
    L = next(u for u in s.updates if u.tag == "L")
    H = next(u for u in s.updates if u.tag == "H")
    assert L.writes == ("z_L",) and set(L.reads) == {"z_H", "z_L", "x"}
    assert H.writes == ("z_H",) and set(H.reads) == {"z_H", "z_L"}  # H never sees x directly
    assert [lv.tag for lv in s.levels] == ["H", "L"]  # slowest on top
    flat = recipe_schedule("tiny_sudoku4", ["model.coupling={type: flat}"])
    assert [lv.keys for lv in flat.levels] == [("z",)]


def test_controller_hook_points_are_shown():
    s = recipe_schedule("quaternion_4head")
    assert s.heads_at == {"l_step": ["FF"], "l_context": ["FE"], "h_message": ["SF"], "h_step": ["SE"]}
    # every controller says where its heads act (the perspective heads once crashed the drawing)
    assert recipe_schedule("tom2_perspective").heads_at == {"l_context": ["FE"], "h_step": ["SE"]}
    assert recipe_schedule("tom2_perspective", ["model.controller.heads=[SE]"]).heads_at == {"h_step": ["SE"]}
    assert recipe_schedule("tom2_none").heads_at == {}
    root = ET.fromstring(schedule_svg(s))
    heads = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "heads"]
    assert heads.count("FE FF") == 4 and heads.count("SF SE") == 2


class _ThreeLevel(Coupling):
    """A stand-in three-level coupling (fast a, middle b, slow c) written by hand, not registered."""

    levels = (LevelSpec("A", "a"), LevelSpec("B", "b", 2), LevelSpec("C", "c", 2))

    def cycles(self, levels, x, ctl):
        def a(s):
            return {**s, "a": levels["A"].block(levels["A"].injection(s["a"], s["b"] + x))}

        def b(s):
            return {**s, "b": levels["B"].block(levels["B"].injection(s["b"], s["a"] + s["c"]))}

        def c(s):
            return {**s, "c": levels["C"].block(levels["C"].injection(s["c"], s["b"]))}

        A = Update("A", a, writes="a", reads=("a", "b"))
        B = Update("B", b, writes="b", reads=("b", "a", "c"))
        C = Update("C", c, writes="c", reads=("c", "b"))
        return [[A, A, B, A, A, B, C] for _ in range(2)]


def test_more_than_two_levels_need_no_changes():
    coupling = _ThreeLevel()
    model = SimpleNamespace(
        cfg=SimpleNamespace(coupling=SimpleNamespace(type="three"), gradient=SimpleNamespace(type="last_cycle"),
                            halting=SimpleNamespace(type="fixed"), controller=None),
        coupling=coupling, gradient=LastCycleGradient(None), halting=SimpleNamespace(max_segments=3),
        controller=NoController(), recipe=None)
    s = segment_schedule(model)
    assert [(lv.tag, lv.keys, lv.count) for lv in s.levels] == [("C", ("c",), 2), ("B", ("b",), 4), ("A", ("a",), 8)]
    assert set(s.updates[2].reads) == {"a", "b", "c"}
    levels, boxes = _svg_parts(schedule_svg(s))
    assert {"A: a", "B: b", "C: c"} <= set(levels)
    assert sum("grad" in g.get("class").split() for g in boxes) == 7


def test_build_cli_prints_timeline_and_writes_svg(tmp_path, capsys):
    out = tmp_path / "s.svg"
    assert main(["build", "tiny_sudoku4", "--schedule", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "segment: L L H | L [L] [H]" in printed and f"schedule: {out}" in printed
    ET.parse(out)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["build", "tiny_sudoku4", "--schedule", str(blocker / "s.svg")]) == 2
    err = capsys.readouterr().err  # refused before the model is built, by the output rule of every command
    assert "cannot create" in err and "--schedule" in err
