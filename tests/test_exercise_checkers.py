"""The bank's checker builders: `matches` (a function against worked cases), `gives` (a slip), `numeric`."""
import torch

from ppo_lab.course import exercises
from ppo_lab.course.exercises.bank.base import close, gives, matches, numeric


def test_matches_compares_numbers_and_lists_case_by_case():
    add = matches([(1, 2, 3.0), (0.5, 0.25, 0.75)])
    assert add(lambda a, b: a + b) and add(lambda a, b: torch.tensor(a + b, dtype=torch.float32))
    assert not add(lambda a, b: a - b) and not add("not a function")
    pairs = matches([([1.0, 2.0], [2.0, 4.0])])
    assert pairs(lambda xs: [2 * x for x in xs]) and pairs(lambda xs: torch.tensor(xs) * 2)
    assert not pairs(lambda xs: [2 * xs[0]]) and not pairs(lambda xs: 2 * sum(xs))   # too short; not a list


def test_a_function_that_edits_its_input_cannot_change_later_checks():
    scores = torch.tensor([0.5, -1.0, 2.0, 0.0])

    def fraction_then_vandalise(s, t):
        out = (s > t).float().mean().item()
        s -= 100                                   # in place: the caller's tensor would change
        return out

    right, slip = matches([(scores, 0.0, 0.5)]), gives(0.5, scores, 0.0)
    assert right(fraction_then_vandalise) and right(fraction_then_vandalise)
    assert slip(fraction_then_vandalise) and torch.equal(scores, torch.tensor([0.5, -1.0, 2.0, 0.0]))


def test_numeric_recognises_its_slips_within_its_tolerance_then_its_other_mistakes():
    ex = numeric("q?", 1.0, ("h1", "h2"), "s", stars=1, minutes=1, tol=1e-3, slips={-1.0: "sign"},
                 mistakes=((close(2.718, 1e-2), "no exp"),))
    assert ex.correct(1.0005) and not ex.correct(1.01)
    assert [hint for detector, hint in ex.mistakes if detector(-1.0004)] == ["sign"]
    assert [hint for detector, hint in ex.mistakes if detector(2.72)] == ["no exp"]


def test_the_bank_still_gives_targeted_hints_for_slips(capsys):
    assert not exercises.check("06.k1", 2.718)                 # a slip kept at its own tolerance (1e-3)
    assert not exercises.check("01.bt_loss", 0.8808)           # a slip at the exercise's tolerance (5e-4)
    out = capsys.readouterr().out
    assert "no exp" in out and "That is σ(2)" in out
