"""The registry/ catalogue: in sync with the code, deterministic, robust to new components."""

import json
import shutil
import textwrap
from typing import Literal, Optional

import pytest
from pydantic import Field

from hrmzoo import catalog, registry
from hrmzoo.catalog import CatalogError, attribute_docs, load_results, results_markdown, type_name
from hrmzoo.cli import main
from hrmzoo.recipe import json_schema
from hrmzoo.registry import ComponentConfig, register


def test_registry_folder_is_up_to_date():
    stale = catalog.stale_files()
    assert not stale, f"registry/ is stale ({', '.join(stale)}): run `hrmzoo catalog` and commit the result"


def test_schema_file_is_the_recipe_schema():
    on_disk = json.loads((catalog.REGISTRY_DIR / "recipe.schema.json").read_text())
    assert on_disk == json_schema()


def test_generation_is_deterministic():
    assert catalog.generate() == catalog.generate()


def test_every_component_is_catalogued_with_its_fields():
    data = json.loads(catalog.generate()["components.json"])
    for kind in registry.KINDS:
        names = [m["name"] for m in data["kinds"][kind]["members"]]
        assert names == registry.REGISTRIES[kind].names()
    quat = next(m for m in data["kinds"]["controller"]["members"] if m["name"] == "quaternion")
    fields = {f["name"]: f for f in quat["fields"]}
    assert fields["num_task_families"]["default"] == 1 and fields["num_task_families"]["constraint"] == ">= 1"
    assert fields["heads"]["default"] == ["FF", "FE", "SF", "SE"]
    assert fields["perspective"]["type"] == '"given" | "inferred"'
    assert fields["framing_weight"]["description"].startswith("weight of the framing loss")


def test_new_component_appears_and_check_catches_it(tmp_path):
    """A component registered later (another engineer, a plugin) makes the catalogue stale."""
    shutil.copytree(catalog.REGISTRY_DIR, tmp_path / "reg")
    target = tmp_path / "reg"
    assert main(["catalog", "--check", "--dir", str(target)]) == 0

    class ProbeConfig(ComponentConfig):
        """Attributes:
        strength: how hard it probes,
            over two lines.
        """

        strength: float = Field(0.5, gt=0)

    @register("controller", "zz_probe", config=ProbeConfig)
    class Probe:
        """A temporary controller for this test."""

    try:
        assert main(["catalog", "--check", "--dir", str(target)]) == 1
        assert main(["catalog", "--dir", str(target)]) == 0
        text = (target / "components.md").read_text()
        assert "### `zz_probe`" in text and "A temporary controller for this test." in text
        assert "| `strength` | float | `0.5` | > 0 | how hard it probes, over two lines. |" in text
        assert "zz_probe" in (target / "recipe.schema.json").read_text()
        assert main(["catalog", "--check", "--dir", str(target)]) == 0
    finally:
        registry.REGISTRIES["controller"].remove("zz_probe")
    assert main(["catalog", "--check", "--dir", str(target)]) == 1


def test_attribute_docs_parsing():
    class Base:
        """Base.

        Attributes:
            a: first, which wraps
                onto a second line.
            b (int): second.

        Example:
            c: not an attribute.
        """

    class Child(Base):
        """Child.

        Attributes:
            b: overridden.
        """

    assert attribute_docs(Child) == {"a": "first, which wraps onto a second line.", "b": "overridden."}


def test_type_names():
    assert type_name(int) == "int"
    assert type_name(Optional[float]) == "float | null"
    assert type_name(Literal["x", "y"]) == '"x" | "y"'
    assert type_name(tuple[Literal["FF", "SE"], ...]) == 'list["FF" | "SE"]'
    assert type_name(tuple[float, float]) == "[float, float]"


RESULT = dict(
    recipe="tiny_sudoku4",
    metric="exact_accuracy/sudoku4",
    value=41.25,
    std=2.5,
    seeds=3,
    unit="%",
    dataset="sudoku4 test",
    command="hrmzoo train recipe=tiny_sudoku4",
    hardware="2-core CPU",
    date="2026-01-02",
)


def write_results(path, entries):
    path.write_text(json.dumps({"results": entries}))  # JSON is YAML
    return path


def test_results_render_mean_and_spread(tmp_path):
    results = load_results(write_results(tmp_path / "results.yaml", [RESULT]))
    text = results_markdown(results)
    assert "| `tiny_sudoku4` | exact_accuracy/sudoku4 | 41.25 ± 2.5 % | 3 |" in text
    assert "\nhrmzoo train recipe=tiny_sudoku4\n" in text and "Hardware: 2-core CPU" in text and "Date: 2026-01-02" in text
    # entries measured together (same command, data, hardware, date) share one section
    other = {**RESULT, "recipe": "tiny_quaternion_mix", "notes": "n1"}
    text = results_markdown(load_results(write_results(tmp_path / "results.yaml", [RESULT, other, {**RESULT, "date": "2026-02-03"}])))
    assert text.count("## ") == 2 and "## 1. `tiny_sudoku4`, `tiny_quaternion_mix`" in text and "- tiny_quaternion_mix: n1" in text
    assert "No results recorded yet." in results_markdown([])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"recipe": "no_such_recipe"}, "not a shipped recipe"),
        ({"value": "high"}, r"results\[0\]\.value"),
        ({"extra": 1}, r"results\[0\]\.extra"),
        ({"std": -1.0}, r"results\[0\]\.std"),
    ],
)
def test_bad_results_entries_are_one_line_errors(tmp_path, change, message):
    path = write_results(tmp_path / "results.yaml", [{**RESULT, **change}])
    with pytest.raises(CatalogError, match=message) as exc:
        load_results(path)
    assert "\n" not in str(exc.value)


