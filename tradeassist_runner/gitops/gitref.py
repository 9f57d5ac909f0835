"""A path as it is at a Git ref, through a temporary worktree (``tradeassist diff --git-ref``).

A worktree rather than ``git show`` file by file: a config names its rules folder by a
relative path, and rule files may come and go, so the whole tree at the ref is what
has to be read. The worktree is removed again however the diff ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class GitError(Exception):
    """Git is missing, the path is not in a repository, or the ref does not exist."""


def _git(*args: str, cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (needed for --git-ref)") from None
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


@contextmanager
def at_ref(path: Path, ref: str) -> Iterator[Path]:
    """Yield where ``path`` (a file or folder in a Git work tree) is in a checkout of ``ref``."""
    absolute = Path(os.path.realpath(path.absolute()))
    probe = absolute if absolute.is_dir() else absolute.parent
    while not probe.exists():  # the path may be new in the working tree
        probe = probe.parent
    top = Path(os.path.realpath(_git("rev-parse", "--show-toplevel", cwd=probe)))
    relative = absolute.relative_to(top)
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top)
    except GitError:
        raise GitError(f"unknown Git ref {ref!r} in {top}") from None
    tmp = Path(tempfile.mkdtemp(prefix="tradeassist-ref-"))
    tree = tmp / "tree"
    _git("worktree", "add", "--detach", "--quiet", str(tree), commit, cwd=top)
    try:
        yield tree / relative
    finally:
        try:
            _git("worktree", "remove", "--force", str(tree), cwd=top)
        except GitError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _git("worktree", "prune", cwd=top)
        except GitError:
            pass
