"""The code's layout rules: no module imports another that (directly or not) imports it back, and the API's
modules never reach torch (the slim API image has none; tests/integration/test_torch_free_api.py serves it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "core", "worker", "models", "scripts", "bench")
LIBRARY = ("app", "core", "worker", "models")


def import_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports anywhere in its text (top level or inside functions)."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_module_imports_in_a_circle():
    assert cycles(import_graph()) == []


def reaches(graph: dict[str, set[str]], module: str) -> set[str]:
    """Every project module `module` imports, directly or not."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for child in graph[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_the_flow_is_app_then_core_then_worker():
    """app/ talks to workers only through core/ (jobs are sent by task name); core/ knows nothing of app/ or
    worker/; worker/ never imports the API; the library never imports its entry points (scripts/, bench/)."""
    graph = import_graph()
    for module in graph:
        top = module.split(".")[0]
        banned = {"app": ("worker",), "core": ("app", "worker"), "worker": ("app",)}.get(top, ())
        if top in LIBRARY:
            banned += ("scripts", "bench")
        bad = sorted(m for m in reaches(graph, module) if m.split(".")[0] in banned)
        assert not bad, f"{module} reaches {bad}"


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_edits_the_import_path():
    """Entry points run as modules (`python -m scripts.x`), so none needs `sys.path` edited to find the library."""
    offenders = [
        str(path.relative_to(ROOT))
        for package in (*PACKAGES, "tests")
        for path in (ROOT / package).rglob("*.py")
        if "sys.path.insert" in path.read_text() and path.name != "test_layout.py"
    ]
    assert offenders == []


KIND_COMPARISON = re.compile(r"""(==|!=|\bin)\s*\(?["'](generator3d|generator|classifier|augmentation_study)["']"""
                             r"""|["'](generator3d|generator|classifier|augmentation_study)["']\s*(===?|!==?)""")


def test_model_kinds_are_compared_only_in_their_registry():
    """What a kind makes or trains on is asked of models/vocabulary/model_kinds.py, never read off its name
    elsewhere."""
    offenders = []
    for package in LIBRARY:
        for path in (ROOT / package).rglob("*"):
            if path.suffix not in (".py", ".js") or path.name == "model_kinds.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if KIND_COMPARISON.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_vocabulary_imports_without_torch():
    """Every module of models/vocabulary imports in a process where torch cannot be imported."""
    import subprocess
    import sys

    names = sorted(p.stem for p in (ROOT / "models" / "vocabulary").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'diffusers', 'captum'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        + "".join(f"import models.vocabulary.{name}\n" for name in names)
        + "assert not any(m.split('.')[0] == 'torch' for m in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(names) >= 7


def model_folder(module: str) -> str | None:
    """The folder of models/ a module lives in ("<root>" for models/*.py); None outside models/."""
    parts = module.split(".")
    if parts[0] != "models" or len(parts) == 1:
        return None
    if len(parts) == 2:
        return parts[1] if (ROOT / "models" / parts[1]).is_dir() else "<root>"
    return parts[1]


def test_no_folder_of_models_imports_another_in_a_circle():
    """Folders of models/ form layers: vocabulary and the root utilities at the bottom, workflows and the CLI on
    top; no folder reaches back into one that reaches it."""
    folders: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        here = model_folder(module)
        if here is None:
            continue
        folders.setdefault(here, set()).update(
            there for there in map(model_folder, targets) if there is not None and there != here)
    for there in {t for ts in folders.values() for t in ts}:
        folders.setdefault(there, set())
    assert cycles(folders) == []


def test_no_function_is_longer_than_80_lines():
    """Long functions hide their steps: the library, the service and the entry points keep each under 80 lines."""
    long = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long == []
