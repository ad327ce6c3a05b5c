"""dvc.yaml's deps match the code each stage runs: the stage script and every project module it imports,
transitively (imports at any depth of a file, including inside functions, count: they run when that path runs).

A module the stage imports but dvc.yaml does not list is a change DVC cannot see (`dvc status` calls stale outputs
up to date); a module listed but not imported reruns the stage for nothing. This test is the authority: after a change
to the imports, fix dvc.yaml until it passes. A listed folder covers every module in it.
"""

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("src", "stages", "scripts")


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...]


def _substitute(text: str, variables: dict[str, str]) -> str:
    """${key} and ${item} of a foreach stage; other ${...} (params such as ${train.launcher}) stay as they are."""
    return re.sub(r"\$\{\s*(\w+)\s*\}", lambda match: variables.get(match.group(1), match.group(0)), text)


def dvc_stages(dvc_yaml: Path) -> list[Stage]:
    """Every stage of a dvc.yaml, each foreach entry as its own stage (infer@base, infer@finetuned)."""
    stages = []
    for name, stage in YAML(typ="safe").load(dvc_yaml.read_text())["stages"].items():
        if "matrix" in stage:
            raise NotImplementedError(f"stage {name}: matrix stages are not read yet; extend this test")
        if "foreach" not in stage:
            stages.append(Stage(name, _cmd(stage["cmd"]), tuple(_dep(dep) for dep in stage.get("deps", []))))
            continue
        items = stage["foreach"]
        pairs = items.items() if isinstance(items, dict) else ((str(item), item) for item in items)
        for key, item in pairs:
            if not isinstance(item, str | int | float):
                raise NotImplementedError(f"stage {name}: foreach over {type(item).__name__} values; extend this test")
            variables = {"key": str(key), "item": str(item)}
            body = stage["do"]
            stages.append(Stage(f"{name}@{key}", _substitute(_cmd(body["cmd"]), variables),
                                tuple(os.path.normpath(_substitute(_dep(dep), variables)) for dep in body.get("deps", []))))
    return stages


def _cmd(cmd: str | list[str]) -> str:
    return " && ".join(cmd) if isinstance(cmd, list) else cmd


def _dep(dep: str | dict) -> str:
    return os.path.normpath(next(iter(dep)) if isinstance(dep, dict) else dep)


def stage_script(stage: Stage, root: Path) -> str:
    """The Python file the stage's cmd runs (the first `*.py` word that is a file of the project)."""
    for word in stage.cmd.split():
        if word.endswith(".py") and (root / word).is_file():
            return os.path.normpath(word)
    raise AssertionError(f"stage {stage.name}: no Python script of the project in its cmd `{stage.cmd}`")


def _module_file(name: str, roots: list[Path]) -> Path | None:
    """The file of a dotted module name under one of the roots (a package's __init__.py), or None (not ours)."""
    for root in roots:
        base = root.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _imported_names(path: Path, roots: list[Path]) -> set[str]:
    """Dotted names of every module the file may import, its packages included (importing a.b.c runs a and a.b)."""
    names = set()
    package = _package_of(path, roots)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            # `from pkg import mod` imports the module mod when it is one, not only a name defined in pkg.
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    with_parents = set()
    for name in filter(None, names):
        parts = name.split(".")
        with_parents.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return with_parents


