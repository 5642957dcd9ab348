"""The command line: plain-text help for every command without torch, one grammar
(TARGET or recipe=/ckpt=, key=value for --options) with the old forms still working,
``hrmzoo recipes``, plugins from the command line and ``--debug``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hrmzoo import registry
from hrmzoo.cli import COMMANDS, main
from hrmzoo.errors import HrmzooError
from hrmzoo.recipe import load_recipe, shipped_recipes

ROOT = Path(__file__).resolve().parents[1]
MARKUP = re.compile(r"``|:(mod|class|func|meth|data|attr|obj):`")


def _help(argv: list[str], capsys) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's --help
        code = exc.code
    out, err = capsys.readouterr()
    assert code in (0, None), (argv, err)
    return out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_exits_0_in_plain_text(command, capsys):
    text = _help([command, "--help"] if command else ["--help"], capsys)
    assert text.strip() and not MARKUP.search(text), text
    if command:
        assert f"hrmzoo {command}" in text


def test_every_dataset_kind_has_plain_help(capsys):
    kinds = _help(["data"], capsys)  # bare 'hrmzoo data' lists the kinds
    names = [line.split()[0] for line in kinds.splitlines()[1:]]
    assert {"sudoku", "maze", "arc"} <= set(names)
    for kind in names:
        text = _help(["data", kind, "--help"], capsys)
        assert f"hrmzoo data {kind}" in text and not MARKUP.search(text)


def test_list_prints_plain_text(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "one_step" in out and not MARKUP.search(out)


def test_help_and_import_hrmzoo_load_neither_torch_nor_timm():
    code = textwrap.dedent("""
        import sys
        import hrmzoo
        from hrmzoo.cli import COMMANDS, main
        # help, the recipe table (stored counts) and every command's argument errors: no torch
        for argv in [["--help"], *[[c, "--help"] for c in COMMANDS], ["data"], ["data", "sudoku", "--help"],
                     ["recipes", "--no-params"], ["recipes"], ["recipes", "*sudoku*"], ["recipes", "zz*"],
                     ["build"], ["build", "nosuch"], ["train"], ["train", "nosuch"], ["eval"], ["eval", "no/such"],
                     ["sweep"], ["halting"], ["trace", "no/such"], ["compare", "seeds=[0]"], ["compare", "nosuch"],
                     ["compare", "tiny_sudoku4", "tiny_sudoku4"], ["solve", "tom", "x"], ["solve", "sudoku", "123"],
                     *[[c, "--bogus"] for c in COMMANDS]]:
            try:
                main(argv)
            except SystemExit:
                pass
        print(sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-2000:]


def test_build_model_stays_the_public_door():
    import hrmzoo

    assert callable(hrmzoo.build_model) and hrmzoo.HrmzooError is HrmzooError
    assert "build_model" in dir(hrmzoo)
    # the front doors, and nothing private or imported, in dir() and help()
    doors = {"build_model", "load_model", "pretrained", "solve", "list_recipes", "list_pretrained"}
    assert doors <= set(dir(hrmzoo)) and all(not n.startswith("_") or n == "__version__" for n in dir(hrmzoo))
    assert not {"importlib", "annotations", "TYPE_CHECKING", "Any"} & set(dir(hrmzoo))
    assert all(f"`{door}(" in hrmzoo.__doc__ for door in doors)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hrmzoo.nope  # noqa: B018


# ------------------------------------------------------------------ one grammar, both forms

