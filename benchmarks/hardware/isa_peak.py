"""Instruction-level peak of one CPU core: fp32 FMA against the bf16 dot-product instruction.

The bf16 target (a bf16 step at least 2x the fp32 one) assumes the CPU does bf16
arithmetic at least twice as fast as fp32. Whether it does is a property of the
chip, not of torch: AVX-512 BF16's `vdpbf16ps` does twice the FLOPs of an fp32
`vfmadd231ps` per instruction, but some cores issue it on fewer ports. This script
measures both instructions' throughput directly: it compiles a loop of
independent, register-only instructions with the system C compiler (`$CC`, else
`cc`), runs it on this core, and prints GFLOP/s for each and their ratio: the
ceiling on any bf16/fp32 speed-up of compute-bound work on this CPU (AMX tiles,
where present, are a separate unit and are not measured here).

    python benchmarks/hardware/isa_peak.py [--seconds 0.5] [--rounds 3]

Prints a table and one `JSON: {...}` line. Exits 0 with `"skipped"` in the JSON
when the CPU is not x86-64, lacks AVX-512F, or no C compiler is found.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHAINS = 24  # independent accumulators: more than latency x ports for both instructions

# FLOPs per instruction on 512-bit registers: 16 fp32 lanes x (multiply + add);
# vdpbf16ps: 16 fp32 lanes x 2 bf16 pairs x (multiply + add).
FLOPS_PER_INSTRUCTION = {"fp32_fma": 32, "bf16_dot": 64}
MNEMONIC = {"fp32_fma": "vfmadd231ps", "bf16_dot": "vdpbf16ps"}

_C_TEMPLATE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double cpu_now(void) {
  struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9;
}
/* zmm30/zmm31 hold zeros: the values never change, so no denormal or overflow slows a lane */
#define LOOP(BODY) __asm__ volatile("vpxord %%zmm30,%%zmm30,%%zmm30\n\tvpxord %%zmm31,%%zmm31,%%zmm31\n1:\n\t" \
    BODY "dec %0\n\tjnz 1b" : "+r"(n) :: CLOBBERS)
static double run_fp32_fma(long n) { double t = cpu_now(); LOOP(FMA_BODY); return cpu_now() - t; }
@BF16_FUNC@
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  printf("fp32_fma %.9f\n", run_fp32_fma(n));
  @BF16_CALL@
  return 0;
}
"""


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (None where they cannot be read, e.g. off Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def c_source(with_bf16: bool) -> str:
    def body(name: str) -> str:
        return " ".join(f'"{MNEMONIC[name]} %%zmm30,%%zmm31,%%zmm{j}\\n\\t"' for j in range(CHAINS))

    clobbers = ", ".join(f'"xmm{j}"' for j in range(CHAINS)) + ', "xmm30", "xmm31", "cc"'
    src = _C_TEMPLATE.replace("CLOBBERS", clobbers).replace("FMA_BODY", body("fp32_fma"))
    if with_bf16:
        src = src.replace("@BF16_FUNC@", "static double run_bf16_dot(long n) { double t = cpu_now(); LOOP(BF16_BODY); return cpu_now() - t; }")
        src = src.replace("BF16_BODY", body("bf16_dot"))
        src = src.replace("@BF16_CALL@", 'printf("bf16_dot %.9f\\n", run_bf16_dot(n));')
    else:
        src = src.replace("@BF16_FUNC@", "").replace("@BF16_CALL@", "")
    return src


def compile_probe(workdir: Path, with_bf16: bool) -> Path:
    cc = shlex.split(os.environ.get("CC", "")) or [shutil.which("cc") or shutil.which("gcc") or shutil.which("clang") or ""]
    if not cc[0] or not shutil.which(cc[0]):
        raise FileNotFoundError(f"no C compiler{' ' + repr(cc[0]) if cc[0] else ''} (set CC or install gcc/clang)")
    src, exe = workdir / "isa_peak.c", workdir / "isa_peak"
    src.write_text(c_source(with_bf16))
    flags = ["-O2", "-mavx512f"] + (["-mavx512bf16"] if with_bf16 else [])
    done = subprocess.run([*cc, *flags, str(src), "-o", str(exe)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{cc[0]} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return exe


def run_probe(exe: Path, iterations: int) -> dict[str, float]:
    """Seconds of CPU time per instruction kind for `iterations` loop trips."""
    done = subprocess.run([str(exe), str(iterations)], capture_output=True, text=True)
    if done.returncode != 0:  # e.g. SIGILL: the flags promised an instruction the core refuses
        raise RuntimeError(f"the probe exited with status {done.returncode}")
    return {name: float(sec) for name, sec in (line.split() for line in done.stdout.strip().splitlines())}


def gflops(name: str, iterations: int, seconds: float) -> float:
    return iterations * CHAINS * FLOPS_PER_INSTRUCTION[name] / seconds / 1e9


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=0.5, help="target CPU time per instruction kind and round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        p.error("--rounds must be >= 1 and --seconds > 0")

    flags = cpu_flags()
    record: dict[str, object] = {"bench": "isa_peak", "machine": platform.machine(),
                                 "cpu_flags": sorted((flags or set()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})}
    skip = None
    if platform.machine() not in ("x86_64", "AMD64"):
        skip = f"not x86-64 ({platform.machine()})"
    elif flags is None:
        skip = "cannot read the CPU flags (/proc/cpuinfo), so cannot tell whether AVX-512F is there"
    elif "avx512f" not in flags:
        skip = "no AVX-512F on this CPU (the probe uses 512-bit registers)"
    if skip is None:
        with_bf16 = "avx512_bf16" in flags
        with tempfile.TemporaryDirectory() as tmp:
            try:
                try:
                    exe = compile_probe(Path(tmp), with_bf16)
                except RuntimeError:
                    if not with_bf16:
                        raise
                    with_bf16 = False  # a compiler without -mavx512bf16 still measures fp32
                    record["bf16_note"] = "the compiler rejected -mavx512bf16: bf16 not measured"
                    exe = compile_probe(Path(tmp), with_bf16)
                # calibrate: one short run sets the trip count for --seconds per kind
                trial = 1_000_000
                first = run_probe(exe, trial)
                iterations = max(trial, int(trial * args.seconds / max(first["fp32_fma"], 1e-6)))
                rounds = [run_probe(exe, iterations) for _ in range(args.rounds)]
            except (FileNotFoundError, RuntimeError) as err:
                skip = f"cannot build or run the probe: {err}"
        if skip is None:
            rates = {name: [gflops(name, iterations, r[name]) for r in rounds] for name in rounds[0]}
            record["gflops"] = {name: statistics.median(v) for name, v in rates.items()}
            record["gflops_per_round"] = rates
            record["iterations"] = iterations
            rows = [[f"fp32 {MNEMONIC['fp32_fma']} zmm", f"{record['gflops']['fp32_fma']:.1f} GFLOP/s"]]
            if with_bf16:
                ratio = record["gflops"]["bf16_dot"] / record["gflops"]["fp32_fma"]
                record["bf16_over_fp32"] = ratio
                rows += [[f"bf16 {MNEMONIC['bf16_dot']} zmm", f"{record['gflops']['bf16_dot']:.1f} GFLOP/s"],
                         ["bf16 / fp32 instruction peak", f"{ratio:.2f}x  (ceiling on a bf16 speed-up of compute-bound work)"]]
            else:
                rows.append(["bf16", record.get("bf16_note", "no avx512_bf16: not measured")])
            if flags & {"amx_bf16", "amx_tile"}:
                rows.append(["AMX", "present; its tiles are a separate unit, not measured here"])
            width = max(len(r[0]) for r in rows)
            print(f"isa_peak: one core, {args.rounds} rounds, median, {CHAINS} independent chains")
            for name, value in rows:
                print(f"{name.ljust(width)}  {value}")
    if skip is not None:
        record["skipped"] = skip
        print(f"isa_peak: skipped: {skip}")
    print("JSON: " + json.dumps(record, sort_keys=True))
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