def _package_of(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if path.is_relative_to(root):
            parts = path.relative_to(root).with_suffix("").parts
            return ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")
    return ""


def runs_code(path: Path) -> bool:
    """Whether a module file does more than hold a docstring (an __init__.py that only documents its package
    changes nothing a stage computes)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def imported_files(script: Path, roots: list[Path]) -> set[Path]:
    """The script and the project module files it imports, transitively (the closure over the roots)."""
    seen, todo = {script}, [script]
    # `python stages/x.py` puts the script's own folder first on sys.path.
    search = [script.parent, *roots]
    while todo:
        path = todo.pop()
        for name in _imported_names(path, roots):
            found = _module_file(name, search)
            if found is not None and found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


def dependency_problems(stage: Stage, root: Path) -> list[str]:
    """One line per gap between the stage's code and its deps: a module not listed, a listed module not imported."""
    roots = [root / "src"]
    script = root / stage_script(stage, root)
    files = {os.path.normpath(path.relative_to(root)): path for path in imported_files(script, roots)}
    # An __init__.py that is only a docstring does not change what a stage computes: no dependency.
    needed = {rel for rel, path in files.items() if path.name != "__init__.py" or runs_code(path)}

    def covers(dep: str, rel: str) -> bool:
        return rel == dep or rel.startswith(dep + os.sep)

    problems = []
    for rel in sorted(needed):
        if not any(covers(dep, rel) for dep in stage.deps):
            why = ""
            if rel.endswith("__init__.py"):
                why = (" (a package's __init__.py runs on every import of the package, and this one holds more than a "
                       "docstring; keep __init__.py files docstring-only, or list it)")
            problems.append(f"stage {stage.name} imports {rel} but dvc.yaml does not list it{why}")
    code_deps = [dep for dep in stage.deps if dep.endswith(".py") or dep.split(os.sep)[0] in CODE_DIRS]
    for dep in code_deps:
        if dep in files and dep not in needed:
            problems.append(f"stage {stage.name} lists {dep} in dvc.yaml, but that __init__.py holds only a docstring, "
                            f"which changes nothing the stage computes: remove it from the deps")
        elif not any(covers(dep, rel) for rel in needed):
            problems.append(f"stage {stage.name} lists {dep} in dvc.yaml but does not import it (a change to it "
                            f"reruns the stage for nothing): remove it from the deps")
    return problems


@pytest.mark.parametrize("stage", dvc_stages(ROOT / "dvc.yaml"), ids=lambda stage: stage.name)
def test_stage_deps_are_the_code_it_runs(stage):
    problems = dependency_problems(stage, ROOT)
    assert not problems, "dvc.yaml deps drifted from the code:\n" + "\n".join(problems)


# Each floor imports only the floors below it: reading params needs no model code (a change to the packaged models'
# pins would rerun every stage), and numbers (data, evaluation, model) need no tables or figures.
FLOORS = {"config.py": ("model", "data", "evaluation", "presentation"), "data": ("model", "evaluation", "presentation"),
          "evaluation": ("presentation",), "model": ("presentation",)}


@pytest.mark.parametrize("floor", FLOORS)
def test_no_module_imports_a_floor_above_it(floor):
    package = ROOT / "src" / "pressft"
    above = tuple(package / name for name in FLOORS[floor])
    modules = [package / floor] if floor.endswith(".py") else sorted((package / floor).glob("*.py"))
    problems = [f"{module.relative_to(ROOT)} imports {found.relative_to(ROOT)}" for module in modules
                for found in sorted(imported_files(module, [ROOT / "src"]))
                if any(found.is_relative_to(folder) for folder in above)]
    assert not problems, "\n".join(problems)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_finds_missing_and_stale_deps_in_a_toy_project(tmp_path):
    _write(tmp_path, {
        "src/pkg/__init__.py": '"""Only a docstring."""\n',
        "src/pkg/sub/__init__.py": '"""Docstring."""\nCONSTANT = 1\n',
        "src/pkg/sub/a.py": "import os\nfrom . import b\n",
        "src/pkg/sub/b.py": "def f():\n    from ..deep import c\n    return c\n",  # import inside a function
        "src/pkg/deep/__init__.py": "",
        "src/pkg/deep/c.py": "import pkg.unused_name_is_not_a_module\n",
        "src/pkg/other.py": "",
        "src/pkg/stale.py": "",
        "stages/run.py": "from pkg.sub import a\nimport helper\n",
        "stages/helper.py": "from pkg import other\n",
        "dvc.yaml": (
            "stages:\n"
            "  run:\n"
            "    foreach: {x: in/x, y: in/y}\n"
            "    do:\n"
            "      cmd: ${launcher} stages/run.py --in ${item} --out out/${key}\n"
            "      deps: [stages/run.py, src/pkg/sub/a.py, src/pkg/deep, src/pkg/stale.py, src/pkg/__init__.py,\n"
            "             '${item}']\n"
        ),
    })
    stages = dvc_stages(tmp_path / "dvc.yaml")
    assert [stage.name for stage in stages] == ["run@x", "run@y"]
    assert stages[1].deps[-1] == "in/y"
    assert dependency_problems(stages[0], tmp_path) == [
        "stage run@x imports src/pkg/other.py but dvc.yaml does not list it",
        "stage run@x imports src/pkg/sub/__init__.py but dvc.yaml does not list it (a package's __init__.py runs on "
        "every import of the package, and this one holds more than a docstring; keep __init__.py files "
        "docstring-only, or list it)",
        "stage run@x imports src/pkg/sub/b.py but dvc.yaml does not list it",
        "stage run@x imports stages/helper.py but dvc.yaml does not list it",
        "stage run@x lists src/pkg/stale.py in dvc.yaml but does not import it (a change to it reruns the stage for "
        "nothing): remove it from the deps",
        "stage run@x lists src/pkg/__init__.py in dvc.yaml, but that __init__.py holds only a docstring, which changes "
        "nothing the stage computes: remove it from the deps",
    ]


def test_a_stage_without_a_python_script_fails_readably(tmp_path):
    with pytest.raises(AssertionError, match="stage echo: no Python script of the project in its cmd"):
        stage_script(Stage("echo", "echo hello", ()), tmp_path)
