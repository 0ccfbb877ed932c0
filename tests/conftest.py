"""Shared fixtures: the bundled models, loaded once, copied per test so no test sees another's training."""
import copy
import os
import socket

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def bundled():
    from ppo_lab.config import PPOConfig
    from ppo_lab.models import load_models
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
