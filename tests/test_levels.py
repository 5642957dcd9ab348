"""The N-level model (issue 13): `model.levels` with the `levels` coupling.

The structural gradient property over three levels is in
test_gradient_structure.py; bit-for-bit equality of the two-level couplings
with the code before the rewrite is in test_fidelity.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hrmzoo import build_model
from hrmzoo.analysis.schedule_svg import recipe_schedule, schedule_svg, text_timeline
from hrmzoo.blocks import BlockConfig
from hrmzoo.blocks.transformer import TransformerBlock
from hrmzoo.persistence.checkpoint import load_model, save_model
from hrmzoo.cli import main
from hrmzoo.errors import RecipeError, RegistryError
from hrmzoo.model.segment_loop import new_carry, segment_step
from hrmzoo.recipe import load_recipe
from hrmzoo.recipe.schema import recipe_class
from hrmzoo.registry import REGISTRIES, register
from hrmzoo.model.wiring import ComponentSizes, construct
from tests.helpers import THREE_LEVELS, random_batch, tiny_model

LEVELS_3 = "[{name: L, block: {type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}}, {name: M, period: 2}, {name: H, period: 2}]"


def three_level(*overrides: str, seed: int = 0):
    return tiny_model(*THREE_LEVELS, *overrides, seed=seed)


# ------------------------------------------------------------------ recipe errors

def test_a_top_level_that_would_never_run_is_a_recipe_error_naming_the_key():
    with pytest.raises(RecipeError, match=r"model\.levels\[2\]\.period=4: level H would never run: it updates once per 8 L updates, but a segment has model\.coupling\.steps=4"):
        three_level("model.levels.2.period=4")


def test_the_cli_prints_one_line_and_exits_2(capsys):
    assert main(["build", "tiny_sudoku6_3level", "model.levels.2.period=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.levels[2].period=3" in err and "would never run" in err


@pytest.mark.parametrize("overrides,message", [
    (["model.coupling.steps=6"], r"model\.coupling\.steps=6 is not a multiple of 4"),
    (["model.levels.0.period=2"], r"model\.levels\[0\]\.period=2: the fastest level has no level below"),
    (["model.levels.1.name=l"], r"model\.levels\[1\]\.name=l: another level has this name"),
    (["model.levels.2.shared_with=X"], r"model\.levels\[2\]\.shared_with=X: name another level"),
    (["model.levels.2.block={type: transformer}", "model.levels.2.shared_with=L"], r"model\.levels\[2\]: give block/injection or shared_with"),
    (["model.l_block={type: transformer}"], r"model\.l_block: with model\.levels"),
    (["model.coupling={type: hierarchical}"], r"model\.levels is given but model\.coupling\.type is 'hierarchical'"),
    (["~model.levels"], r"model\.coupling\.type=levels needs model\.levels"),
    (["model.levels.0.block=null"], r"model\.levels\[0\]\.block: the fastest level needs a block"),
])
def test_inconsistent_levels_are_one_line_recipe_errors(overrides, message):
    with pytest.raises(RecipeError, match=message) as info:
        three_level(*overrides)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ the model

def test_two_levels_written_as_levels_are_hrm_exactly():
    """`levels: [L, H period 2]`, 4 L updates = `hierarchical` with h_cycles=l_cycles=2: same
    parameter names, same weights for the same seed, same logits."""
    hrm = tiny_model("model.h_block={type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}")
    two = tiny_model("~model.l_block", "~model.h_block", "model.coupling={type: levels, steps: 4}",
                     "model.levels=[{name: L, block: {type: transformer, num_layers: 1, num_heads: 2, expansion: 2.0}}, {name: H, period: 2}]")
    a, b = hrm.state_dict(), two.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    batch = random_batch(hrm)
    assert torch.equal(hrm(batch).logits, two(batch).logits)
    assert two.coupling.schedule() == hrm.coupling.schedule() == [["L", "L", "H"]] * 2


def test_three_levels_own_their_networks_and_state():
    model = three_level()
    assert model.coupling.state_keys == ("z_H", "z_M", "z_L") and model.coupling.output_key == "z_H"
    assert [n for n, _ in model.named_children()][:8] == ["embedding", "coupling", "l_block", "l_injection", "m_block", "m_injection", "h_block", "h_injection"]
    assert model.coupling.schedule() == [list("LLMLLMH")]
    assert model.coupling.hook_points() == ("l_context", "l_step", "m_message", "m_context", "m_step", "h_message", "h_step")
    shared = three_level("model.levels.2={name: H, period: 2, shared_with: L}")
    assert shared.h_block is None and shared.level_networks()["H"].block is shared.l_block
    assert shared.num_parameters() == model.num_parameters() - sum(p.numel() for p in model.h_block.parameters())
    out = model(random_batch(model))
    assert set(out.state) == {"z_H", "z_M", "z_L"} and out.logits.shape == (3, 16, 6)


def test_the_paper_size_three_level_recipe_is_hrm_plus_one_block():
    hrm, hrm3 = build_model("hrm_sudoku", device="meta"), build_model("hrm3_sudoku", device="meta")
    block = sum(p.numel() for p in hrm.l_block.parameters())
    assert hrm.num_parameters() == 27_275_266
    assert hrm3.num_parameters() == 27_275_266 + block == 40_906_754


def test_build_prints_the_three_level_schedule_with_gradient_marks(capsys):
    assert main(["build", "recipes/hrm3_sudoku.yaml"]) == 0
    out = capsys.readouterr().out
    assert "segment: L L M L L M H | L L M L [L] [M] [H]   ([ ] carries gradient under one_step: 3 of 14)" in out
    assert "level M     transformer" in out and "period 2 (every 2 L)" in out
    assert "total parameters: 40,906,754" in out


def test_the_schedule_svg_draws_three_levels():
    s = recipe_schedule("hrm3_sudoku")
    assert [(lv.tag, lv.keys, lv.count) for lv in s.levels] == [("H", ("z_H",), 2), ("M", ("z_M",), 4), ("L", ("z_L",), 8)]
    assert text_timeline(s) == "L L M L L M H | L L M L [L] [M] [H]"
    M = next(u for u in s.updates if u.tag == "M")
    assert set(M.reads) == {"z_L", "z_M", "z_H"}  # a middle level hears both neighbours, not x
    svg = schedule_svg(s)
    assert "M: z_M" in svg and svg.count('class="update grad"') == 3


@pytest.mark.parametrize("halting", sorted(REGISTRIES["halting"].names()))
def test_every_halting_policy_runs_three_levels(halting):
    model = three_level(f"model.halting={{type: {halting}, max_segments: 3}}")
    batch = random_batch(model, 4)
    carry = new_carry(model, batch)
    for _ in range(3):
        carry, res = segment_step(model, carry, batch, training=True, generator=torch.Generator().manual_seed(0))
        res.loss.backward()
    assert torch.isfinite(res.loss) and bool(carry.halted.all())  # max_segments reached by every sample


def test_controllers_act_on_three_levels():
    quat = three_level("model.controller={type: quaternion, num_task_families: 2, head_width: 8}")
    with torch.no_grad():
        for p in quat.controller.parameters():
            p.normal_(0, 0.1)
    out = quat(random_batch(quat))
    # fast heads once per L update (4 per segment), slow heads once per H update (1)
    assert {k: len(v) for k, v in out.diagnostics["trace"].items()} == {"FF/l_step": 4, "FE/l_context": 4, "SF/h_message": 1, "SE/h_step": 1}
    film = three_level("model.controller={type: film, point: m_step}")
    trace = film(random_batch(film)).diagnostics["trace"]
    assert list(trace) == ["film/m_step"] and len(trace["film/m_step"]) == 2
    with pytest.raises(RecipeError, match="model.controller.point"):
        three_level("model.controller={type: film, point: middle}")


def test_a_three_level_checkpoint_and_recipe_round_trip(tmp_path):
    model = three_level()
    path = save_model(model, tmp_path / "l3.safetensors")
    back = load_model(path)
    a, b = model.state_dict(), back.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    recipe = load_recipe("tiny_sudoku6_3level")
    dumped = recipe.to_dict()
    assert "l_block" not in dumped["model"] and recipe_class().model_validate(dumped) == recipe


# ------------------------------------------------------------------ constructor contract

def test_a_block_is_built_from_plain_sizes():
    cfg = REGISTRIES["block"].get("transformer").config(num_layers=1, num_heads=2)
    block = TransformerBlock(cfg, hidden_size=16, seq_len=5, pos_encoding="rope")
    assert block(torch.zeros(2, 5, 16)).shape == (2, 5, 16)


def test_construct_passes_what_a_constructor_names_and_serves_the_old_signature():
    seen = {}

    @register("injection", "asks_sizes", config=REGISTRIES["injection"].get("add").config.__base__)
    class AsksSizes(nn.Module):
        """Records what it is given."""

        def __init__(self, cfg, *, hidden_size, hook_points=()):
            super().__init__()
            seen["new"] = (hidden_size, hook_points)

    @register("injection", "old_style", config=REGISTRIES["injection"].get("add").config.__base__)
    class OldStyle(nn.Module):
        """Written against (cfg, model_cfg)."""

        def __init__(self, cfg, model_cfg):
            super().__init__()
            seen["old"] = model_cfg.hidden_size

    @register("injection", "asks_unknown", config=REGISTRIES["injection"].get("add").config.__base__)
    class AsksUnknown(nn.Module):
        """Asks for a size nobody provides."""

        def __init__(self, cfg, *, depth):
            super().__init__()

    try:
        tiny_model("model.injection={type: asks_sizes}")
        assert seen["new"] == (32, ("l_context", "l_step", "h_message", "h_step"))
        tiny_model("model.injection={type: old_style}")
        assert seen["old"] == 32
        with pytest.raises(RecipeError, match=r"model\.l_injection: injection 'asks_unknown' .* asks for 'depth', which the model does not provide"):
            tiny_model("model.injection={type: asks_unknown}")
        sizes = ComponentSizes(hidden_size=8)
        construct("injection", REGISTRIES["injection"].get("asks_sizes").config(), sizes, where="x")
        assert seen["new"] == (8, ())
    finally:
        for name in ("asks_sizes", "old_style", "asks_unknown"):
            REGISTRIES["injection"].remove(name)


def test_construct_passes_exactly_the_declared_sizes():
    """`register(..., sizes=...)`: the builder passes those names and no others, whatever the
    signature takes; a declared name the model does not provide is a one-line RecipeError."""
    seen = {}
    base = REGISTRIES["injection"].get("add").config.__base__

    @register("injection", "declares_sizes", config=base, sizes=("hidden_size",))
    class DeclaresSizes(nn.Module):
        """Takes **kwargs, but declares one size: it gets that one."""

        def __init__(self, cfg, **kwargs):
            super().__init__()
            seen["declared"] = kwargs

    @register("injection", "declares_unknown", config=base, sizes=("hidden_size", "depth"))
    class DeclaresUnknown(nn.Module):
        """Declares a size nobody provides."""

        def __init__(self, cfg, *, hidden_size, depth):
            super().__init__()

    try:
        tiny_model("model.injection={type: declares_sizes}")
        assert seen["declared"] == {"hidden_size": 32}
        with pytest.raises(RecipeError, match=r"model\.l_injection: injection 'declares_unknown' .* declares sizes=\('hidden_size', 'depth'\), "
                                              r"but the model provides no 'depth'; declare only names of: hidden_size, "):
            tiny_model("model.injection={type: declares_unknown}")
    finally:
        for name in ("declares_sizes", "declares_unknown"):
            REGISTRIES["injection"].remove(name)


def test_every_built_in_declares_its_sizes():
    """The built-ins say who receives what where they register (the signature fallback is for plugins)."""
    from hrmzoo.loading.plugins import load_components

    load_components()
    undeclared = [f"{kind}/{e.name}" for kind, reg in REGISTRIES.items() for e in reg.entries()
                  if e.module.startswith("hrmzoo.") and e.sizes is None]
    assert not undeclared


def test_register_refuses_malformed_sizes():
    with pytest.raises(RegistryError, match=r"sizes='hidden_size' must be a tuple of size names"):
        register("injection", "bad_sizes", config=REGISTRIES["injection"].get("add").config.__base__, sizes="hidden_size")


def test_a_block_that_changes_the_shape_is_refused_at_build():
    @register("block", "drops_channel", config=BlockConfig)
    class DropsChannel(nn.Module):
        """Returns one channel fewer."""

        def __init__(self, cfg, *, hidden_size):
            super().__init__()
            self.proj = nn.Linear(hidden_size, hidden_size - 1)

        def forward(self, x):
            return self.proj(x)

    try:
        with pytest.raises(RecipeError, match=r"model\.levels\[1\]\.block: block 'DropsChannel' maps \[1, 16, 32\] to \[1, 16, 31\]"):
            three_level("model.levels.1.block={type: drops_channel}")
    finally:
        REGISTRIES["block"].remove("drops_channel")


def test_a_coupling_written_against_parts_gets_one_line_saying_what_changed():
    from hrmzoo.couplings.base import Coupling, CouplingConfig

    @register("coupling", "old_parts", config=CouplingConfig)
    class OldParts(Coupling):
        """A pre-issue-13 coupling: class-level state keys, cycles(parts, x, ctl)."""

        state_keys = ("z",)
        output_key = "z"

        def __init__(self, cfg, model_cfg):
            super().__init__()

    try:
        with pytest.raises(RecipeError, match=r"does not define level_specs\(cfg, model_cfg\).*instead of Parts") as info:
            tiny_model("model.coupling={type: old_parts}")
        assert "\n" not in str(info.value)
    finally:
        REGISTRIES["coupling"].remove("old_parts")
