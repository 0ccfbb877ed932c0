"""Shared fixtures: the bundled models, loaded once, copied per test so no test sees another's training."""
import atexit
import copy
import os
import shutil
import socket
import tempfile

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the run cache lives in a folder of this session only, which its pytest-xdist workers share (they inherit the
# variable from the process that made it, which removes it at the end): tests never read or fill ~/.cache
if "PPO_LAB_TEST_CACHE" not in os.environ:
    os.environ["PPO_LAB_TEST_CACHE"] = tempfile.mkdtemp(prefix="ppo_lab_test_cache_")
    atexit.register(shutil.rmtree, os.environ["PPO_LAB_TEST_CACHE"], ignore_errors=True)
os.environ["PPO_LAB_CACHE"] = os.environ["PPO_LAB_TEST_CACHE"]
torch.set_num_threads(min(2, torch.get_num_threads()))   # under xdist, the share conftest.py set


@pytest.fixture(scope="session")
def bundled():
    from ppo_lab.config import PPOConfig
    from ppo_lab.world.models import load_models
    return load_models(PPOConfig())


@pytest.fixture
def models(bundled):
    """A fresh copy of the bundled policy, reference and reward model for one test."""
    return copy.deepcopy(bundled)


@pytest.fixture
def no_network(monkeypatch):
    """Every socket creation raises: proves a code path never reaches for the network."""
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def assets_copy(tmp_path, monkeypatch):
    """A private copy of assets/ that a test may break."""
    from ppo_lab.world import assets as bundled

    copy_dir = tmp_path / "assets"
    shutil.copytree(bundled.ASSETS_DIR, copy_dir)
    monkeypatch.setattr(bundled, "ASSETS_DIR", str(copy_dir))
    return copy_dir


@pytest.fixture
def ctrl_c_at(monkeypatch):
    """`ctrl_c_at(n)`: the n-th PPO iteration from now raises KeyboardInterrupt; returns the list of calls."""
    from ppo_lab.rl import ppo as trainer

    def arm(n: int) -> list:
        real, calls = trainer.iteration, []

        def iteration(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        monkeypatch.setattr(trainer, "iteration", iteration)
        return calls
    return arm
