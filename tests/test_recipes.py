import pytest
import yaml

from hrmzoo import load_recipe
from hrmzoo.cli import main as cli_main
from hrmzoo.errors import OverrideError, RecipeError
from hrmzoo.recipe import apply_overrides, parse_override, recipe_class, shipped_recipes
from hrmzoo.recipe.loader import RECIPES_DIR


@pytest.mark.parametrize("name", shipped_recipes())
def test_shipped_recipe_round_trips_through_yaml(name, tmp_path):
    recipe = load_recipe(name)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    again = load_recipe(path)
    assert again == recipe
    assert again.to_dict() == recipe.to_dict()


def test_extends_keeps_parent_and_applies_child(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {RECIPES_DIR / 'hrm_sudoku.yaml'}\nname: child\nmodel:\n  coupling: {{l_cycles: 5}}\n")
    r = load_recipe(child)
    assert r.name == "child"
    assert r.model.coupling.l_cycles == 5 and r.model.coupling.h_cycles == 2
    assert r.model.hidden_size == 512


def test_extends_with_new_type_replaces_mapping(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("extends: hrm_sudoku\nmodel:\n  halting: {type: fixed, max_segments: 3}\n")
    r = load_recipe(child)
    assert r.model.halting.type == "fixed" and r.model.halting.max_segments == 3


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a.b=3", ("set", ("a", "b"), 3)),
        ("a.b=null", ("set", ("a", "b"), None)),
        ("~a.b", ("delete", ("a", "b"), None)),
        ("a=[1,2]", ("set", ("a",), [1, 2])),
        ("a={type: add}", ("set", ("a",), {"type": "add"})),
        ("a.b=x=y", ("set", ("a", "b"), "x=y")),
        ("+a.b=1.0e-4", ("set", ("a", "b"), 1.0e-4)),
        ("a=__import__('os')", ("set", ("a",), "__import__('os')")),  # a string, never evaluated
        ("model.levels[2].period=8", ("set", ("model", "levels", "2", "period"), 8)),  # as errors print it
        ("~model.levels[1].block", ("delete", ("model", "levels", "1", "block"), None)),
    ],
)
def test_override_grammar(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1", "a=[1,", "~a=1", "a b=1", "a[x].b=1", "a[1=2"])
def test_malformed_override_is_one_line(text):
    with pytest.raises(OverrideError) as exc:
        parse_override(text)
    assert "\n" not in str(exc.value) and text in str(exc.value)


def test_override_type_switch_drops_old_fields():
    tree = {"model": {"halting": {"type": "q_learning", "exploration_prob": 0.3}}}
    out = apply_overrides(tree, ["model.halting.type=fixed", "model.halting.max_segments=2"])
    assert out == {"model": {"halting": {"type": "fixed", "max_segments": 2}}}
    assert tree["model"]["halting"]["type"] == "q_learning"  # input untouched


def test_override_delete_and_missing():
    assert apply_overrides({"a": {"b": 1, "c": 2}}, ["~a.b"]) == {"a": {"c": 2}}
    with pytest.raises(OverrideError, match="does not exist"):
        apply_overrides({"a": {}}, ["~a.b"])


def test_overrides_reach_the_recipe():
    r = load_recipe("hrm_sudoku", ["model.coupling.order=H_then_L", "train.lr=3e-4", "~model.h_block"])
    assert r.model.coupling.order == "H_then_L"
    assert r.train.lr == pytest.approx(3e-4)  # YAML 1.1 reads 3e-4 as a string; pydantic converts it
    assert r.model.h_block is None


BAD = [
    (["model.gradient.type=one_stp"], "unknown gradient 'one_stp'; did you mean 'one_step'?"),
    (["model.l_block.num_head=8"], "unknown field 'num_head'; did you mean 'num_heads'?"),
    (["model.l_block.num_heads=eight"], "model.l_block.num_heads: Input should be a valid integer"),
    (["model.coupling.order=sideways"], "model.coupling.order"),
    (["model.hidden_szie=3"], "did you mean 'hidden_size'?"),
    (["model.l_block"], "has no '='"),
]


@pytest.mark.parametrize("overrides,needle", BAD)
def test_bad_input_is_one_clear_line(overrides, needle):
    with pytest.raises((RecipeError, OverrideError)) as exc:
        load_recipe("hrm_sudoku", overrides)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg


@pytest.mark.parametrize("overrides,needle", BAD)
def test_cli_exit_code_2_and_one_line(overrides, needle, capsys):
    assert cli_main(["build", "hrm_sudoku", *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_yaml_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  l_block: {type: transformer, num_heads: 8\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(bad)
    assert str(bad) in str(exc.value) and "invalid YAML" in str(exc.value)


def test_field_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: hrm_sudoku\nmodel:\n  l_block:\n    type: transformer\n    num_heads: many\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(bad)
    assert f"{bad}:5: model.l_block.num_heads" in str(exc.value)


def test_missing_recipe_file():
    with pytest.raises(RecipeError, match="not found"):
        load_recipe("no/such/recipe.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(evil)


def test_json_schema_lists_components(capsys):
    assert cli_main(["schema"]) == 0
    out = capsys.readouterr().out
    assert '"one_step"' in out and '"transformer"' in out
    assert recipe_class().model_json_schema()["additionalProperties"] is False


def test_error_in_overridden_key_names_the_override():
    with pytest.raises(RecipeError) as exc:
        load_recipe("tiny_sudoku4", ["model.gradient.type=one_stp"])
    assert str(exc.value).startswith("override 'model.gradient.type=one_stp'")


EXPERIMENT_RECIPES = sorted((RECIPES_DIR.resolve().parents[1] / "experiments").glob("*/*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENT_RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_experiment_recipes_load(path):
    """The experiment recipes (experiments/<name>/*.yaml) stay valid: `extends: NAME` finds a sibling
    recipe of the experiment first, then a shipped one."""
    recipe = load_recipe(str(path))
    assert recipe.name == path.stem


def test_extends_finds_a_sibling_recipe_before_a_shipped_one(tmp_path):
    (tmp_path / "tiny_sudoku4.yaml").write_text("extends: hrm_sudoku\nname: tiny_sudoku4\ndescription: a sibling\n")
    (tmp_path / "child.yaml").write_text("extends: tiny_sudoku4\nname: child\n")
    assert load_recipe(str(tmp_path / "child.yaml")).description == "a sibling"
