import sys
import textwrap

import pytest

from hrmzoo import list_components, registry
from hrmzoo.loading import plugins
from hrmzoo.errors import RegistryError
from hrmzoo.registry import ComponentConfig, natural_sorted, register


def test_duplicate_names_rejected():
    with pytest.raises(RegistryError, match="already registered"):

        @register("block", "transformer", config=ComponentConfig)
        class Again:  # noqa: F841
            pass


def test_unknown_name_suggests_close_match():
    with pytest.raises(RegistryError) as exc:
        registry.get("gradient", "one_stp")
    assert "did you mean 'one_step'" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_kind():
    with pytest.raises(RegistryError, match="did you mean 'block'"):
        registry.get("blocks", "transformer")


def test_list_components_wildcards():
    found = list_components("gradient", "*step")
    assert found == {"gradient": [n for n in registry.REGISTRIES["gradient"].names() if n.endswith("step")]}
    assert "one_step" in found["gradient"] and "bptt" not in found["gradient"]
    assert set(list_components()) == set(registry.KINDS)


def test_natural_sort():
    assert natural_sorted(["b10", "b2", "a"]) == ["a", "b2", "b10"]


def test_register_adds_type_literal():
    entry = registry.get("coupling", "hierarchical")
    cfg = entry.config()
    assert cfg.type == "hierarchical"
    with pytest.raises(Exception):
        entry.config(type="flat")


def test_entry_point_plugin(tmp_path, monkeypatch):
    """A third-party package registers a block through the entry-point group."""
    (tmp_path / "fake_hrmzoo_plugin.py").write_text(textwrap.dedent('''
        import torch
        from hrmzoo.blocks import Block, BlockConfig
        from hrmzoo.registry import register

        @register("block", "fake_identity", config=BlockConfig)
        class FakeIdentity(Block):
            """Identity block from a plugin."""
            def __init__(self, cfg, model_cfg):
                super().__init__()
                self.w = torch.nn.Parameter(torch.ones(()))
            def forward(self, x):
                return x * self.w
    '''))
    dist = tmp_path / "fake_hrmzoo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-hrmzoo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hrmzoo.components]\nfake = fake_hrmzoo_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "fake" in plugins.load_plugins()
        assert "fake_identity" in list_components("block")["block"]
        from hrmzoo import build_model

        model = build_model("tiny_sudoku4", ["model.l_block={type: fake_identity}", "model.h_block={type: fake_identity}"])
        assert type(model.l_block).__name__ == "FakeIdentity"
    finally:
        registry.REGISTRIES["block"].remove("fake_identity")
        sys.modules.pop("fake_hrmzoo_plugin", None)
