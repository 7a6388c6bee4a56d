"""Who imports whom: the engine never reaches up to the package face, and the server's modules
import one another without a cycle (read from the source, function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import model_studio

PACKAGE = Path(model_studio.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in ``path``, relative ones resolved."""
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            out += [(module, alias.name, node.lineno) for alias in node.names]
    return out


def _is_submodule(module: str, name: str) -> bool:
    folder = PACKAGE.parent.joinpath(*module.split("."))
    return (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()




def test_the_engine_never_imports_the_package_face():
    # Given every module of the engine
    reaches = []
    modules = sorted((PACKAGE / "core").rglob("*.py"))
    assert len(modules) > 20
    for path in modules:
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for module, name, line in _imports(path):
            # When it imports model_studio itself, or a name defined there (not a submodule such as _version)
            face = module == "model_studio" and (name is None or not _is_submodule(module, name))
            if face:
                reaches.append(f"{rel}:{line} imports {name or 'model_studio'} from the package face")
    # Then there is no such import (the version comes from model_studio._version)
    assert reaches == []


def test_server_modules_import_one_another_without_a_cycle():
    # Given the imports between the modules of model_studio.server
    server = {_module_name(p): p for p in (PACKAGE / "server").glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in server.items():
        targets = set()
        for module, imported, _ in _imports(path):
            for candidate in (module, f"{module}.{imported}"):
                if candidate in server and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    # When following them depth first
    cycles = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # Then no module is reached back from what it imports (the route table lives in app.py alone)
    assert cycles == []
    assert {m for m, targets in graph.items() if "model_studio.server.events" in targets} == {"model_studio.server.app"}


def test_model_studio_engine_stays_the_function_after_the_engine_code_is_imported():
    # Given the engine's subpackage imported in every way a caller might
    import model_studio
    import model_studio.core
    import model_studio.core.jobs  # noqa: F401
    from model_studio.core import Engine

    # Then model_studio.engine is still the function that returns the process-wide Engine
    assert callable(model_studio.engine) and model_studio.engine is model_studio.get_engine
    assert not isinstance(model_studio.engine, type(model_studio))
    assert model_studio.core.Engine is Engine
