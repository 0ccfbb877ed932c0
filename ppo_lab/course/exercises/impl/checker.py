"""Build it yourself: check your own function against the package's (notebooks 02–06, 09–11).

    lab.exercises.check_impl("policy_loss", my_policy_loss)

Your function takes the same arguments as the package's (`lab.maths.losses.policy_loss`, ...) and returns
the same things. It runs on a battery of cases: worked by hand, random shapes and masks, garbage in
padded positions, numerically hostile inputs and gradients. Each failed case prints what was
expected, what came back and a hint, never the solution. A passing function can replace the
package's in training: `lab.train(config, overrides={"policy_loss": my_policy_loss})`. A stub that is still
`raise NotImplementedError` or `return None` is reported as not implemented yet, not as failed checks.

Each call of the learner's function has a time limit (`TIME_LIMIT_S`, or `time_limit=`): one that does not
return in time is reported, never waited for forever. See `call_with_limit` for how, per platform.

The same checks cover the critic-free family's advantages (`group_advantages`, `rloo_advantages`, notebook 09),
DPO's `dpo_loss` and `sequence_logps` (notebook 10) and `pass_at_k` (11). The cases sit beside the maths they test:
`losses`, `advantages`, `preference` and `verifiable` in this folder, with `case` for what a case is; the time limit
and `Verdict` are in `exercises.calls`.
"""
from __future__ import annotations

import inspect
import linecache
import math

import torch

from ....rl.dpo import DPO_FUNCTIONS
from ....rl.update import PPO_FUNCTIONS
from ....world.verifiable import pass_at_k
from ..calls import TIME_LIMIT_S, TimeUp, Verdict, limited
from . import advantages, losses, preference, verifiable
from .case import F64, Case
from .slips import SLIPS

BATTERIES = {**advantages.BATTERIES, **losses.BATTERIES, **preference.BATTERIES, **verifiable.BATTERIES}  # its cases
REFERENCES = {**PPO_FUNCTIONS, **DPO_FUNCTIONS,  # function: the package's own, that a learner's is checked against
              "pass_at_k": pass_at_k}
STATS = {"rewards/chosen": "mean over pairs of β·(log π(y_w) − log π_ref(y_w))",
         "rewards/rejected": "mean over pairs of β·(log π(y_l) − log π_ref(y_l))",
         "rewards/margins": "mean of z over the pairs", "rewards/accuracies": "fraction of pairs with z > 0",
         "clipfrac": "fraction of valid tokens with |r − 1| > ε (0 when clip_eps is None)",
         "approx_kl": "mean over valid tokens of (r − 1) − log r",
         "ratio_mean": "mean of r over valid tokens",
         "vf_clipfrac": "fraction of valid tokens where (v_clip − R)² is strictly larger than (V − R)²"}


class _Fail(Exception):
    """One failed case: what went wrong (expected vs got). `general`: not about this case's maths, so its
    message stands without the case's hint (a result of the wrong type, stats, inputs changed in place)."""

    def __init__(self, message: str, general: bool = False):
        super().__init__(message)
        self.general = general



# ====================================================================== running one case
def digits_apart(a: float, b: float) -> int:
    """The significant digits (6 to 17) that show two different numbers as different texts."""
    return next((d for d in range(6, 18) if f"{a:.{d}g}" != f"{b:.{d}g}"), 17)


def _show(x: torch.Tensor, at=None, digits: int = 6) -> str:
    """A short excerpt of a tensor: a number, or its first values (and the first difference, to `digits`)."""
    x = x.detach().double()
    if x.dim() == 0:
        return f"{x.item():.{digits}g}"
    flat = ", ".join(f"{v:.4g}" for v in x.flatten()[:6].tolist())
    more = ", …" if x.numel() > 6 else ""
    where = f" (first difference at {list(at)}: {x[tuple(at)].item():.{digits}g})" if at is not None else ""
    return f"[{flat}{more}] shape {tuple(x.shape)}{where}"


