"""A claim holds on the learner's machine: the prose of a notebook never quotes a number measured on one machine.

A learner's run is not the run the course was written on (another thread count, another CPU's kernels, another
seed), so a number a run produces is printed by the run, beside its figure, and the markdown says what holds on
every machine — at the strength its assertion checks. This test reads every markdown cell and flags each number
that looks measured: a decimal, a percentage or a ± spread. A number may stand where it is

- a setting: it follows `=` (β = 0.1, `temperature=1.0`);
- an asserted bound: it sits inside a parenthesis that says "asserted", the strength the notebook's assertion
  checks;
- a fact: it is listed below with why (a model's size, an engine's version, a formula's value).

Maths (`$…$`) and code (`` `…` ``) are left out: they are formulas and names, not results.
"""
import json
import pathlib
import re

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))

FACTS = {  # notebook: [the text around a number that is a fact, not a measurement — and why]
    "01": ["45 % of the pairs flipped",              # the experiment's label noise, a setting
           "above chance (0.5)"],                      # a coin's accuracy
    "02": ["0.95 here", "0.95²³ ≈ 0.3"],               # λ's default and its 23rd power
    "03": ["(0, 0.1, 1)"],                             # the ablation's settings of c1
    "04": ["ratio (1.5)",                              # the worked example's input
           "healthy band (below ~0.3)", "healthy below ~0.05"],   # notebook 07's bands, settings of the dashboard
    "05": ["log 4096 ≈ 8.3", "(±1e4)", "(0, 0.01, 0.05)"],   # vocabulary; hostile logits; c2 settings
    "06": ["at most 5 % here", "within ±50 %",          # 0.2·n/H with the cell's n and H; the assertion's bound
           "c1 from 0.1 to 1", "Start β at 0.05", "β starts at 0.5"],   # settings
    "07": ["below ~0.3", "below ~0.05 nats", "not below −0.1", "p = 0.1"],   # the dashboard's bands; dropout's p
    "08": ["2.6 M-parameter", "verl 0.9", "OpenRLHF 0.11", "TRL 1.16", "removed in 1.13"],   # model size, versions
    "10": ["than a coin would (0.5)"],                 # a coin's accuracy
    "11": ["(0.6 M parameters)"],                      # the arithmetic model's size
}
MEASURED = re.compile(r"(?<![\w.^])[-+−]?\d+\.\d+(?![\w.])|\d+(?:\.\d+)?\s?%|±\s?\d+(?:\.\d+)?")


def prose(text: str) -> str:
    """The markdown without its maths and code spans."""
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    return re.sub(r"`[^`\n]*`", " ", text)


def allowed(text: str, start: int, end: int, facts: list[str]) -> bool:
    before = text[max(0, start - 3):start]
    if re.search(r"=\s*\**$", before):                                         # a setting: β = 0.1
        return True
    opened, closed = text.rfind("(", 0, start), text.find(")", end)
    if opened != -1 and ")" not in text[opened:start] and closed != -1 and "asserted" in text[opened:closed]:
        return True                                                            # inside "(… asserted: …)"
    return any(fact in text[max(0, start - 40):end + 40] and
               text.find(fact, max(0, start - 40)) <= start < text.find(fact, max(0, start - 40)) + len(fact)
               for fact in facts)


def measured_numbers(cells: list[str], facts: list[str]) -> list[str]:
    """Each flagged number with the words around it."""
    found = []
    for text in map(prose, cells):
        for m in MEASURED.finditer(text):
            if not allowed(text, m.start(), m.end(), facts):
                found.append(text[max(0, m.start() - 50):m.end() + 30].replace("\n", " "))
    return found


def markdown_cells(path: pathlib.Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_measured_number_in_the_prose(notebook):
    assert measured_numbers(markdown_cells(notebook), FACTS.get(notebook.stem[:2], [])) == []


def test_a_planted_measured_number_is_caught_and_settings_facts_and_asserted_bounds_are_not():
    cells = ["**What you see:** PPO ends at +0.59 ± 0.05, RLOO at 0.78; 47 % of the sums are right.",
             "With β = 0.1 and `lr=3e-4` the KL ends near its target (asserted: within 0.5 × and 1.5 × of it), "
             "and $\\sigma(0.3)$ is maths."]
    flagged = measured_numbers(cells, [])
    assert len(flagged) == 4 and all(n in " ".join(flagged) for n in ("+0.59", "± 0.05", "0.78", "47 %"))
    assert measured_numbers(["the 2.6 M-parameter GPT-2"], ["2.6 M-parameter"]) == []
    assert measured_numbers(["the 2.6 M-parameter GPT-2"], []) != []
