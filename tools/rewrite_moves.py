"""Rewrite references to the modules moved by issue 26 (MOVES.md) in every tracked text file.

Run in a checkout's root: `python tools/rewrite_moves.py`. Idempotent: a rewritten name no longer matches."""
import re, subprocess, sys
from pathlib import Path
ROOT = Path.cwd()
MOVES = [  # old module, new module (files: the dotted names as paths)
 ("hrmzoo.paths", "hrmzoo.common.paths"),
 ("hrmzoo.limits", "hrmzoo.common.limits"),
 ("hrmzoo.seeding", "hrmzoo.common.seeding"),
 ("hrmzoo.precision", "hrmzoo.common.precision"),
 ("hrmzoo.annotations", "hrmzoo.common.annotations"),
 ("hrmzoo.user_cache", "hrmzoo.common.user_cache"),
 ("hrmzoo.atomic", "hrmzoo.common.atomic"),
 ("hrmzoo.shipped", "hrmzoo.recipe.shipped"),
 ("hrmzoo.builder", "hrmzoo.recipe.build"),
 ("hrmzoo.recipe.migrate", "hrmzoo.recipe.old_forms"),
 ("hrmzoo.builtins", "hrmzoo.loading.builtins"),
 ("hrmzoo.plugins", "hrmzoo.loading.plugins"),
 ("hrmzoo.loop", "hrmzoo.model.segment_loop"),
 ("hrmzoo.sizes", "hrmzoo.model.wiring"),
 ("hrmzoo.sizing", "hrmzoo.model.parameter_count"),
 ("hrmzoo.checkpoint", "hrmzoo.persistence.checkpoint"),
 ("hrmzoo.generations", "hrmzoo.persistence.generations"),
 ("hrmzoo.migrations", "hrmzoo.persistence.formats"),
 ("hrmzoo.hub", "hrmzoo.persistence.hub"),
 ("hrmzoo.train.state", "hrmzoo.persistence.trainer_state"),
 ("hrmzoo.inference", "hrmzoo.evaluate.inference"),
 ("hrmzoo.precision_probe", "hrmzoo.train.precision_probe"),
]
#: files moved without a module name of their own (scripts, recipes): old path -> new path
FILE_MOVES = {
    **{f"benchmarks/{n}.py": f"benchmarks/speed/{n}.py" for n in (
        "bench_arc_eval", "bench_attention", "bench_chunks", "bench_datagen", "bench_eval", "bench_flops",
        "bench_memory", "bench_startup", "bench_throughput", "profile_step")},
    "benchmarks/isa_peak.py": "benchmarks/hardware/isa_peak.py",
    **{f"benchmarks/{n}": f"benchmarks/gpu/{n}" for n in ("gpu_check.py", "gpu_check.sh", "gpu_wheels.sh", "predict_gpu_step.py")},
    **{f"benchmarks/{n}": f"experiments/controllers/{n}" for n in ("ablate_controller.py", "ablate_tom.py", "trace_controller.py")},
    **{f"benchmarks/{n}": f"tools/{n}" for n in ("time_compare.py", "make_pretrained.py", "check_arc_original_layout.py")},
    **{f"{d}/{n}.yaml": f"experiments/controllers/{n}.yaml" for d in ("hrmzoo/recipes", "recipes") for n in (
        "tom_film", "tom_none", "tom_none_wide", "tom_quaternion", "tom_quaternion_empathy", "tom_quaternion_frame1",
        "tom_quaternion_headlr", "tom_quaternion_penalty", "tiny_quaternion_mix_film", "tiny_quaternion_mix_none")},
}
SAME_NAME = [("hrmzoo/model.py", "hrmzoo/model/__init__.py"), ("hrmzoo/catalog.py", "hrmzoo/catalog/__init__.py")]
def f(mod):
    return mod.replace(".", "/") + ".py"
files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
skip = {"tests/test_fidelity.py", "tests/test_interop.py", "tests/test_hrm_oracle.py", "MOVES.md", "tools/rewrite_moves.py"}
subs = []
for old, new in MOVES:
    subs.append((re.compile(r"(?<![\w.])" + re.escape(old) + r"(?![\w])"), new))
    subs.append((re.compile(r"(?<![\w/])" + re.escape(f(old)) ), f(new)))
    subs.append((re.compile(r"(?<![\w/])" + re.escape(old.replace(".", "/")) + r"(?![\w/.])"), new.replace(".", "/")))
for old, new in SAME_NAME:
    subs.append((re.compile(r"(?<![\w/])" + re.escape(old)), new))
for old, new in FILE_MOVES.items():
    subs.append((re.compile(r"(?<![\w/])" + re.escape(old) + r"(?![\w])"), new))
# `from hrmzoo import X` / `from hrmzoo.train import state` forms
for old, new in MOVES:
    parent, _, name = old.rpartition("."); nparent, _, nname = new.rpartition(".")
    alias = "" if name == nname else f" as {name}"
    subs.append((re.compile(rf"from {re.escape(parent)} import {name} as "), f"from {nparent} import {nname} as "))
    subs.append((re.compile(rf"from {re.escape(parent)} import {name}$", re.M), f"from {nparent} import {nname}{alias}"))
changed = []
for p in files:
    path = ROOT / p
    if p in skip or path.is_symlink() or not path.is_file() or path.suffix in (".safetensors", ".png", ".json") and "registry" not in p:
        continue
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        continue
    new = text
    for rx, rep in subs:
        new = rx.sub(rep, new)
    if new != text:
        path.write_text(new, encoding="utf-8"); changed.append(p)
print(len(changed), "files rewritten")
