"""The package keeps the shape its folders promise (ppo_lab/__init__.py's docstring): config → maths → world → rl →
course | interop → cli, each folder importing only from the folders below it (and itself); `course` and `interop`
never import each other; `maths` imports only torch; nothing at run time imports `build`."""
import ast
import pathlib
import shutil

import pytest

import ppo_lab

PACKAGE = pathlib.Path(ppo_lab.__file__).parent
BELOW = {"config": set(), "maths": set(), "world": {"config", "maths"}, "rl": {"config", "maths", "world"},
         "course": {"config", "maths", "world", "rl"}, "interop": {"config", "maths", "world", "rl"},
         "cli": {"config", "maths", "world", "rl", "course", "interop"},
         "build": {"config", "maths", "world", "rl"}}
FOLDERS = {"maths", "world", "rl", "course", "interop", "cli", "build"}


def part_of(path: pathlib.Path, package: pathlib.Path) -> str:
    """The folder a file belongs to ("config" for config.py, "__init__"/"__main__" for the faces at the top)."""
    relative = path.relative_to(package)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: pathlib.Path, package: pathlib.Path) -> set[str]:
    """The parts of the package a file imports, anywhere in it (functions included), relative or absolute.
    `from <top> import __version__` (a constant of the package, no module) is no import of a part."""
    module = list(path.relative_to(package).with_suffix("").parts)
    here = module[:-1] if module[-1] != "__init__" else module[:-1]      # the file's own package, below ppo_lab
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - (node.level - 1)]
            targets = [base + node.module.split(".")] if node.module else [base + [a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ppo_lab"):
            targets = [node.module.split(".")[1:] or [a.name for a in node.names][:1]]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "ppo_lab"]
        else:
            continue
        found |= {t[0] for t in targets if t and t[0] != "__version__"}
    return found


def upward_imports(package: pathlib.Path) -> list[str]:
    """Every import of a part the importing file's folder may not use."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        part = part_of(path, package)
        if part in ("__init__", "__main__"):
            continue
        bad += [f"{path.relative_to(package)} ({part}) imports {other}"
                for other in sorted(imported_parts(path, package) - {part} - BELOW[part])]
    return bad


def test_the_package_is_its_folders():
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries - {"__init__.py", "__main__.py", "config.py"} == FOLDERS
    assert len(entries) - 3 <= 8


def test_no_folder_imports_a_folder_above_it():
    assert upward_imports(PACKAGE) == []


def test_a_planted_upward_import_is_caught(tmp_path):
    copy = tmp_path / "ppo_lab"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    losses = copy / "maths" / "losses.py"
    losses.write_text(losses.read_text() + "\n\ndef planted():\n    from ..course import plots\n    return plots\n")
    world = copy / "world" / "data.py"
    world.write_text(world.read_text() + "\nfrom ppo_lab.rl import ppo  # planted\n")
    course = copy / "course" / "widgets.py"
    course.write_text(course.read_text() + "\nfrom ..interop import mapping  # planted\n")
    assert upward_imports(copy) == ["course/widgets.py (course) imports interop",
                                    "maths/losses.py (maths) imports course", "world/data.py (world) imports rl"]


@pytest.mark.parametrize("path", sorted((PACKAGE / "maths").glob("*.py")), ids=lambda p: p.name)
def test_the_maths_imports_only_torch(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert roots <= {"torch", "__future__", "math"}, roots


def test_build_time_code_is_not_imported_at_run_time():
    users = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if part_of(p, PACKAGE) != "build" and "build" in imported_parts(p, PACKAGE)]
    assert users == []


def test_no_file_name_carries_a_notebook_range():
    import re
    ranged = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if re.search(r"\d\d_\d\d", p.stem)]
    assert ranged == []


def test_every_module_of_every_folder_imports():
    """Packaging finds every folder (pyproject's package discovery): each module imports on its own."""
    import importlib
    import pkgutil
    names = [m.name for m in pkgutil.walk_packages(ppo_lab.__path__, "ppo_lab.") if not m.name.endswith("__main__")]
    names += [f"ppo_lab.build.{p.stem}" for p in (PACKAGE / "build").glob("*.py")]   # build/: a namespace folder
    assert {n.split(".")[1] for n in names} >= FOLDERS | {"config"}
    for name in names:
        importlib.import_module(name)
