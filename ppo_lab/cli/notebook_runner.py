"""Execute the course notebooks headlessly, one kernel each: what `python -m ppo_lab warm-cache` runs to
pre-fill the run cache before a class (the kernels inherit PPO_LAB_PRESET and PPO_LAB_CACHE)."""
from __future__ import annotations

import glob
import os
import signal
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ..config import ConfigError

NOTEBOOKS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "notebooks")


def find_notebooks(spec: str) -> list[str]:
    """"all", or comma-separated numbers ("04,03") or paths to .ipynb files."""
    available = sorted(glob.glob(os.path.join(NOTEBOOKS_DIR, "[0-9][0-9]_*.ipynb")))
    names = ", ".join(os.path.basename(p)[:2] for p in available)
    if spec.strip() == "all":
        return available
    found = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        match = [token] if token.endswith(".ipynb") and os.path.isfile(token) else \
            [p for p in available if os.path.basename(p).startswith(token + "_")]
        if not match:
            raise ConfigError(f"--notebooks: {token!r} matches no notebook; valid: all, or some of {names} "
                              "(comma-separated), or paths to .ipynb files")
        found += match
    if not found:
        raise ConfigError(f"--notebooks {spec!r} selects no notebook; valid: all, or some of {names} "
                          "(comma-separated), or paths to .ipynb files, e.g. --notebooks 03,04")
    return found


def last_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[-1] if lines else type(error).__name__)[:300]


def run_notebook(path: str) -> str | None:
    """Execute one notebook headlessly; None when it ran, else why it failed."""

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 — invalid JSON, not a notebook, unreadable file…
        return f"not a readable notebook ({type(e).__name__}: {last_line(e)}); fix or remove the file"
    client = NotebookClient(nb, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum) or
                             signal.default_int_handler(signum, frame))
    try:
        client.execute()
    except CellExecutionError as e:
        if interrupted:                   # Ctrl-C reached the kernel too: it is the user's stop, not a failure
            raise KeyboardInterrupt from None
        return last_line(e)
    except Exception as e:  # noqa: BLE001 — a malformed cell, a dead kernel: this notebook fails, the rest run
        if interrupted:
            raise KeyboardInterrupt from None
        return f"{type(e).__name__}: {last_line(e)}"
    finally:
        signal.signal(signal.SIGINT, previous)
    return None


def run_notebooks(notebooks: list[str], preset: str, folder: str) -> int:
    """Run each notebook with PPO_LAB_PRESET and PPO_LAB_CACHE set (the caller's env restored); failures."""
    failed = 0
    saved = {k: os.environ.get(k) for k in ("PPO_LAB_PRESET", "PPO_LAB_CACHE")}
    os.environ.update(PPO_LAB_PRESET=preset, PPO_LAB_CACHE=folder)  # the kernels inherit these
    try:
        for path in notebooks:
            t0, name = time.perf_counter(), os.path.basename(path)
            problem = run_notebook(path)
            if problem is None:
                print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
            else:
                failed += 1
                print(f"{name}: FAILED after {time.perf_counter() - t0:.0f} s: {problem}", file=sys.stderr, flush=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return failed


__all__ = ["find_notebooks", "last_line", "NOTEBOOKS_DIR", "run_notebook", "run_notebooks"]
