"""The package keeps the layers its module map (ppo_lab/__init__.py's docstring) promises: maths → world →
engine → teaching → face, each module importing only from its own layer or below, and every module placed."""
import ast
import pathlib

import ppo_lab

PACKAGE = pathlib.Path(ppo_lab.__file__).parent
ORDER = ("maths", "world", "engine", "teaching", "face")


def layer_of() -> dict[str, int]:
    """{module: layer index}, read from the map's lines: a layer's name, then module names (continuation lines
    are indented further and hold only module names; the layer's description follows them)."""
    layers, current = {}, None
    for line in ppo_lab.__doc__.splitlines():
        words = line.split()
        if words and words[0] in ORDER and line.startswith("    " + words[0]):
            current, names = ORDER.index(words[0]), words[1:]
        elif current is not None and words and all(w.isidentifier() and w.islower() for w in words) \
                and all((PACKAGE / f"{w}.py").exists() for w in words):
            names = words
        else:
            names = []
        layers.update({name: current for name in names})
    return layers


def imported_modules(path: pathlib.Path, keep_build: bool = False) -> set[str]:
    """The package's own modules a file imports (anywhere in it, functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            # `from . import x` names modules, or a constant of __init__ (`__version__`), which is no module
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names
                                                                      if (PACKAGE / f"{a.name}.py").exists()}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ppo_lab."):
            found.add(node.module.split(".")[1])
    return found if keep_build else found - {"build"}


def test_every_module_is_on_the_map():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    layers = layer_of()
    assert modules - set(layers) == set(), "modules missing from the map in ppo_lab/__init__.py"
    assert set(layers) - modules == set(), "the map names modules that do not exist"


def test_no_module_imports_from_a_layer_above_it():
    layers = layer_of()
    upward = [f"{p.stem} ({ORDER[layers[p.stem]]}) imports {m} ({ORDER[layers[m]]})"
              for p in PACKAGE.glob("*.py") for m in imported_modules(p) if layers[m] > layers[p.stem]]
    assert not upward, upward


def test_the_maths_imports_only_torch():
    layers = layer_of()
    for name in (m for m, layer in layers.items() if layer == 0):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
        assert roots <= {"torch", "__future__", "math"}, (name, roots)


def test_build_time_code_is_not_imported_at_run_time():
    for path in PACKAGE.glob("*.py"):
        assert "build" not in imported_modules(path, keep_build=True), path
