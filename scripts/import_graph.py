"""The package's import graph, measured: modules at the top level, import arrows, upward edges between
wings, loops (strongly connected components).

Why a script: the architecture tests pin the wing order (tests/test_architecture.py uses `graph` and
`wing_of` from here), and the numbers in docs/DESIGN.md are re-measured the same way on any checkout:

    python scripts/import_graph.py [ROOT]            # ROOT: a checkout (default: this repository)
    python scripts/import_graph.py --commit a0de03a  # a commit, read with `git show` (no checkout needed)

Static (ast), so imports inside functions count; imports under `if TYPE_CHECKING:` do not (never run).
"""
from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Low -> high. A module may import its own wing and any wing below it, never one above.
WING_ORDER = ("core", "reading", "llm", "extraction", "accuracy", "delivery", "jobs", "front")
CORE = {"policy_reader", "policy_reader.errors", "policy_reader.models", "policy_reader.fsio",
        "policy_reader.config", "policy_reader.variables", "policy_reader.auth", "policy_reader.untrusted"}
FRONT = {"policy_reader.cli", "policy_reader.__main__", "job_manager", "main"}

# Before the move (a0de03a) the domains sat flat at the top of policy_reader/: the wing each one moved to.
FLAT_WINGS = {
    "pdf_text": "reading", "ocr": "reading", "page_image": "reading", "sandbox": "reading",
    "llm": "llm", "llm_dialect": "llm", "llm_extractor": "llm", "pacing": "llm", "pricing": "llm",
    "prompts": "llm", "schema_groups": "llm",
    "extraction": "extraction", "extractor": "extraction", "batch": "extraction", "cache": "extraction",
    "grounding": "extraction", "offline": "extraction", "pipeline": "extraction", "second_opinion": "extraction",
    "accuracy": "accuracy", "audit": "accuracy",
    "export": "delivery", "emailer": "delivery", "email_body": "delivery", "webhook": "delivery",
    "limits": "jobs", "worker": "jobs", "ui": "front",
}


def wing_of(module: str) -> str:
    """The wing a dotted module name belongs to (`front` = app/, the CLI and the top-level entry points)."""
    if module in CORE:
        return "core"
    if module in FRONT or module.startswith("policy_reader.app"):
        return "front"
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "policy_reader":
        if parts[1] in WING_ORDER:
            return parts[1]
        if parts[1] in FLAT_WINGS:
            return FLAT_WINGS[parts[1]]
    raise ValueError(f"{module}: in no wing (add it to scripts/import_graph.py)")


def runtime_nodes(tree: ast.AST, *, typing: bool = False) -> Iterable[ast.AST]:
    """Every node, except what sits under `if TYPE_CHECKING:` (annotations only, never imported at run time)
    unless `typing` (a type checker follows those imports too)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not typing and isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def module_name(relpath: str) -> str:
    parts = Path(relpath).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(name: str, is_package: bool, source: str, modules: Iterable[str], *, typing: bool = False) -> set[str]:
    """The project modules `source` imports at run time (relative imports resolved); `typing`: with the
    imports made for type annotations only."""
    modules = set(modules)
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in runtime_nodes(ast.parse(source), typing=typing):
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


def sources(root: Path = ROOT) -> dict[str, str]:
    """{dotted module name: source} for policy_reader/, job_manager.py and main.py of a checkout."""
    files = list((root / "policy_reader").rglob("*.py")) + [root / "job_manager.py", root / "main.py"]
    return {module_name(str(p.relative_to(root))): p.read_text() for p in files if p.exists()}


def sources_at(commit: str, root: Path = ROOT) -> dict[str, str]:
    """The same, read from a commit with git (the measurement of "before")."""
    names = subprocess.run(["git", "-C", str(root), "ls-tree", "-r", "--name-only", commit],
                           capture_output=True, text=True, check=True).stdout.split()
    wanted = [n for n in names if n.endswith(".py") and (n.startswith("policy_reader/")
                                                        or n in ("job_manager.py", "main.py"))]
    return {module_name(n): subprocess.run(["git", "-C", str(root), "show", f"{commit}:{n}"], capture_output=True,
                                           text=True, check=True).stdout for n in wanted}


def graph(srcs: dict[str, str], *, typing: bool = False) -> dict[str, set[str]]:
    """{module: modules it imports}. A package's `__init__` is the package's own name."""
    packages = {name for name in srcs if any(m.startswith(name + ".") for m in srcs)}
    return {name: imports_of(name, name in packages, src, srcs, typing=typing) for name, src in srcs.items()}


def upward_edges(g: dict[str, set[str]], wing: Callable[[str], str] = wing_of) -> list[tuple[str, str]]:
    rank = {w: i for i, w in enumerate(WING_ORDER)}
    return sorted((a, b) for a, targets in g.items() for b in targets if rank[wing(a)] < rank[wing(b)])


def loops(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(g[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def top_level_modules(srcs: dict[str, str]) -> list[str]:
    """Modules directly in policy_reader/ (not in a sub-package)."""
    return sorted(n for n in srcs if n.count(".") == 1 and n.startswith("policy_reader.")
                  and not any(m.startswith(n + ".") for m in srcs))


def report(srcs: dict[str, str]) -> dict[str, object]:
    g = graph(srcs)
    up = upward_edges(g)
    typed = graph(srcs, typing=True)
    return {"modules": len(srcs), "top_level": top_level_modules(srcs),
            "arrows": sum(len(t) for t in g.values()), "upward": up, "loops": loops(g),
            "typing_upward": upward_edges(typed), "typing_loops": loops(typed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=ROOT)
    parser.add_argument("--commit")
    args = parser.parse_args(argv)
    srcs = sources_at(args.commit, args.root) if args.commit else sources(args.root)
    r = report(srcs)
    print(f"modules: {r['modules']}")
    print(f"modules at the top level of policy_reader/: {len(r['top_level'])}  ({', '.join(r['top_level'])})")
    print(f"import arrows: {r['arrows']}")
    print(f"upward edges between wings: {len(r['upward'])}")
    for a, b in r["upward"]:
        print(f"  {a} ({wing_of(a)}) -> {b} ({wing_of(b)})")
    print(f"loops (strongly connected components): {len(r['loops'])}")
    for component in r["loops"]:
        print(f"  {len(component)}: {', '.join(component)}")
    print(f"with the imports for type annotations: upward edges {len(r['typing_upward'])}, "
          f"loops {len(r['typing_loops'])}")
    for component in r["typing_loops"]:
        print(f"  {len(component)}: {', '.join(component)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
