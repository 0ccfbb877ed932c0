"""Notebooks run under pytest (nbval) on the CI preset: the same code, fewer and smaller PPO cycles."""
import os

os.environ.setdefault("PPO_LAB_PRESET", "ci")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
