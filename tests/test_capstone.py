"""The capstone (notebook 07): one whole PPO iteration, checked by training beside the package's own.

A learner's correct iteration gives the reference run number for number; each planted slip is caught at the
iteration and step where it first shows, and named; an untouched stub is "not answered yet"; a broken one is
reported, never raised. Runs are tiny (4 completions of 4 tokens, 2 iterations) on one thread: seconds.
"""
import copy
import json
import pathlib
import re

import pytest
import torch
from mistakes import CAPSTONE_MISTAKES
from solutions import capstone_iteration

from ppo_lab.config import PPOConfig
from ppo_lab.course import capstone
from ppo_lab.course.exercises import answers as exercises
from ppo_lab.rl import ppo as trainer

TINY = PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=2, response_length=4)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Bitwise equality needs no thread count change between the runs; one thread is also the fastest here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def fresh_progress():
    exercises.PROGRESS.clear()
    yield
    exercises.PROGRESS.clear()


def test_a_correct_iteration_is_identical_number_for_number(capsys):
    assert capstone.check_iteration(capstone_iteration, TINY)
    out = capsys.readouterr().out
    assert "identical, number for number" in out and "right!" in out and "DIFFERENT" not in out and "≠" not in out
    assert out.count(" same") == TINY.iterations and exercises.passed(capstone.NAME)


def test_the_package_reference_and_its_solution_text_pass(capsys):
    assert capstone.check_iteration(capstone.reference_iteration, TINY)
    namespace = {}
    exec(exercises.EXERCISES[capstone.NAME].solution, namespace)
    assert capstone.check_iteration(namespace["my_iteration"], TINY)
    exercises.solution(capstone.NAME)
    assert "def my_iteration(models, optimizer, prompts, config, kl_coef, generator):" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,where,says", CAPSTONE_MISTAKES, ids=[m.__name__ for m, _, _ in CAPSTONE_MISTAKES])
def test_each_planted_mistake_is_caught_and_named(mistake, where, says, capsys):
    assert not capstone.check_iteration(mistake, TINY)
    out = capsys.readouterr().out
    assert re.search(f"first difference: {where}\\.", out) and says in out, out
    assert "DIFFERENT" in out and "identical" not in out and 'lab.exercises.hint("07.capstone")' in out


def test_the_untouched_stub_is_not_answered_yet(capsys):
    def my_iteration(models, optimizer, prompts, config, kl_coef, generator):
        return None  # your code here

    def todo(models, optimizer, prompts, config, kl_coef, generator):
        raise NotImplementedError

    for stub in (my_iteration, todo, None):
        assert not capstone.check_iteration(stub, TINY)
    out = capsys.readouterr().out
    assert out.count("[07.capstone · ★★★ · ~45 min] not answered yet") == 3
    assert out.count("replace `return None` with your code") == 2 and "reference" not in out
    assert capstone.NAME not in exercises.PROGRESS                  # no try: hints and solution stay closed


def test_a_broken_iteration_is_reported_not_raised(capsys):
    def crashes(models, optimizer, prompts, config, kl_coef, generator):
        return 1 / 0

    def half_done(models, optimizer, prompts, config, kl_coef, generator):
        from ppo_lab.rl.rollout import rollout
        return rollout(models, prompts, config)                     # the batch alone, not the five results

    assert not capstone.check_iteration(crashes, TINY)
    assert "iteration 0 stopped: ZeroDivisionError: division by zero" in capsys.readouterr().out
    assert not capstone.check_iteration(half_done, TINY)
    assert "expected `return batch, rewards, advantages, returns, losses`" in capsys.readouterr().out
    assert not capstone.check_iteration(3, TINY)
    assert "expected a function my_iteration" in capsys.readouterr().out
    assert exercises.PROGRESS[capstone.NAME]["tries"] == 3


def test_the_checker_drives_iterations_as_train_does(bundled):
    """The reference side of the check is `trainer.train`'s own run: same prompts, rewards, KL and β."""
    run = trainer.train(TINY, copy.deepcopy(bundled), progress=False)
    records, problem = capstone._train(capstone.reference_iteration, TINY, copy.deepcopy(bundled))
    assert problem is None and len(records) == len(run.history) == TINY.iterations
    for h, record in zip(run.history, records):
        assert h["env/reward_mean"] == record.batch.scores.mean().item()
        assert h["objective/kl"] == capstone._kl(record, TINY) and h["objective/kl_coef"] == record.kl_coef
    assert run.history[1]["objective/kl_coef"] != TINY.kl_coef      # the adaptive β moved: the driver follows it


def test_the_notebook_capstone_cells_run_untouched(capsys):
    """Once notebook 07 holds the capstone section, its untouched cells run and report "not answered yet"."""
    notebook = json.loads((pathlib.Path(__file__).parents[1] / "notebooks" / "07_debugging_ppo.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    stub = [c for c in cells if "def my_iteration(" in c]
    if not stub:
        pytest.skip("notebook 07 has no capstone cells yet")
    import ppo_lab as lab

    namespace = {"lab": lab, "torch": torch}
    exec(stub[0], namespace)
    assert not lab.course.capstone.check_iteration(namespace["my_iteration"], TINY)
    assert "not answered yet" in capsys.readouterr().out
