"""Imports run one way (docs/architecture.md): a module imports only from its own layer or below.

Every module of ``vidsparse`` and ``corruptions`` is parsed (``ast``, nothing is imported), and
every import statement is checked, module-level and inside functions alike. Imports inside
functions are allowed only in the CLI layer (each command imports its implementation when it
runs, so building the parser does not load every package) and for optional heavy dependencies, which
must say so in a comment on the import line or the line above (``# optional: ...``).
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. The longest matching prefix decides a module's layer. A module may import from
# its own layer or any layer below; siblings in one layer may import each other.
LAYERS: list[tuple[str, ...]] = [
    ("corruptions",),  # the corruption library: imports nothing of vidsparse
    ("vidsparse.errors", "vidsparse.core"),  # errors, atomic files, processes, checkpoints, devices
    ("vidsparse.run_dir",),  # the file names of a run directory
    ("vidsparse.config", "vidsparse.sparse.config"),  # run configuration (the sparse section included)
    ("vidsparse.data", "vidsparse.models", "vidsparse.sparse", "vidsparse.tracking"),  # datasets, networks, the sparse engine, trackers
    ("vidsparse.evaluation",),
    ("vidsparse.training",),
    ("vidsparse.generation", "vidsparse.reporting", "vidsparse.fidelity"),
    ("vidsparse.workflows",),
    ("vidsparse.commands", "vidsparse.cli"),
]
LAZY_IMPORTS_ALLOWED = ("vidsparse.commands", "vidsparse.cli")
OPTIONAL_MARK = "# optional:"


def layer_of(module: str) -> int | None:
    """The layer index of a first-party module; None for third-party modules."""
    if module == "vidsparse":
        return 1  # the package itself holds nothing
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None and module.split(".")[0] == "vidsparse":
        return -1  # a module no layer names: reported, so every new module is placed deliberately
    return best


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported} ({self.why})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    """Absolute names of what an import statement loads (``from a import b`` may load ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = importer.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def check_file(path: Path, root: Path) -> list[Violation]:
    importer = module_name(path, root)
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    own = layer_of(importer)
    rel = str(path.relative_to(root))
    found = []
    if own == -1:
        found.append(Violation(rel, 1, importer, importer, "module in no layer: add it to LAYERS"))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names = imported_modules(node, importer, path.name == "__init__.py")
        first_party = [n for n in names if layer_of(n) is not None]
        upward = [n for n in first_party if own is not None and layer_of(n) > own]
        if upward:
            target = layer_of(upward[0])
            found.append(Violation(rel, node.lineno, importer, upward[0],
                                   f"layer {LAYERS[own][0]} must not import the higher layer {LAYERS[target][0]}"))
        elif _in_function(node, parents) and not importer.startswith(LAZY_IMPORTS_ALLOWED):
            comment = " ".join(lines[max(node.lineno - 2, 0): node.end_lineno])
            if first_party:
                found.append(Violation(rel, node.lineno, importer, names[0], "import inside a function"))
            elif OPTIONAL_MARK not in comment:
                found.append(Violation(rel, node.lineno, importer, names[0],
                                       f"import inside a function without a '{OPTIONAL_MARK} <dependency>' comment"))
    return found


def check_tree(root: Path) -> list[Violation]:
    files = sorted([*root.glob("vidsparse/**/*.py"), *root.glob("corruptions/**/*.py")])
    return [v for path in files for v in check_file(path, root)]


def test_imports_run_one_way():
    violations = check_tree(ROOT)
    assert not violations, "imports against the layers (see docs/architecture.md):\n" + "\n".join(map(str, violations))


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.mark.parametrize("relative, text, why", [
    ("vidsparse/data/bad.py", "from vidsparse.evaluation.run import run_eval\n", "higher layer"),
    ("vidsparse/data/bad.py", "from vidsparse.evaluation import run\n", "higher layer"),
    ("vidsparse/data/bad.py", "import vidsparse.training.loop\n", "higher layer"),
    ("vidsparse/data/bad.py", "def f():\n    from vidsparse.evaluation import run\n", "higher layer"),
    ("vidsparse/data/bad.py", "def f():\n    from vidsparse.errors import UserError\n", "inside a function"),
    ("vidsparse/data/bad.py", "def f():\n    import sklearn\n", "without a '# optional:"),
    ("vidsparse/core/bad.py", "from vidsparse.config import RunConfig\n", "higher layer"),
    ("vidsparse/evaluation/bad.py", "from ..training import loop\n", "higher layer"),
    ("corruptions/bad.py", "from vidsparse.errors import UserError\n", "higher layer"),
    ("vidsparse/newthing.py", "import os\n", "no layer"),
])
def test_the_check_reports_an_import_against_the_direction(tmp_path: Path, relative: str, text: str, why: str):
    """A temporary tree with one offending module: the check must name it and say why."""
    _write(tmp_path, relative, text)
    violations = check_tree(tmp_path)
    assert len(violations) == 1 and why in violations[0].why, violations
    assert violations[0].path == relative


@pytest.mark.parametrize("relative, text", [
    ("vidsparse/evaluation/ok.py", "from vidsparse.data.build import build_test_set\nimport corruptions\n"),
    ("vidsparse/commands/ok.py", "def run():\n    from vidsparse.training.loop import train\n"),
    ("vidsparse/data/ok.py", "def f():\n    from sklearn.datasets import load_digits  # optional: scikit-learn\n"),
    ("vidsparse/sparse/config.py", "from vidsparse.errors import UserError\n"),
])
def test_the_check_accepts_imports_down_the_layers(tmp_path: Path, relative: str, text: str):
    _write(tmp_path, relative, text)
    assert check_tree(tmp_path) == []
