"""What the notebooks show and check: every figure (`plots`), the explorers (`widgets`), the diagnostics
`dashboard`, the token inspector (`token_view`), runs broken on purpose (`failures`), the `capstone`, and the
auto-checked `exercises` with the implement-it checker. Imports anything below it, never `interop`.
"""
from . import capstone, dashboard, exercises, failures, plots, token_view, widgets

__all__ = ["capstone", "dashboard", "exercises", "failures", "plots", "token_view", "widgets"]