def _outcome(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _grammar_build(tmp_path, capsys, monkeypatch):
    old = _outcome(["build", "tiny_sudoku4", "model.hidden_size=32", "--out", str(tmp_path / "a.safetensors")], capsys)
    new = _outcome(["build", "recipe=tiny_sudoku4", "model.hidden_size=32", f"out={tmp_path / 'b.safetensors'}"], capsys)
    assert old[0] == new[0] == 0 and (tmp_path / "a.safetensors").is_file() and (tmp_path / "b.safetensors").is_file()
    return old[1].splitlines()[:-1], new[1].splitlines()[:-1]  # the last line names the file


def _captured_call(monkeypatch, target: str, attribute: str):
    """Replace ``target.attribute`` by a recorder that stops the command."""
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        raise HrmzooError("recorded")

    monkeypatch.setattr(f"{target}.{attribute}", record)
    return calls


def _grammar_train(tmp_path, capsys, monkeypatch):
    calls = _captured_call(monkeypatch, "hrmzoo.train.trainer", "Trainer")
    main(["train", "recipe=tiny_sudoku4", "train.steps=3", f"data={tmp_path}"])
    main(["train", "tiny_sudoku4", "train.steps=3", f"data={tmp_path}"])
    capsys.readouterr()
    return calls[0], calls[1]


def _grammar_checkpoint(command: str, target: str):
    def check(tmp_path, capsys, monkeypatch):
        calls = _captured_call(monkeypatch, target, "resolve")
        main([command, f"ckpt={tmp_path}", "split=test", "model.halting.max_segments=2"])
        main([command, str(tmp_path), "split=test", "model.halting.max_segments=2"])
        capsys.readouterr()
        assert calls[0][0][0]["ckpt"] == str(tmp_path)
        return calls[0], calls[1]
    return check


def _grammar_data(tmp_path, capsys, monkeypatch):
    old = _outcome(["data", "sudoku", "--size", "4", "--num-train", "5", "--num-test", "2", "--out", str(tmp_path / "a"), "--quiet"], capsys)
    new = _outcome(["data", "sudoku", "size=4", "num_train=5", "num_test=2", f"out={tmp_path / 'b'}", "quiet=true"], capsys)
    assert old[0] == new[0] == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    return [(tmp_path / "a" / f).read_bytes() for f in files], [(tmp_path / "b" / f).read_bytes() for f in files]


def _grammar_list(tmp_path, capsys, monkeypatch):
    return _outcome(["list", "gradient", "one*"], capsys), _outcome(["list", "kind=gradient", "pattern=one*"], capsys)


def _grammar_schema(tmp_path, capsys, monkeypatch):
    assert main(["schema", "--out", str(tmp_path / "a.json")]) == main(["schema", f"out={tmp_path / 'b.json'}"]) == 0
    return json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())


