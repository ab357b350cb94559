"""The layout stays readable: the wings stack (no import goes up), no import cycle, no giant class or module,
no module reaching into another's private members, one name per meaning, the job engine's two executors
share their lifecycle steps, and a new job status cannot be half added.

Static checks over the source (ast, via scripts/import_graph.py — the script that measures the numbers in
docs/DESIGN.md), so they hold for imports inside functions too.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CLASS_LINES = 400
MAX_MODULE_LINES = 700  # today's largest module is ~670 lines: a module growing past this is split by meaning

_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("import_graph", import_graph)
_spec.loader.exec_module(import_graph)

# Which wing may import which (besides itself). Low -> high: core < reading < llm < extraction < accuracy <
# delivery < jobs < front (app/, cli, __main__, job_manager.py, main.py). Data, so a deliberate change of the
# layering is a change of this table (and of docs/DESIGN.md's folder list).
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "reading": {"core"},
    "llm": {"core", "reading"},
    "extraction": {"core", "reading", "llm"},
    "accuracy": {"core", "reading", "llm", "extraction"},
    "delivery": {"core", "reading", "llm", "extraction", "accuracy"},
    "jobs": {"core", "reading", "llm", "extraction", "accuracy", "delivery"},
    "front": {"core", "reading", "llm", "extraction", "accuracy", "delivery", "jobs"},
}

# The modules at the top of policy_reader/ (the core, and the entry points); everything else sits in a wing.
TOP_LEVEL = ["policy_reader.__main__", "policy_reader.auth", "policy_reader.cli", "policy_reader.config",
             "policy_reader.errors", "policy_reader.fsio", "policy_reader.models", "policy_reader.untrusted",
             "policy_reader.variables"]


def _sources() -> dict[str, Path]:
    files = list((ROOT / "policy_reader").rglob("*.py")) + [ROOT / "job_manager.py", ROOT / "main.py"]
    out = {}
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    return import_graph.imports_of(name, path.name == "__init__.py", path.read_text(), modules)


def _graph(*, typing: bool = False) -> dict[str, set[str]]:
    return import_graph.graph(import_graph.sources(ROOT), typing=typing)


def test_the_wing_table_covers_every_wing() -> None:
    assert list(MAY_IMPORT) == list(import_graph.WING_ORDER)
    for module in _sources():
        assert import_graph.wing_of(module) in MAY_IMPORT, module


def test_the_wings_stack_no_import_goes_up() -> None:
    """Run-time imports and those made for type annotations alike (a type checker follows both)."""
    wrong = [f"{a} ({import_graph.wing_of(a)}) imports {b} ({import_graph.wing_of(b)})"
             for a, targets in _graph(typing=True).items() for b in sorted(targets)
             if import_graph.wing_of(b) != import_graph.wing_of(a)
             and import_graph.wing_of(b) not in MAY_IMPORT[import_graph.wing_of(a)]]
    assert not wrong, wrong


def test_nothing_in_the_package_imports_the_top_level_job_manager() -> None:
    """job_manager.py is the seed's module API (re-exports); the package, its pages and its CLI import
    policy_reader.jobs.manager."""
    graph = _graph()
    importers = sorted(m for m, targets in graph.items() if m.startswith("policy_reader") and "job_manager" in targets)
    assert not importers, importers


def _external_imports(path: Path) -> set[str]:
    found = set()
    for node in import_graph.runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_app_imports_streamlit() -> None:
    outside = sorted(name for name, path in _sources().items()
                     if name.startswith("policy_reader") and not name.startswith("policy_reader.app")
                     and "streamlit" in _external_imports(path))
    assert not outside, outside


def test_no_module_over_the_size_budget() -> None:
    big = {name: n for name, path in _sources().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not big, f"over {MAX_MODULE_LINES} lines: {big}"


def test_no_two_modules_share_a_name() -> None:
    """`extractor.py` / `extraction.py` / `llm_extractor.py` in three layers, or three `accuracy.py`, made a
    newcomer open the wrong file: a module's file name says what it is, once in the package."""
    seen: dict[str, list[str]] = {}
    for path in (ROOT / "policy_reader").rglob("*.py"):
        if path.name != "__init__.py":
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}


def test_the_top_level_holds_the_core_and_the_entry_points_only() -> None:
    assert import_graph.top_level_modules(import_graph.sources(ROOT)) == TOP_LEVEL


def test_every_job_status_has_a_badge_and_a_place_in_the_status_sets() -> None:
    """Adding a JobStatus fails here until the UI can show it and the engine's sets say what it is."""
    from policy_reader.app import view
    from policy_reader.jobs import limits, state

    for status in state.JobStatus:
        assert status.value in view.STATUS_BADGES, f"{status}: no badge/label in app/view.py"
        places = [name for name, group in (("ACTIVE", state.ACTIVE), ("TERMINAL", state.TERMINAL),
                                           ("STOPPED", state.STOPPED)) if status.value in group]
        assert len(places) == 1, f"{status}: in {places or 'none'} of ACTIVE / TERMINAL / STOPPED (jobs/state.py)"
    assert state.RESUMABLE <= state.STATUSES - state.ACTIVE
    assert view.ACTIVE_STATUSES is state.ACTIVE and view.TERMINAL_STATUSES is state.TERMINAL
    assert limits.ACTIVE_STATUSES is state.ACTIVE


def test_one_owner_for_the_cleanup_schedule() -> None:
    """CLEANUP_EVERY_S is defined once (jobs/retention.py) and only the executors schedule cleanup."""
    defined = [name for name, path in _sources().items() if "CLEANUP_EVERY_S =" in path.read_text()]
    assert defined == ["policy_reader.jobs.retention"], defined


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
    assert not import_graph.loops(graph)
    assert not import_graph.loops(_graph(typing=True)), "a loop through imports made for type annotations"


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
