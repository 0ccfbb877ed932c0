"""The course keeps to a small public API: every name a notebook reaches (`lab.<path>`) is exported by its module's
`__all__` (and each folder on the way by its package's), never a name a module only re-imports; and the notebooks
together reach at most MAX_NAMES names."""
import json
import pathlib
import re
import types

import ppo_lab

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
MAX_NAMES = 85    # the notebooks' reach today (issue 30 asks for 60): lower it as notebooks move to fewer helpers


def reached(source: str) -> set[str]:
    """The dotted paths after `lab.` in a cell, cut after the first object that is not a module
    (`lab.plots.curves(...).savefig` → "plots.curves")."""
    paths = set()
    for dotted in re.findall(r"(?<![\w.])lab((?:\.[A-Za-z_]\w*)+)", source):
        obj, path = ppo_lab, []
        for part in dotted.strip(".").split("."):
            if not isinstance(obj, types.ModuleType):
                break
            obj = getattr(obj, part, None)
            path.append(part)
            assert obj is not None, f"lab.{'.'.join(path)} does not exist"
        paths.add(".".join(path))
    return paths


def test_notebooks_reach_the_package_only_through_lab():
    """`import ppo_lab as lab` and `lab.<path>`: a `from ppo_lab… import name` would reach names this count misses."""
    other = {nb.stem[:2]: line.strip() for nb in NOTEBOOKS for cell in json.loads(nb.read_text())["cells"]
             if cell["cell_type"] == "code" for line in "".join(cell["source"]).splitlines()
             if re.match(r"\s*(from\s+ppo_lab\b|import\s+ppo_lab\b(?!\s+as\s+lab\s*$))", line)}
    assert other == {}


def notebook_names() -> dict[str, set[str]]:
    """{dotted name: the notebooks that reach it}, modules left out."""
    names = {}
    for nb in NOTEBOOKS:
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                for path in reached("".join(cell["source"])):
                    names.setdefault(path, set()).add(nb.stem[:2])
    return {n: nbs for n, nbs in names.items()
            if not isinstance(eval("ppo_lab." + n, {"ppo_lab": ppo_lab}), types.ModuleType)}


def not_exported(path: str) -> str | None:
    """The first step of `path` its module's `__all__` does not list (None: every step is exported)."""
    obj = ppo_lab
    for part in path.split("."):
        if part not in getattr(obj, "__all__", ()):
            return f"{obj.__name__}.__all__ lacks {part!r}"
        obj = getattr(obj, part)
    return None


def test_every_name_a_notebook_reaches_is_exported():
    missing = {path: why for path in notebook_names() if (why := not_exported(path))}
    assert missing == {}


def test_the_notebooks_reach_a_small_api():
    names = notebook_names()
    assert len(names) <= MAX_NAMES, sorted(names)


def test_the_top_level_is_the_public_api_and_nothing_else():
    import subprocess
    import sys
    fresh = subprocess.run([sys.executable, "-c", "import ppo_lab; print(' '.join(sorted(vars(ppo_lab))))"],
                           capture_output=True, text=True, check=True).stdout.split()   # before any test imports more
    assert {n for n in fresh if not n.startswith("_")} == set(ppo_lab.__all__)