def _compare(label: str, got, want: torch.Tensor, literal: bool, low: bool = False) -> None:
    """Raise _Fail unless `got` is a tensor of want's shape holding the same numbers.

    The tolerance fits the precision of the sums: float32 when either side is (`low`: the learner's function
    returned float32 results, so even its gradients w.r.t. float64 inputs carry float32 rounding)."""
    if not isinstance(got, torch.Tensor):
        raise _Fail(f"{label}: expected a tensor, got {type(got).__name__} {got!r:.60}. Keep results as tensors "
                    "(a Python number carries no gradient).", general=True)
    if got.shape != want.shape:
        raise _Fail(f"{label}: expected shape {tuple(want.shape)}, got shape {tuple(got.shape)}")
    low = low or want.dtype != F64 or got.dtype != F64
    rtol, atol = (1e-6, 1e-6) if literal else (1e-4, 1e-5) if low else (1e-7, 1e-9)
    got, want = got.detach().double(), want.detach().double()
    ok = torch.isclose(got, want, rtol=rtol, atol=atol) | (torch.isinf(want) & (got == want))
    if not bool(ok.all()):
        at = (~ok).nonzero()[0].tolist() if got.dim() else None
        first = tuple(at) if at is not None else ()
        digits = digits_apart(want[first].item(), got[first].item())
        nan = " (NaN: something like 0·∞, ∞ − ∞ or log 0 happened)" if bool(torch.isnan(got).any()) else ""
        raise _Fail(f"{label}: expected {_show(want, at, digits)}, got {_show(got, at, digits)}{nan}")


def _results(name: str, out) -> tuple[dict, dict | None]:
    """The tensors (and stats) a function returns, by name; raise _Fail if the result is shaped wrong."""
    if name in ("policy_loss", "value_loss", "dpo_loss"):
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise _Fail(f"expected a pair (loss, stats) with stats a dict, got {type(out).__name__}", general=True)
        return {"loss": out[0]}, out[1]
    if name == "gae":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise _Fail(f"expected a pair (advantages, returns), got {type(out).__name__}", general=True)
        return {"advantages": out[0], "returns": out[1]}, None
    if name == "pass_at_k":                      # a probability, as a Python number (notebook 11)
        if isinstance(out, bool) or not isinstance(out, (int, float)):
            raise _Fail(f"expected a Python float (a probability in [0, 1]), got {type(out).__name__} {out!r:.60}",
                        general=True)
        return {"pass@k": torch.tensor(float(out), dtype=F64)}, None
    label = {"kl_per_token": "KL per token", "group_advantages": "advantages", "rloo_advantages": "advantages",
             "sequence_logps": "sequence log-probs"}
    return {label.get(name, name): out}, None


def _compare_stats(stats: dict, want: dict, literal: dict | None) -> None:
    for key in want:
        value = stats.get(key)
        if isinstance(value, torch.Tensor) or not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Fail(f"stats[{key!r}]: expected a Python float ({STATS[key]}), got "
                        f"{'nothing' if value is None else type(value).__name__}. The trainer logs it; use "
                        ".item() (a tensor would also keep the autograd graph alive).", general=True)
        if literal and key in literal and not math.isclose(value, literal[key], abs_tol=1e-6):
            d = digits_apart(literal[key], value)
            raise _Fail(f"stats[{key!r}] ({STATS[key]}): expected {literal[key]:.{d}g}, got {value:.{d}g}")


def _call(fn, case: Case):
    """Run fn on fresh copies of the inputs; returns (results, gradients of the case's inputs, inputs)."""
    args = [a.clone().requires_grad_(i in case.grad + case.const) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(case.args)]
    out = fn(*args)
    grads = {}
    if case.grad:
        total = _results_sum(out)
        inputs = [args[i] for i in case.grad + case.const]
        if total is None or not total.requires_grad:
            grads = {i: torch.zeros_like(args[i]) for i in case.grad + case.const}
        else:
            found = torch.autograd.grad(total, inputs, allow_unused=True)
            grads = {i: torch.zeros_like(args[i]) if d is None else d
                     for i, d in zip(case.grad + case.const, found)}
    return out, grads, args


def _results_sum(out):
    first = out[0] if isinstance(out, tuple) else out
    return first.sum() if isinstance(first, torch.Tensor) else None


