"""The house rules of course_utils, checked on its source (see CONTRIBUTING.md).

- course-internal imports are at the top of a file, never inside a function (the exceptions are
  the few course modules that subclass distilabel classes and so import distilabel themselves);
- no import cycle between course modules;
- only `models` builds an LLM; lesson modules never import the offline teacher, and the teacher
  depends only on `evaluation.constraints` and its own data;
- no file over 700 lines; `import course_utils` is fast and loads no heavy library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "course_utils"

# Course modules that subclass distilabel classes, so importing them imports distilabel (seconds,
# pydantic warnings): the only course modules another module may import inside a function.
HEAVY_COURSE_MODULES = {
    "course_utils.teacher.llm",  # OfflineTeacher(distilabel LLM)
    "course_utils.teacher.sampling",  # SamplingOfflineTeacher(OfflineTeacher)
    "course_utils.capstone.steps",  # the capstone's distilabel Steps and Pipeline
    "course_utils.openai_llm",  # ServerLLM(distilabel OpenAILLM)
    "course_utils.transformers_llm",  # SharedTransformersLLM(distilabel TransformersLLM)
}
# Modules that import no other course module: anyone may use them.
FOUNDATION = {"course_utils._quiet", "course_utils._validate", "course_utils.hub", "course_utils"}
# Who may import the offline teacher, and what the teacher may import.
TEACHER_USERS = {"course_utils.models"}
TEACHER_MAY_IMPORT = {"course_utils.evaluation.constraints"} | FOUNDATION
LLM_CLASSES = {"TransformersLLM", "SharedTransformersLLM", "OfflineTeacher", "SamplingOfflineTeacher",
               "OpenAILLM", "ServerLLM"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The course modules an import statement loads (a package's __init__ included)."""
    targets: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.split(".")[0] == "course_utils"]
        for n in names:
            targets.append(n)
    else:
        if node.level:
            base = importer.split(".")
            if not _is_package(importer):
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        if mod.split(".")[0] != "course_utils":
            return []
        targets.append(mod)
        for alias in node.names:  # `from . import x` where x is a module
            sub = f"{mod}.{alias.name}"
            if sub in MODULES:
                targets.append(sub)
    out = []
    for t in targets:  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = t.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in MODULES and name not in out:
                out.append(name)
    return out


def _imports(name: str) -> tuple[set[str], set[str]]:
    """(course modules imported at module level, course modules imported inside functions)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    top: set[str] = set()
    nested: set[str] = set()

    def visit(node: ast.AST, in_function: bool, in_type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and not in_type_checking:
                targets = [t for t in _resolve(name, child) if t != name]
                if in_function:  # the module asked for, not the packages Python runs on the way
                    targets = [t for t in targets if not any(o.startswith(t + ".") for o in targets)]
                (nested if in_function else top).update(targets)
            fn = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            tc = in_type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            visit(child, fn, tc)

    visit(tree, False, False)
    return top, nested


GRAPH = {name: _imports(name) for name in MODULES}


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_course_imports_are_at_the_top_of_each_file():
    offenders = {name: sorted(t for t in nested - HEAVY_COURSE_MODULES)
                 for name, (_, nested) in GRAPH.items()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"function-level imports of course modules (move them to the top): {offenders}"


def _find_cycle() -> list[str] | None:
    # Edges: module-level imports, minus a module's own package ancestors (Python is already
    # running their __init__ when it imports a module inside them).
    edges = {n: sorted(t for t in top if t not in _ancestors(n)) for n, (top, _) in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = dfs(n)
            if found:
                return found
    return None


def test_no_import_cycle_between_course_modules():
    cycle = _find_cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    GRAPH["course_utils.hub"][0].add("course_utils.models")  # hub -> models -> hub
    try:
        assert _find_cycle() is not None
    finally:
        GRAPH["course_utils.hub"][0].discard("course_utils.models")


def test_only_models_imports_the_offline_teacher():
    users = {n for n, (top, nested) in GRAPH.items()
             if not n.startswith("course_utils.teacher") and
             any(t.startswith("course_utils.teacher") for t in top | nested)}
    assert users <= TEACHER_USERS, f"lesson code imports the offline teacher: {sorted(users - TEACHER_USERS)}"


def test_the_teacher_depends_only_on_constraints_and_its_own_data():
    bad = {n: sorted(t for t in top | nested if not t.startswith("course_utils.teacher") and
                     t not in TEACHER_MAY_IMPORT and t != "course_utils.evaluation")
           for n, (top, nested) in GRAPH.items() if n.startswith("course_utils.teacher")}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"the teacher imports lesson code: {bad}"
    # importing evaluation.constraints runs evaluation/__init__: that must not lead back to the teacher
    constraints_top, _ = GRAPH["course_utils.evaluation.constraints"]
    assert constraints_top <= FOUNDATION | {"course_utils.evaluation"}, constraints_top


def test_only_models_constructs_an_llm():
    found = []
    for name, path in MODULES.items():
        if name == "course_utils.models" or name.startswith("course_utils.teacher"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                if called in LLM_CLASSES:
                    found.append(f"{name}:{node.lineno} {called}(...)")
    assert not found, f"build LLMs in course_utils.models only: {found}"


def test_no_file_is_over_700_lines():
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert not long, f"split these files (one idea each): {long}"


def test_import_course_utils_is_fast_and_light():
    code = ("import sys, time; t = time.perf_counter(); import course_utils; "
            "import course_utils.models, course_utils.parsing, course_utils.prompts, course_utils.checks; "
            "dt = time.perf_counter() - t; "
            "heavy = [m for m in ('torch', 'transformers', 'distilabel', 'sentence_transformers', "
            "'matplotlib', 'datasets', 'ray') if m in sys.modules]; print(dt, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]", heavy
    assert float(seconds) < 0.5, f"importing the light modules took {seconds} s"


@pytest.mark.parametrize("mod", ["course_utils.teacher", "course_utils.evaluation", "course_utils.dedup",
                                 "course_utils.magpie", "course_utils.self_instruct", "course_utils.evol"])
def test_each_package_imports_first_on_a_fresh_interpreter(mod):
    subprocess.run([sys.executable, "-c", f"import {mod}"], check=True, cwd=ROOT)
