"""The layout stays readable: no import cycle, no giant class, no module reaching into another's
private members, and the job engine's two executors share their lifecycle steps.

Static checks over the source (ast), so they hold for imports inside functions too.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CLASS_LINES = 400


def _sources() -> dict[str, Path]:
    files = list((ROOT / "policy_reader").rglob("*.py")) + [ROOT / "job_manager.py", ROOT / "main.py"]
    out = {}
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under `if TYPE_CHECKING:` (annotations only, never imported at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in modules else target)
    return {m for m in found if m in modules and m != name}


def test_no_import_cycle() -> None:
    modules = _sources()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_class_over_the_size_limit() -> None:
    big = []
    for name, path in _sources().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                big.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not big, big


def _defined_private_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def test_no_module_reaches_into_another_modules_private_members() -> None:
    reaches = []
    for name, path in _sources().items():
        tree = ast.parse(path.read_text())
        own = _defined_private_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if node.attr not in own:
                    reaches.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                reaches += [f"{path.relative_to(ROOT)}:{node.lineno}: imports {a.name} from {node.module}"
                            for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not reaches, reaches


def test_the_worker_command_runs_without_the_facade() -> None:
    modules = _sources()
    assert "job_manager" not in _imports("policy_reader.jobs.worker", modules["policy_reader.jobs.worker"], modules)
    for name in modules:
        if name.startswith("policy_reader.jobs"):
            assert "job_manager" not in _imports(name, modules[name], modules), name


def test_both_executors_share_the_lifecycle_steps() -> None:
    """Running a document, keeping its result and finalising live once, in jobs/document.py and
    jobs/lifecycle.py; each executor calls them instead of writing its own."""
    modules = _sources()
    for executor in ("policy_reader.jobs.local_executor", "policy_reader.jobs.queue_executor"):
        imported = _imports(executor, modules[executor], modules)
        assert {"policy_reader.jobs.document", "policy_reader.jobs.lifecycle",
                "policy_reader.jobs.transitions"} <= imported, executor
        source = modules[executor].read_text()
        for step in ("process_document(", "write_result(", "write_export(", "send_job_email(", "send_job_webhook("):
            assert step not in source, f"{executor} calls {step} itself"