def _check_grads(case: Case, got: dict, want: dict, names: list[str], low: bool) -> None:
    for k, i in enumerate(case.grad):
        w = case.want_grad[k] if case.want_grad else want[i]
        if not bool(got[i].any()) and bool(w.any()):
            raise _Fail(f"no gradient reaches `{names[i]}`: it was detached or turned into a Python number "
                        "(.item(), float(), .detach(), .numpy()) somewhere on its way to the result")
        _compare(f"gradient of the result w.r.t. `{names[i]}`", got[i], w, case.want_grad is not None, low)
    for i in case.const:
        g, w = got[i].detach().double(), want[i].detach().double()
        if bool(g.any()) and not torch.allclose(g, w, rtol=1e-4, atol=1e-6):
            raise _Fail(f"gradient leaks into `{names[i]}`, which comes from the rollout and is a constant: "
                        f"expected 0 there (or {_show(w)}), got {_show(g)}")


def _run_case(name: str, fn, case: Case) -> None:
    """Raise _Fail with expected vs got if `fn` disagrees with the package on this case."""
    ref, names = REFERENCES[name], list(inspect.signature(REFERENCES[name]).parameters)
    ref_out, ref_grads, _ = _call(ref, case)
    try:
        out, grads, args = _call(fn, case)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 — the learner's code may raise anything: this case fails, with why
        raise _Fail(f"your function raised {type(e).__name__}: {e}") from None
    if out is None:
        raise _ReturnsNone
    got, stats = _results(name, out)
    want, ref_stats = _results(name, ref_out)
    low = any(isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != F64 for x in got.values())
    for label, w in want.items():
        literal = case.want[list(want).index(label)] if case.want else None
        _compare(label, got[label], torch.tensor(literal, dtype=w.dtype) if isinstance(literal, float) else
                 literal if literal is not None else w, literal is not None, low)
    if ref_stats is not None:
        _compare_stats(stats, ref_stats, case.stats)
    _check_grads(case, grads, ref_grads, names, low)
    for i, (before, after) in enumerate(zip(case.args, args)):
        if isinstance(before, torch.Tensor) and not _unchanged(before, after.detach()):
            raise _Fail(f"your function changed its input `{names[i]}` in place, but the caller still needs it as it "
                        "was (the trainer logs the rewards after GAE, for one). Make new tensors (x = x + 1, "
                        "torch.where, .clone()) instead of writing into an input (x += 1, x[i] = …).", general=True)



def _unchanged(before: torch.Tensor, after: torch.Tensor) -> bool:
    """The same tensor, entry for entry: NaN where it was NaN (NaN == NaN is false)."""
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    same = before == after
    if before.is_floating_point():
        same |= before.isnan() & after.isnan()
    return bool(same.all())


# ====================================================================== the public checker
class _ReturnsNone(Exception):
    """The learner's function returned None: at the first case, an untouched `return None` stub."""


def check_impl(name: str, fn, *, time_limit: float | None = TIME_LIMIT_S) -> Verdict:
    """Run `fn` through the battery for function `name`; print the verdict; a true Verdict when all pass.

    `time_limit`: seconds each call of `fn` may take (None: no limit); see `call_with_limit`."""
    if not isinstance(name, str) or name not in BATTERIES:
        raise KeyError(f"check_impl: name={name!r} is not a function it checks; valid: {sorted(BATTERIES)}")
    ref = REFERENCES[name]
    params = inspect.signature(ref).parameters.values()
    signature = f"{name}({', '.join(p.name if p.default is p.empty else f'{p.name}={p.default!r}' for p in params)})"
    where = f"lab.{ref.__module__.removeprefix('ppo_lab.')}.{name}"
    if fn is None:
        print(f"[{name}] not implemented yet: write `{signature}` and pass it in.")
        return Verdict(False)
    if not callable(fn):
        print(f"[{name}] expected a function `{signature}`, got {type(fn).__name__}.")
        return Verdict(False)
    cases = BATTERIES[name]()
    try:
        inspect.signature(fn).bind(*cases[0].args)
    except TypeError as e:
        print(f"[{name}] your function cannot be called the way the trainer calls it, `{signature}`: {e}.")
        return Verdict(False)
    except ValueError:  # no signature to inspect (a builtin): calling it will tell
        pass
    failures = _run_battery(name, limited(fn, time_limit), cases, signature, getattr(fn, "__code__", None))
    if failures is None:
        return Verdict(False)
    if not failures:
        train = (" Next: use it on the model's own samples (the cell below)." if name == "pass_at_k" else
                 f" Try it in training: lab.exercises.train_yours(config, {{'{name}': your_function}})")
        print(f"[{name}] all {len(cases)} checks passed! Your function agrees with {where}.{train}")
        return Verdict(True)
    print(f"[{name}] {len(cases) - len(failures)} of {len(cases)} checks passed; {len(failures)} failed:")
    _report(failures, slip_hint(name, cases, failures))
    return Verdict(False)


