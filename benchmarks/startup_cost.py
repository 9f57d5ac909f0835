"""Start-up cost of ``tradeassist --version`` and ``tradeassist validate config/config.yaml``.

Each command runs as a fresh process; its CPU (user + system, from ``RUSAGE_CHILDREN``)
and wall time are taken per run, and the median of the runs is printed.  CPU is the figure
to compare on a busy machine: wall time also counts the waits for a core.

With ``--base DIR`` (another checkout of the project, e.g. the code before a change), the
same commands run from both trees in turn, alternating, so both see the same machine load:

    python benchmarks/startup_cost.py --runs 7 --base ../base

Both trees' bytecode is compiled first, as an installed copy has it (see ``run.py``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "--version": ["--version"],
    "validate": ["validate", "config/config.yaml"],
}
#: The tree's console script (``[project.scripts]``): ``entry:main``, or ``cli:main`` in a tree from before it
#: (chosen by file: an editable install would serve this tree's ``entry`` module to another tree's package).
_RUN = "import sys; from tradeassist_runner.{} import main; sys.exit(main())"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(tree: Path, args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run of the command from ``tree``'s code, in ``tree`` (``-c`` imports from there)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cpu, wall = _children_cpu(), time.perf_counter()
    module = "entry" if (tree / "tradeassist_runner" / "entry.py").exists() else "cli"
    subprocess.run([sys.executable, "-c", _RUN.format(module), *args], env=env, check=True, cwd=tree,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - wall, _children_cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of each command per tree (alternated)")
    ap.add_argument("--base", type=Path, help="another checkout to compare with, run in turn with this one")
    args = ap.parse_args()
    trees = {"this": ROOT} | ({"base": args.base.resolve()} if args.base else {})
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "tradeassist_runner")], check=True,
                       stdout=subprocess.DEVNULL)
    for name, cmd in COMMANDS.items():
        walls: dict[str, list[float]] = {t: [] for t in trees}
        cpus: dict[str, list[float]] = {t: [] for t in trees}
        for i in range(args.runs):
            order = list(trees) if i % 2 == 0 else list(reversed(trees))
            for label in order:
                wall, cpu = timed(trees[label], cmd)
                walls[label].append(wall)
                cpus[label].append(cpu)
        for label in trees:
            print(f"{name:10s} {label:5s} wall {statistics.median(walls[label]) * 1000:6.0f} ms   "
                  f"CPU {statistics.median(cpus[label]) * 1000:6.0f} ms   (median of {args.runs}; CPU runs: "
                  f"{', '.join(f'{c * 1000:.0f}' for c in cpus[label])})")


if __name__ == "__main__":
    main()
