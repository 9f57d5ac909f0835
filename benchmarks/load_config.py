"""How long ``load_config`` takes on 10,000 rules (the validation part of a reload).

    python benchmarks/load_config.py                 # fast path: cold, unchanged, one file edited
    python benchmarks/load_config.py --reference     # also the round-trip reference (~15 s a load)
    python benchmarks/load_config.py --runs 9

The rules are ``workloads.rule_mix`` (12 shipped instruments, seed 11), written once as
one file of 10,000 rules and once as ten files of 1,000, under
``benchmarks/out/load-config/``.  Figures (min and median of ``--runs`` loads, each in
this process):

- cold: the rules-file cache emptied first (a first load, or every file changed);
- unchanged: a reload with nothing changed (every file served from the cache);
- one file edited: a reload after rewriting one file of ten (its first cooldown changed);
- reference: ``load_config(fast=False)``, ruamel's round-trip parse (``--reference``, once).

``benchmarks/run.py --only reload`` times the whole reload (load + compile + swap).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402
from tradeassist_runner.config.loader import RulesFileCache, load_config  # noqa: E402

SEED = 11
N_RULES = 10_000


def write_sets(out: Path) -> dict[str, Path]:
    """``one/`` (1 file x 10,000 rules) and ``ten/`` (10 files x 1,000), with their configs."""
    insts = workloads.instruments(12)
    ticks = workloads.tick_file(out.parent / "workloads", 12, 20_000, SEED)
    body = workloads.rule_mix(insts, N_RULES, workloads.price_bounds(ticks), SEED)[1:]
    starts = [i for i, line in enumerate(body) if line.startswith("  - id:")]
    configs = {}
    for name, n_files in (("one", 1), ("ten", 10)):
        folder = out / name
        rules_dir = folder / "rules.d"
        rules_dir.mkdir(parents=True, exist_ok=True)
        per = len(starts) // n_files
        for k in range(n_files):
            a = starts[k * per]
            b = starts[(k + 1) * per] if k + 1 < n_files else len(body)
            (rules_dir / f"bench{k:02d}.yaml").write_text("rules:\n" + "\n".join(body[a:b]) + "\n")
        (folder / "config.yaml").write_text(workloads.config_text(insts))
        configs[name] = folder / "config.yaml"
    return configs


def timed(fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def show(label: str, times: list[float]) -> None:
    print(f"{label:<34} min {min(times) * 1000:7.0f} ms   median {statistics.median(times) * 1000:7.0f} ms"
          f"   ({len(times)} runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--reference", action="store_true", help="also time load_config(fast=False) once per set")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "load-config")
    args = ap.parse_args()
    configs = write_sets(args.out)
    load_config(configs["one"])  # imports, first-use costs

    for name, config in configs.items():
        cache = RulesFileCache()  # as a runner keeps one for its reloads
        assert len(load_config(config, cache=cache).rules) == N_RULES
        cold = []
        for _ in range(args.runs):
            cache.clear()
            cold.append(timed(lambda: load_config(config, cache=cache)))
        show(f"{name}: cold", cold)
        show(f"{name}: unchanged", [timed(lambda: load_config(config, cache=cache)) for _ in range(args.runs)])
        if name == "ten":
            victim = sorted((config.parent / "rules.d").glob("*.yaml"))[4]
            original = victim.read_text()
            edited = []
            try:
                for i in range(args.runs):
                    load_config(config, cache=cache)
                    text = re.sub(r"(?m)^    cooldown: .*$", f"    cooldown: {i + 2}s", original, count=1)
                    victim.write_text(text)
                    edited.append(timed(lambda: load_config(config, cache=cache)))
            finally:
                victim.write_text(original)
            show(f"{name}: one file of ten edited", edited)
        if args.reference:
            show(f"{name}: reference (fast=False)", [timed(lambda: load_config(config, fast=False))])


if __name__ == "__main__":
    main()