def _grammar_catalog(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr("hrmzoo.catalog.stale_files", lambda directory: seen.append(directory) or [])
    assert main(["catalog", "--check", "--dir", str(tmp_path)]) == main(["catalog", "check=true", f"dir={tmp_path}"]) == 0
    capsys.readouterr()
    return seen[0], seen[1]


def _grammar_recipes(tmp_path, capsys, monkeypatch):
    shown = [_outcome(argv, capsys) for argv in (["recipes", "show", "tiny_sudoku4", "train.steps=7"],
                                                  ["recipes", "show", "recipe=tiny_sudoku4", "train.steps=7"],
                                                  ["recipes", "tiny_sudoku4", "train.steps=7"])]
    assert shown[0] == shown[1] == shown[2] and shown[0][0] == 0
    copied = [_outcome(argv, capsys)[0] for argv in (["recipes", "copy", "tiny_sudoku4", str(tmp_path / "a.yaml")],
                                                      ["recipes", "copy", "recipe=tiny_sudoku4", f"out={tmp_path / 'b.yaml'}"])]
    assert copied == [0, 0]
    return (tmp_path / "a.yaml").read_text(), (tmp_path / "b.yaml").read_text()


def _grammar_import(tmp_path, capsys, monkeypatch):
    calls = _captured_call(monkeypatch, "hrmzoo.interop", "import_hrm")
    ckpt = str(tmp_path / "step_100")
    main(["import", "hrm", ckpt, "H_cycles=2", "--out", str(tmp_path / "a.safetensors")])
    main(["import", "hrm", ckpt, "H_cycles=2", f"out={tmp_path / 'a.safetensors'}"])
    capsys.readouterr()
    return calls[0], calls[1]


def _grammar_one_form(command: str, target: str, attribute: str, argv: list[str], permuted: list[str]):
    """Commands whose only form is already VERB TARGET... key=value: the order of the
    key=value arguments does not matter."""
    def check(tmp_path, capsys, monkeypatch):
        calls = _captured_call(monkeypatch, target, attribute)
        main([command, *[a.format(tmp=tmp_path) for a in argv]])
        main([command, *[a.format(tmp=tmp_path) for a in permuted]])
        capsys.readouterr()
        assert len(calls) == 2
        return calls[0], calls[1]
    return check


def _grammar_solve(tmp_path, capsys, monkeypatch):
    old = _outcome(["solve", "sudoku", "1...........4..2", "--segments", "2", "--model", "pretrained:tiny_sudoku4"], capsys)
    new = _outcome(["solve", "sudoku", "1...........4..2", "segments=2", "model=pretrained:tiny_sudoku4"], capsys)
    assert "segments " in old[1]
    return old, new


GRAMMARS = {
    "solve": _grammar_solve,
    "import": _grammar_import,
    "trace": _grammar_checkpoint("trace", "hrmzoo.cli.args"),
    "plot": _grammar_one_form("plot", "hrmzoo.analysis.plot_runs", "plot_runs", ["{tmp}", "out={tmp}/c"], ["out={tmp}/c", "{tmp}"]),
    "compare": _grammar_one_form("compare", "hrmzoo.analysis.compare", "run_compare",
                                 ["tiny_sudoku4", "seeds=2", f"out={{tmp}}/cmp"], [f"out={{tmp}}/cmp", "tiny_sudoku4", "seeds=2"]),
    "build": _grammar_build,
    "train": _grammar_train,
    "eval": _grammar_checkpoint("eval", "hrmzoo.cli.eval_cmd"),
    "sweep": _grammar_checkpoint("sweep", "hrmzoo.cli.args"),
    "halting": _grammar_checkpoint("halting", "hrmzoo.cli.args"),
    "data": _grammar_data,
    "list": _grammar_list,
    "schema": _grammar_schema,
    "catalog": _grammar_catalog,
    "recipes": _grammar_recipes,
}


def test_every_command_has_a_grammar_test():
    assert set(GRAMMARS) == set(COMMANDS), "add a both-grammars check for the new command to GRAMMARS"


@pytest.mark.parametrize("command", sorted(GRAMMARS))
def test_both_grammars_give_the_same_result(command, tmp_path, capsys, monkeypatch):
    old, new = GRAMMARS[command](tmp_path, capsys, monkeypatch)
    assert old == new


@pytest.mark.parametrize("argv,needle", [
    (["build"], "no recipe given"),
    (["build", "tiny_sudoku4", "hrm_sudoku"], "one RECIPE per command"),
    (["build", "tiny_sudoku4", "model.hidden_size"], "has no '='"),
    (["data", "sudoku", "size=4", "quiet=maybe", "out=x"], "is a switch"),
    (["recipes", "copy", "tiny_sudoku4"], "no destination"),
    (["list", "block", "t*", "extra"], "too many arguments"),
])
def test_grammar_mistakes_are_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err, err


# ------------------------------------------------------------------ hrmzoo recipes

def test_recipes_lists_names_parameters_and_descriptions(capsys):
    assert main(["recipes"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if not line[0].isspace()}
    assert set(rows) == set(shipped_recipes())
    assert "27,275,266" in rows["hrm_sudoku"] and "101,506" in rows["tiny_sudoku4"]
    assert load_recipe("tiny_sudoku4").description in rows["tiny_sudoku4"]
    assert main(["recipes", "--no-params"]) == 0
    fast = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if not line[0].isspace()}
    assert set(fast) == set(rows) and all(load_recipe(n).description in fast[n] for n in fast)


@pytest.mark.parametrize("name,overrides", [(n, []) for n in shipped_recipes()] + [("hrm_sudoku", ["model.gradient.type=bptt", "train.steps=5"])])
def test_recipes_show_loads_back_to_the_same_recipe(name, overrides, tmp_path, capsys):
    assert main(["recipes", "show", name, *overrides]) == 0
    path = tmp_path / "shown.yaml"
    path.write_text(capsys.readouterr().out)
    assert load_recipe(path) == load_recipe(name, overrides)


def test_recipes_copy_keeps_the_file_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["recipes", "copy", "trm_sudoku", str(tmp_path)]) == 0
    copy = tmp_path / "trm_sudoku.yaml"
    assert copy.read_text() == (ROOT / "hrmzoo" / "recipes" / "trm_sudoku.yaml").read_text()
    assert main(["recipes", "copy", "trm_sudoku", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["recipes", "copy", "trm_sudoku", str(tmp_path), "--force"]) == 0


def test_shipped_recipes_live_in_the_package_and_the_checkout_path_still_works():
    from hrmzoo.recipe.loader import RECIPES_DIR

    assert RECIPES_DIR.resolve() == (ROOT / "hrmzoo" / "recipes").resolve()
    assert (ROOT / "recipes" / "hrm_sudoku.yaml").is_file() and (ROOT / "hrmzoo" / "py.typed").is_file()
    assert load_recipe("recipes/hrm_sudoku.yaml") == load_recipe("hrm_sudoku")


# ------------------------------------------------------------------ plugins and --debug

PLUGIN = '''
from hrmzoo.injections import AddInjection, InjectionConfig
from hrmzoo.registry import register


@register("injection", "{name}", config=InjectionConfig)
class PluginInjection(AddInjection):
    """A plugin injection for the CLI tests."""
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Writes plugin modules registering injections; unregisters them afterwards."""
    names = []

    def write(name: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(PLUGIN.format(name=name))
        names.append(name)
        return path

    monkeypatch.chdir(tmp_path)
    yield write
    for name in names:
        registry.REGISTRIES["injection"].remove(name)
        for module in [m for m in sys.modules if m.endswith(name)]:
            del sys.modules[module]


def test_unknown_component_says_how_plugins_load(capsys):
    assert main(["build", "tiny_sudoku4", "model.injection.type=cli_plugin_absent"]) == 2
    err = capsys.readouterr().err
    assert "unknown injection 'cli_plugin_absent'" in err and "--import MODULE" in err and "imports:" in err


def test_import_option_registers_a_plugin(plugin, capsys):
    plugin("cli_plugin_a")
    assert main(["--import", "cli_plugin_a", "build", "tiny_sudoku4", "model.injection.type=cli_plugin_a"]) == 0
    assert "cli_plugin_a" in capsys.readouterr().out
    path = plugin("cli_plugin_b")  # a .py file, the option after the command
    assert main(["list", "injection", "--import", str(path)]) == 0
    assert "cli_plugin_b" in capsys.readouterr().out
    assert main(["--import", "cli_plugin_missing", "list"]) == 2
    assert "cannot import 'cli_plugin_missing'" in capsys.readouterr().err


def test_recipe_imports_register_a_plugin(plugin, tmp_path, capsys):
    plugin("cli_plugin_c")
    recipe = tmp_path / "with_plugin.yaml"
    recipe.write_text("extends: tiny_sudoku4\nimports: [cli_plugin_c.py]\nmodel:\n  injection: {type: cli_plugin_c}\n")
    assert load_recipe(recipe).imports == ("cli_plugin_c.py",)
    assert main(["build", str(recipe)]) == 0
    assert "cli_plugin_c" in capsys.readouterr().out


def test_debug_keeps_the_original_traceback(capsys, monkeypatch):
    assert main(["build", "tiny_sudoku4", "model.hidden_size=-1"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["build", "tiny_sudoku4", "model.hidden_size=-1", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValidationError" in err  # the pydantic error the one line came from
    monkeypatch.setenv("HRMZOO_DEBUG", "1")
    assert main(["build", "tiny_sudoku4", "model.hidden_size=-1"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_with_a_hint(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("hrmzoo.recipe.build.build_model", broken)
    assert main(["build", "tiny_sudoku4"]) == 1
    err = capsys.readouterr().err.strip()
    assert "RuntimeError: boom" in err and "--debug" in err and "\n" not in err


def test_bench_startup_runs(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks" / "speed"))
    try:
        import bench_startup
    finally:
        sys.path.remove(str(ROOT / "benchmarks" / "speed"))
    record = bench_startup.main(["--runs", "1", "--only", "python -c pass", "--only", "hrmzoo --help"])
    assert set(record["results"]) == {"python -c pass", "hrmzoo --help"}
    assert all(r["median_s"] > 0 for r in record["results"].values())


def test_recipes_and_list_take_wildcards_and_say_when_nothing_matches(capsys):
    assert main(["recipes", "cpu_sudoku?"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if not line[0].isspace()]
    assert rows == ["cpu_sudoku6", "cpu_sudoku9"]
    assert main(["recipes", "list", "*maze*"]) == 0
    assert "tiny_maze" in capsys.readouterr().out
    assert main(["recipes", "zz*"]) == 2
    assert "no shipped recipe matches 'zz*'" in capsys.readouterr().err
    assert main(["list", "*step*"]) == 0
    out = capsys.readouterr().out
    assert "k_step" in out and "one_step" in out and "mlp_mixer" not in out
    assert main(["list", "gradient", "zz*"]) == 2
    assert "no gradient component matches 'zz*'" in capsys.readouterr().err


def test_recipes_marks_the_recipes_with_shipped_weights(capsys):
    from hrmzoo.persistence.hub import by_recipe

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for recipe, name in by_recipe().items():
        assert f"trained weights: pretrained:{name} " in out.split(f"\n{recipe} ", 1)[1].split("\n")[1]


def test_stored_parameter_counts_are_used_only_while_the_recipes_are_unchanged(tmp_path, monkeypatch, capsys):
    import shutil

    from hrmzoo.recipe import shipped

    assert shipped.read_index() is not None  # the committed index matches the committed recipes
    recipes = tmp_path / "recipes"
    shutil.copytree(shipped.RECIPES_DIR, recipes)
    (recipes / "tiny_sudoku4.yaml").write_text((recipes / "tiny_sudoku4.yaml").read_text().replace("hidden_size: 64", "hidden_size: 32"))
    monkeypatch.setattr(shipped, "RECIPES_DIR", recipes)
    monkeypatch.setattr(shipped, "INDEX_FILE", recipes / "index.json")
    assert shipped.read_index() is None


def test_list_knows_the_registry_kinds_without_importing_it():
    from hrmzoo.cli.list_cmd import KIND_NAMES
    from hrmzoo.registry import KINDS

    assert KIND_NAMES == KINDS
