"""The documentation: runnable snippets run, generated pages cover the registry.

A fenced block is *runnable* when the line before it is ``<!-- runnable -->``.
Python blocks run in a fresh namespace in a temporary directory; ``bash``
blocks run with ``bash -eo pipefail`` there. A runnable block may be followed
by a block marked ``<!-- output -->`` (any block may: the plugin test checks
one that needs an installed plugin): each of its lines must appear, in order,
in what the snippet printed; a line ``...`` skips any number of lines and a
line ending in ``...`` matches as a prefix.

The site build itself (``mkdocs build --strict``) is marked slow: CI runs it
as its own step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from hrmzoo import registry
from hrmzoo.common.annotations import union_members
from hrmzoo.loading.plugins import load_components
from hrmzoo.registry import ComponentConfig, register

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKER = "<!-- runnable -->"
OUTPUT_MARKER = "<!-- output -->"
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>.*)$")


@dataclass
class Snippet:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    title: str
    code: str
    runnable: bool
    output: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(DOCS)}:{self.line}"


def parse_snippets(path: Path) -> list[Snippet]:
    """Every fenced block of a Markdown file, with its marker and expected output."""
    lines = path.read_text().splitlines()
    out: list[Snippet] = []
    pending: str | None = None  # the marker seen on the previous non-blank line
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        m = _FENCE.match(lines[i])
        if m:
            indent, fence, info = m.group("indent"), m.group("fence"), m.group("info")
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            lang = info.split()[0] if info.split() else ""
            title = re.search(r'title="([^"]*)"', info)
            snippet = Snippet(path, i - len(body), lang, title.group(1) if title else "", "\n".join(body) + "\n", pending == MARKER)
            if pending == OUTPUT_MARKER:
                if not out:
                    raise AssertionError(f"{path}:{snippet.line}: an output block must follow the block it shows")
                out[-1].output = snippet.code
            else:
                out.append(snippet)
            pending = None
        elif stripped in (MARKER, OUTPUT_MARKER):
            pending = stripped
        elif stripped:
            if pending is not None:
                raise AssertionError(f"{path}:{i + 1}: '{pending}' must be followed by a fenced block")
        i += 1
    if pending is not None:
        raise AssertionError(f"{path}: '{pending}' at the end of the file marks nothing")
    return out


def all_snippets() -> list[Snippet]:
    return [s for p in sorted(DOCS.rglob("*.md")) for s in parse_snippets(p)]


RUNNABLE = [s for s in all_snippets() if s.runnable]


def _line_matches(want: str, got: str) -> bool:
    """Equal, or for a documented line ending in ``...``, a prefix."""
    return got.startswith(want[:-3]) if want.endswith("...") else got == want


def check_output(expected: str, actual: str, where: str) -> None:
    """Each expected line must appear in order (``...`` alone skips lines; ``text...`` is a prefix)."""
    got = [line.rstrip() for line in actual.splitlines()]
    pos = 0
    for want in (line.rstrip() for line in expected.splitlines()):
        if want in ("", "..."):
            continue
        while pos < len(got) and not _line_matches(want, got[pos]):
            pos += 1
        assert pos < len(got), f"{where}: documented output line not printed (in order): {want!r}\n--- printed:\n{actual}"
        pos += 1


@contextlib.contextmanager
def registry_restored():
    """Undo what a snippet registered (and its thread setting), so snippets cannot leak into other tests."""
    load_components()  # the registry is passive: load the built-ins before the snapshot
    before = {kind: set(reg._entries) for kind, reg in registry.REGISTRIES.items()}
    threads = torch.get_num_threads()  # a snippet may set train.threads; keep the suite's setting
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for kind, reg in registry.REGISTRIES.items():
            for name in set(reg._entries) - before[kind]:
                reg.remove(name)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def _bash(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a shell snippet; stderr is merged into stdout so documented output keeps its order."""
    return subprocess.run(["bash", "-eo", "pipefail", "-c", code], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


def test_docs_have_runnable_snippets():
    # guards the parser: if it silently found nothing, every snippet test would vanish
    langs = {s.lang for s in RUNNABLE}
    assert len(RUNNABLE) >= 8 and {"python", "bash"} <= langs, [s.id for s in RUNNABLE]
    assert all(s.lang in ("python", "bash") for s in RUNNABLE), [(s.id, s.lang) for s in RUNNABLE if s.lang not in ("python", "bash")]


def test_parser_reads_markers_and_outputs(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent("""\
        <!-- runnable -->
        ```python
        print("hi")
        ```

        <!-- output -->
        ```text
        hi
        ```

        ```python title="not run"
        raise SystemExit
        ```
        """))
    first, second = parse_snippets(page)
    assert first.runnable and first.code == 'print("hi")\n' and first.output == "hi\n"
    assert not second.runnable and second.title == "not run"
    with pytest.raises(AssertionError):
        check_output("hi\nho\n", "hi\n", "x")
    check_output("a\n...\nc\n", "a\nb\nc\n", "x")
    check_output("run on cache/...\n", "x\nrun on cache/sudoku-1\n", "x")
    with pytest.raises(AssertionError):
        check_output("run on data/...\n", "run on cache/sudoku-1\n", "x")
    (tmp_path / "bad.md").write_text("<!-- runnable -->\ntext\n")
    with pytest.raises(AssertionError, match="must be followed"):
        parse_snippets(tmp_path / "bad.md")


@pytest.mark.parametrize("snippet", RUNNABLE, ids=[s.id for s in RUNNABLE])
def test_runnable_snippet(snippet: Snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if snippet.lang == "python":
        buf = io.StringIO()
        with registry_restored(), contextlib.redirect_stdout(buf):
            exec(compile(snippet.code, snippet.id, "exec"), {"__name__": "__docs__"})
        printed = buf.getvalue()
    else:
        proc = _bash(snippet.code, tmp_path, _env())
        assert proc.returncode == 0, f"{snippet.id}: exit {proc.returncode}\n{proc.stdout}"
        printed = proc.stdout
    if snippet.output is not None:
        check_output(snippet.output, printed, snippet.id)


# ------------------------------------------------------------------ generated pages

def _load_generator():
    spec = importlib.util.spec_from_file_location("hrmzoo_docs_gen_pages", DOCS / "hooks" / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load_generator()


@pytest.mark.parametrize("kind", registry.KINDS)
def test_component_page_lists_every_member(gen, kind):
    page = gen.component_page(kind)
    for entry in registry.REGISTRIES[kind].entries():
        assert f"\n## {entry.name}\n" in page, f"{kind} '{entry.name}' missing from its catalogue page"
        assert f"::: {entry.module}.{entry.cls.__qualname__}\n" in page  # catalogue and API on one page
        for field in entry.config.model_fields:
            if field != "type":
                assert f"| `{field}` |" in page, f"{kind} '{entry.name}': field '{field}' missing"
    index = gen.components_index()
    assert all(f"`{name}`" in index for name in registry.REGISTRIES[kind].names())


class _DocTestConfig(ComponentConfig):
    """Test config.

    Attributes:
        width: a documented field, multi-line
            description continues here.
    """

    width: int = 7


def test_component_registered_later_appears(gen):
    @register("injection", "zz_docs_probe", config=_DocTestConfig)
    class _Probe:
        """Probe injection for the docs test."""

    try:
        page = gen.component_page("injection")
        assert "\n## zz_docs_probe\n" in page
        assert "| `width` | int | `7` |  | a documented field, multi-line description continues here. |" in page
        assert "injection: {type: zz_docs_probe, width: 7}" in page
        assert "zz_docs_probe" in gen.recipe_reference()
    finally:
        registry.REGISTRIES["injection"].remove("zz_docs_probe")
    assert "zz_docs_probe" not in gen.component_page("injection")


def test_recipe_reference_covers_every_field(gen):
    from hrmzoo.recipe import recipe_class
    from hrmzoo.recipe.schema import COMPONENT_SLOTS

    page = gen.recipe_reference()
    recipe = recipe_class()
    model_cls = recipe.model_fields["model"].annotation
    for section in (recipe, model_cls, recipe.model_fields["train"].annotation):
        for name in section.model_fields:
            if name in ("model", "data", "train"):
                continue
            assert f"`{name}`" in page, f"recipe field '{name}' missing from the reference"
    for slot in COMPONENT_SLOTS:
        assert f"| `{slot}` |" in page
    for name in union_members(recipe.model_fields["data"].annotation):
        for field in getattr(name, "model_fields", {}):
            assert f"`{field}`" in page, f"data field '{field}' missing"


def test_shipped_recipes_page_counts_parameters(gen):
    from hrmzoo import build_model
    from hrmzoo.recipe import shipped_recipes

    page = gen.shipped_recipes_page()
    for name in shipped_recipes():
        assert f"\n## {name}\n" in page
    n = build_model("tiny_sudoku4").num_parameters()  # the meta-device count must match a real build
    assert f"| [`tiny_sudoku4`](#tiny_sudoku4) | {n:,} |" in page


def test_results_page_includes_checked_in_tables(gen):
    page = gen.results_page()
    for rel, _ in gen.RESULT_FILES:
        path = ROOT / rel
        if path.is_file():
            lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
            assert all(line in page for line in lines), f"{rel}: a table row is missing from results.md"


def test_nav_pages_exist(gen):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    generated = set(gen.page_builders())

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    pages = list(walk(config["nav"]))
    assert pages
    missing = [p for p in pages if p not in generated and not (DOCS / p).is_file()]
    assert not missing, f"nav entries with no page: {missing}"


# ------------------------------------------------------------------ the plugin example

def _guide_block(title: str) -> str:
    blocks = [s for s in parse_snippets(DOCS / "guides" / "adding-a-component.md") if s.title == title]
    assert len(blocks) == 1, f"adding-a-component.md must have one block titled {title!r}"
    return blocks[0].code


def test_plugin_example_installs_through_entry_point(tmp_path):
    """The guide's pyproject + module, installed as a distribution, register via the entry point."""
    pyproject = tomllib.loads(_guide_block("pyproject.toml"))
    project = pyproject["project"]
    eps = project["entry-points"]["hrmzoo.components"]
    module_path = next(t for t in (s.title for s in parse_snippets(DOCS / "guides" / "adding-a-component.md")) if t.startswith("src/") and t.endswith(".py"))
    target = tmp_path / "site" / Path(module_path).relative_to("src")
    target.parent.mkdir(parents=True)
    target.write_text(_guide_block(module_path))
    dist = tmp_path / "site" / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (dist / "entry_points.txt").write_text("[hrmzoo.components]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    env = _env()
    env["PYTHONPATH"] = f"{tmp_path / 'site'}{os.pathsep}{env['PYTHONPATH']}"
    for snippet in parse_snippets(DOCS / "guides" / "adding-a-component.md"):
        if snippet.title == "after installing":
            proc = _bash(snippet.code, tmp_path, env)
            assert proc.returncode == 0, f"{snippet.id}:\n{proc.stdout}"
            if snippet.output is not None:
                check_output(snippet.output, proc.stdout, snippet.id)
            break
    else:
        pytest.fail("adding-a-component.md has no block titled 'after installing'")


def test_plugin_module_example_builds_and_trains(tmp_path):
    """"One file + one decorator": the guide's block and halting policy, registered from a plugin
    module named in a recipe's `imports:`, build into a model and train two steps."""
    for name in ("my_components.py", "my_recipe.yaml"):
        (tmp_path / name).write_text(_guide_block(name))
    code = _guide_block("build with the plugin")
    proc = _bash(code, tmp_path, _env())
    assert proc.returncode == 0, proc.stdout
    snippet = next(s for s in parse_snippets(DOCS / "guides" / "adding-a-component.md") if s.title == "build with the plugin")
    assert snippet.output is not None, "the guide must show what the build prints"
    check_output(snippet.output, proc.stdout, snippet.id)
    # the guide's classes are what the model is made of, not a built-in under another name
    assert re.search(r"l_block\s+residual_mlp", proc.stdout) and re.search(r"halting\s+confidence", proc.stdout)


# ------------------------------------------------------------------ the site build

@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env={**_env(), "NO_MKDOCS_2_WARNING": "1"}, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "site" / "components" / "block" / "index.html").is_file()


def test_schedule_diagrams_are_generated(gen):
    import xml.etree.ElementTree as ET

    pages = gen.page_builders()
    page = pages["schedules.md"]()
    stems = [stem for stem, *_ in gen.schedule_diagrams()]
    assert {"hrm", "trm", "flat", "quaternion"} <= set(stems)
    for stem in stems:
        assert f"(schedules/{stem}.svg)" in page
        root = ET.fromstring(pages[f"schedules/{stem}.svg"]())
        assert root.tag.endswith("svg")
    for name in gen._registry().REGISTRIES["gradient"].names():
        assert f"[`{name}`]" in page
