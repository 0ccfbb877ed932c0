"""Notebooks run under pytest (nbval) on the CI preset: the same code, fewer and smaller PPO cycles."""
import os

os.environ.setdefault("PPO_LAB_PRESET", "ci")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# pytest-xdist: each worker, and each notebook kernel it starts (they inherit the environment), gets an equal share
# of the cores for torch's threads; two workers × two threads on two cores spin-wait each other (4× the CPU time)
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ["OMP_NUM_THREADS"] = str(max(1, _cores // _workers))