def test_results_yaml_must_hold_a_list(tmp_path):
    path = tmp_path / "results.yaml"
    path.write_text(textwrap.dedent("results: {recipe: x}\n"))
    with pytest.raises(CatalogError, match="'results:' list"):
        load_results(path)


def test_current_results_name_shipped_recipes_and_history_takes_the_rest(tmp_path):
    """results.yaml: current rows of shipped recipes; results_history.yaml: superseded rows and experiment recipes."""
    old = {**RESULT, "superseded": "re-measured"}
    experiment = {**RESULT, "recipe": "tom_quaternion"}  # experiments/controllers/tom_quaternion.yaml
    with pytest.raises(CatalogError, match=r"results\[0\] is superseded; move it to results_history.yaml"):
        load_results(write_results(tmp_path / "results.yaml", [old]))
    with pytest.raises(CatalogError, match=r"'tom_quaternion' is not a shipped recipe; .*an experiment recipe's rows go to results_history.yaml"):
        load_results(write_results(tmp_path / "results.yaml", [experiment]))
    assert len(load_results(write_results(tmp_path / "h.yaml", [old, experiment]), history=True)) == 2
    with pytest.raises(CatalogError, match=r"'nowhere' is neither a shipped recipe nor one of experiments/"):
        load_results(write_results(tmp_path / "h.yaml", [{**RESULT, "recipe": "nowhere"}]), history=True)
    page = results_markdown(load_results(write_results(tmp_path / "h.yaml", [old]), history=True), history=True)
    assert page.splitlines()[2] == "# Results history" and "[results.md](results.md)" in page
    assert "[results_history.md](results_history.md)" in results_markdown(load_results(write_results(tmp_path / "results.yaml", [RESULT])))


def test_record_results_is_the_one_writer(tmp_path):
    """Shipped recipes' rows go to results.yaml, experiment recipes' to the history; a re-measurement
    replaces in place, or with `supersede` keeps the old row, marked, in the history."""
    from hrmzoo.catalog.record import record_results

    (tmp_path / "results.yaml").write_text("# kept header\nresults: []\n")
    assert record_results([RESULT, {**RESULT, "recipe": "tom_none"}], tmp_path) == [str(tmp_path / "results.yaml"), str(tmp_path / "results_history.yaml")]
    assert (tmp_path / "results.yaml").read_text().startswith("# kept header\n")
    record_results([{**RESULT, "value": 50.0}], tmp_path)  # in place
    assert [r.value for r in load_results(tmp_path / "results.yaml")] == [50.0]
    record_results([{**RESULT, "value": 60.0}], tmp_path, supersede="re-run with more steps")
    assert [r.value for r in load_results(tmp_path / "results.yaml")] == [60.0]
    history = load_results(tmp_path / "results_history.yaml", history=True)
    assert [(r.recipe, r.value, r.superseded) for r in history] == [("tom_none", 41.25, ""), ("tiny_sudoku4", 50.0, "re-run with more steps")]
    with pytest.raises(CatalogError, match=r"row 0: recipe 'nowhere' is neither shipped nor in experiments/"):
        record_results([{**RESULT, "recipe": "nowhere"}], tmp_path)
    with pytest.raises(CatalogError, match=r"row 0: value: "):
        record_results([{**RESULT, "value": "high"}], tmp_path)
    with pytest.raises(CatalogError, match=r"results folder '.*nowhere' does not exist; pass the repository's registry/"):
        record_results([RESULT], tmp_path / "nowhere")  # one line, not the atomic writer's traceback


def test_retire_results_moves_rows_to_the_history_marked(tmp_path):
    """A row with no same-metric successor (a smoke figure) leaves results.yaml for the history, with its reason;
    an unknown key retires nothing."""
    from hrmzoo.catalog.record import record_results, retire_results

    (tmp_path / "results.yaml").write_text("# kept header\nresults: []\n")
    smoke = {**RESULT, "metric": "SMOKE exact_accuracy"}
    record_results([RESULT, smoke], tmp_path)
    with pytest.raises(CatalogError, match=r"no current row \(tiny_sudoku4, nope\)"):
        retire_results([("tiny_sudoku4", "SMOKE exact_accuracy"), ("tiny_sudoku4", "nope")], "measured", tmp_path)
    assert len(load_results(tmp_path / "results.yaml")) == 2  # nothing half-done
    retire_results([("tiny_sudoku4", "SMOKE exact_accuracy")], "the 3-seed measurement replaces it", tmp_path)
    assert [r.metric for r in load_results(tmp_path / "results.yaml")] == [RESULT["metric"]]
    assert (tmp_path / "results.yaml").read_text().startswith("# kept header\n")
    history = load_results(tmp_path / "results_history.yaml", history=True)
    assert [(r.metric, r.superseded) for r in history] == [("SMOKE exact_accuracy", "the 3-seed measurement replaces it")]