def raised_by(error: BaseException, code) -> bool:
    """Whether `error` was raised by a `raise` statement of the code object `code` itself: the last frame of its
    traceback is `code`, at a line that is a `raise` (not a call into torch that raised it)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or tb.tb_frame.f_code is not code:
        return False
    line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
    return not line or line.startswith("raise")                  # no source to read: as the stub it most likely is


def _run_battery(name: str, fn, cases: list[Case], signature: str, stub=None) -> list | None:
    """The failed cases as (case, what went wrong, hint); None when the battery had to stop (said why). `stub`: the
    code of the learner's function: a NotImplementedError it raises itself on the first case is an untouched stub;
    one raised later, or by code it calls (torch's, say), is a failed case like any other error."""
    failures = []
    for i, case in enumerate(cases):
        try:
            _run_case(name, fn, case)
        except NotImplementedError as e:
            if i == 0 and (stub is None or raised_by(e, stub)):
                print(f"[{name}] not implemented yet: your function raises NotImplementedError. Replace that line "
                      f"with your code (same arguments as `{signature}`) and run this cell again.")
                return None
            failures.append((case, f"your function raised NotImplementedError{f': {e}' if str(e) else ''}", None))
        except _ReturnsNone:
            if i == 0:  # the first case is the probe: an untouched `return None` stub
                print(f"[{name}] not implemented yet: your function returns None. Replace `return None` with "
                      f"your code (same arguments as `{signature}`) and run this cell again.")
                return None
            failures.append((case, "your function returned None here: is a `return` missing on some path?", None))
        except TimeUp as e:
            print(f"[{name}] {e.message()}\n  it was running the case: {case.name}")
            return None
        except _Fail as e:
            failures.append((case, str(e), None if e.general else case.hint))
        except Exception as e:  # noqa: BLE001 — a result too strange to compare fails the case, never crashes
            failures.append((case, f"your result could not be checked: {type(e).__name__}: {e}", None))
    return failures


def _matching_slip(name: str, cases: list[Case], failures: list, overlap: float = 0.8) -> str | None:
    """The phrase of the known slip (`slips.SLIPS`) that fails (nearly) the same checks as the learner's function:
    the most shared failed checks, at least `overlap` of the two sets together (a float32 version of a slip passes
    a check or two that the float64 one fails), the same first message breaking ties; None when no slip does."""
    failed, best = {case.name for case, _, _ in failures}, None
    for slip, phrase in SLIPS.get(name, ()):
        theirs = _run_battery(name, slip, cases, name) or []
        shared = len(failed & {case.name for case, _, _ in theirs}) / len(failed | {case.name for case, _, _ in theirs})
        score = (shared, bool(theirs) and theirs[0][1] == failures[0][1])
        if shared >= overlap and (best is None or score > best[0]):
            best = (score, phrase)
    return None if best is None else best[1]


def slip_hint(name: str, cases: list[Case], failures: list) -> str | None:
    """The one hint for these failures: the known slip's, when the learner's function fails as one does (None when
    the checker's own message already names it: no gradient, tensor stats, an input changed in place); else the
    hint of the first failed check that has one. Never every case's hint: one bug trips many cases, and their hints
    would name slips the learner did not make."""
    if not failures:
        return None
    phrase = _matching_slip(name, cases, failures)
    if phrase is not None:
        return next((case.hint for case in cases if phrase in case.hint), None)
    return next((hint for _, _, hint in failures if hint), None)


def _report(failures: list, hint: str | None, most: int = 6) -> None:
    """Print each failed case with expected vs got (the same message only once), then the one hint."""
    messages, shown = set(), 0
    for case, what, _ in failures:
        if what in messages or shown == most:
            continue
        messages.add(what)
        shown += 1
        print(f"  ✗ {case.name}\n      {what}")
    if len(failures) > shown:
        print(f"  … and {len(failures) - shown} more failed checks (the same message, or more of them); "
              "fix the ones above first.")
    if hint:
        print(f"  hint: {hint}")


__all__ = ["BATTERIES", "check_impl", "digits_apart", "REFERENCES", "slip_hint", "STATS"]
