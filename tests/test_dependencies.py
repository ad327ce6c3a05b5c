"""Every package the code imports is declared in pyproject.toml, not merely arriving through another package."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Imported only when asked for, and installed by hand where they run (docs/gpu-and-machines.md): vLLM on a GPU.
BY_HAND = {"vllm"}


def _imported(paths) -> set[str]:
    """Top-level names of the absolute imports in these files."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = [*project["dependencies"], *(s for extra in project["optional-dependencies"].values() for s in extra)]
    return {re.split(r"[\s<>=!~\[;]", spec, maxsplit=1)[0].lower().replace("_", "-") for spec in specs}


def test_every_imported_package_is_declared():
    code = [*(REPO / "src").rglob("*.py"), *(REPO / "stages").glob("*.py"), *(REPO / "scripts").glob("*.py")]
    local = {path.stem for path in (REPO / "scripts").glob("*.py")} | {"pressft"}
    third_party = _imported(code) - set(sys.stdlib_module_names) - local - BY_HAND
    distributions = importlib.metadata.packages_distributions()
    missing = {name: distributions.get(name) for name in sorted(third_party)
               if not {d.lower().replace("_", "-") for d in distributions.get(name, [name])} & _declared()}
    assert not missing, f"imported but not declared in pyproject.toml (module: distributions): {missing}"
