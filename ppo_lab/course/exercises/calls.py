"""Calling a learner's function: a time limit on every call, and the `Verdict` a checker returns.

Shared by `impl` (`check_impl`), `exercises` (`check`) and `capstone` (`check_iteration`).
"""
from __future__ import annotations

import signal
import sys
import threading
import time

import torch

TIME_LIMIT_S = 10.0   # seconds `check`, `check_impl` and `use_impl` wait for one call of a learner's function
REPEAT_S = 0.05       # past the limit, TimeUp is raised again this often until the function has stopped


class TimeUp(BaseException):
    """A learner's function ran past the time limit. A BaseException, so that an `except Exception:` in the
    learner's own loop cannot swallow it. `running`: the function could not be stopped and still runs."""

    def __init__(self, limit: float = TIME_LIMIT_S, running: bool = False, every_line: bool = False):
        super().__init__(limit)
        self.limit, self.running, self.every_line = limit, running, every_line

    def message(self) -> str:
        how = ("check stopped it: past the limit it is interrupted again at the next line it runs, in an `except` "
               "too, so a loop that catches BaseException ends as well" if self.every_line else "check stopped waiting")
        text = f"your function did not return within {self.limit:g} s: is there an infinite loop? ({how})"
        return text + (" It is still running in the background: restart the kernel to stop it."
                       if self.running else "")


def call_with_limit(fn, args: tuple, limit: float | None):
    """fn(*args), or raise TimeUp when it has not returned within `limit` seconds (None: no limit).

    On the main thread of a Unix Python (Jupyter runs cells there) a SIGALRM timer (`signal.setitimer`)
    interrupts the function, and goes on every REPEAT_S seconds until it has returned or raised: a TimeUp on every
    other ring (it ends a long call such as a sleep) and, on each, one at the next line the learner's code runs
    (`_interrupt_every_line`), which escapes an `except` block: loops that catch BaseException, nested ones too, end.
    The previous SIGALRM handler and timer are put back afterwards (a timer
    already running, pytest-timeout's say, cannot fire during the call: it fires when the call ends if it
    was due). Elsewhere (Windows, or a thread other than the main one) the function runs in a worker thread
    that is waited for `limit` seconds; then CPython is asked to stop it (`PyThreadState_SetAsyncExc`: a
    pure-Python loop stops, one long C call does not), and TimeUp says whether it still runs.
    """
    if limit is None:
        return fn(*args)
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        return _call_with_alarm(fn, args, limit)
    return _call_in_thread(fn, args, limit)


def _interrupt_every_line(frame, limit: float) -> None:
    """Raise TimeUp at the next line the learner's code runs, in `frame` or any frame it calls: one raised in an
    `except` block escapes that block's own `try`. (A tracer that raises is switched off: the alarm puts it back.)"""
    def tracer(f, event, arg):
        if event == "line" and f.f_code.co_filename != __file__:
            raise TimeUp(limit, every_line=True)
        return tracer
    sys.settrace(tracer)
    while frame is not None and frame.f_code.co_filename != __file__:
        frame.f_trace = tracer
        frame = frame.f_back


def _call_with_alarm(fn, args: tuple, limit: float):
    rings = []

    def ring(signum, frame):      # every REPEAT_S past the limit: a TimeUp now (it ends a call like sleep) on every
        rings.append(signum)      # other ring, and one at the next line run (it escapes an `except`) on each
        _interrupt_every_line(frame, limit)
        if len(rings) % 2:
            raise TimeUp(limit, every_line=True)

    previous, tracing = signal.signal(signal.SIGALRM, ring), sys.gettrace()   # a debugger's tracer stays
    delay, interval = signal.setitimer(signal.ITIMER_REAL, limit, REPEAT_S)  # returns a timer already set
    start = time.monotonic()
    try:
        return fn(*args)
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.settrace(tracing)
        finally:
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
            if delay > 0:  # give the earlier timer back what was left of it
                signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - start), 1e-3), interval)


def _call_in_thread(fn, args: tuple, limit: float):
    box, grad = {}, torch.is_grad_enabled()  # grad mode is per thread: the worker gets the caller's

    def work():
        try:
            with torch.set_grad_enabled(grad):
                box["out"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 — handed back to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=work, name="ppo_lab check", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise TimeUp(limit, running=not _stop(worker))
    if "error" in box:
        raise box["error"]
    return box["out"]


def _stop(worker: threading.Thread, wait: float = 1.0) -> bool:
    """Raise TimeUp inside `worker` at its next bytecode; True when it has stopped within `wait` seconds."""
    try:
        import ctypes
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(TimeUp))
    except (ImportError, AttributeError):  # not CPython: nothing can stop it
        return False
    worker.join(wait)
    return not worker.is_alive()


def limited(fn, limit: float | None):
    """`fn` with a time limit on each call (`call_with_limit`)."""
    return lambda *args: call_with_limit(fn, args, limit)


# ====================================================================== the public checker
class Verdict:
    """What a checker returns: true when the answer was right (`if check(...)`, `assert check(...)`).

    The checker has already printed its feedback, so a notebook shows nothing more for a Verdict that ends
    a cell: `_ipython_display_` displays nothing (no bare True/False under the message). Plain Python shows
    the repr, `Verdict(right=True)`.
    """
    __slots__ = ("right",)

    def __init__(self, right: bool):
        self.right = bool(right)

    def __bool__(self) -> bool:
        return self.right

    def __repr__(self) -> str:
        return f"Verdict(right={self.right})"

    def _ipython_display_(self) -> None:
        """Jupyter: nothing to add to the feedback already printed."""


__all__ = ["call_with_limit", "limited", "TIME_LIMIT_S", "TimeUp", "Verdict"]
