"""Notebook 07's exercises: the mystery runs' recipe is the only right name, and hints never give it away."""
import pytest

from ppo_lab.course import exercises, failures

MYSTERY_NAMES = sorted(failures.MYSTERIES)


def test_every_mystery_is_a_failure_recipe_and_they_differ():
    assert set(failures.MYSTERIES.values()) <= set(failures.FAILURES)
    assert len(set(failures.MYSTERIES.values())) == len(failures.MYSTERIES)


@pytest.mark.parametrize("name", MYSTERY_NAMES)
def test_the_recipe_passes_in_any_spelling_and_every_other_recipe_fails(name, capsys):
    answer = failures.MYSTERIES[name]
    assert exercises.check(name, answer)
    assert exercises.check(name, "  " + answer.upper().replace("_", " ") + " ")
    for other in set(failures.FAILURES) - {answer}:
        assert not exercises.check(name, other)
    out = capsys.readouterr().out
    assert "hint:" in out
    for hint in exercises.EXERCISES[name].hints:
        assert answer not in hint and answer.replace("_", " ") not in hint
    assert f"'{answer}'" in exercises.EXERCISES[name].solution


def test_a_name_that_is_no_recipe_lists_the_valid_names(capsys):
    assert not exercises.check("07.bug_1", "the learning rate")
    out = capsys.readouterr().out
    assert "not a failure name" in out and "sign_flipped" in out and "hint:" in out


def test_first_ratio_and_unanswered(capsys):
    assert exercises.check("07.first_ratio", 1.0)
    # the value a learner reads off a run is 1 only to float rounding on some CPUs (README, "Determinism")
    assert exercises.check("07.first_ratio", 0.9999998807907104)
    assert exercises.check("07.first_ratio", 1.0000001192092896)
    assert not exercises.check("07.first_ratio", 1.2)
    assert not exercises.check("07.bug_2", None)
    assert "not answered yet" in capsys.readouterr().out
