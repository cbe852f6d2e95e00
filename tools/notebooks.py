"""Notebook tooling for maintainers: exercises from solutions, headless runs, Colab badges.

Exercises have one source, the solution notebook. In `solutions/NN_*.ipynb`, solution code sits
between `### BEGIN SOLUTION` and `### END SOLUTION`; an optional `### HINT: ...` line inside the
block becomes the hint (a pointer to the idea or the function to use, never the answer). The
exercise notebook has no outputs, and an unfilled exercise runs top to bottom and reaches its
check, which prints "❌ not implemented yet — Hint: ..." (see `strip_solution`):

- a block inside a function becomes `raise NotImplementedError("Hint: ...")`; the checks call the
  learner's function through `checks.common._safe_call` and report that exception with its hint;
- a block at module level becomes `name = checks.todo("Hint: ...")` for every name it binds, so no
  later cell ends in a NameError; a check given a `checks.todo` placeholder reports its hint;
- the cell's other lines that use a stub before the check (a demo print, a run of the loop) are
  wrapped in `with checks.when_done(...):`, which skips them with one line until the stub is
  written; the names they bind start as placeholders. The check call itself is never wrapped.

`tests/test_exercises_run.py` runs every exercise notebook unfilled and asserts exactly that.

Run from anywhere (paths come from this file's location, not from an installed package):

    python tools/notebooks.py exercises         # regenerate exercises/ from solutions/
    python tools/notebooks.py check             # fail if exercises/ is stale (or none are found)
    python tools/notebooks.py execute FILE...   # run in place, rewriting outputs
    python tools/notebooks.py badges            # rewrite every "Open in Colab" badge from the slug

`exercises`, `check` and `badges` take `--root DIR` (default: this repository). Finding no
notebook is an error, never "current". The repository slug lives in one place,
`[tool.course] repo_slug` in pyproject.toml. Not part of the installed package.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
TODO, GUARD = "checks.todo", "checks.when_done"  # see course_utils/checks/common.py
_BLOCK = re.compile(
    r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M
)
_BADGE = re.compile(
    r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
    r"\([^)]*\)"
)
_INSTALL_URL = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+@[\w./-]+")
_NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


class NoNotebooksError(FileNotFoundError):
    """No course notebook was found where one was expected (a wrong root, a moved folder)."""


def _hint(body: str) -> str:
    hints = (ln.split(HINT, 1)[1].strip() for ln in body.splitlines() if HINT in ln)
    return next(hints, "see the markdown above")


def _targets(node: ast.AST) -> list[str]:
    """Names an assignment target binds (a, (a, b), [a, *b])."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for elt in node.elts for n in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def _binds(stmt: ast.stmt) -> list[str]:
    """Names a top-level statement binds by assignment or definition (imports excluded)."""
    if isinstance(stmt, ast.Assign):
        return [n for t in stmt.targets for n in _targets(t)]
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return _targets(stmt.target)
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    return []


def _module_stub(body: str, message: str) -> str:
    """A module-level block becomes one `checks.todo` placeholder for every name it binds."""
    try:
        tree = ast.parse(textwrap.dedent(body))
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    names = list(dict.fromkeys(n for s in tree.body for n in _binds(s) if n != "_"))
    if not names:  # nothing to stand in for: leave the hint as a comment
        return f"# YOUR CODE HERE ({message[1:-1]})"
    plural = "s" if len(names) > 1 else ""
    return (f"# YOUR CODE HERE: replace the placeholder{plural} below\n"
            f"{' = '.join(names)} = {TODO}({message})")


def _is_check(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr.startswith("check_")
               and isinstance(n.value, ast.Name) and n.value.id == "checks" for n in ast.walk(stmt))


def _is_placeholder(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
            and ast.unparse(stmt.value.func) == TODO)


def _has_multiline_string(stmt: ast.stmt) -> bool:
    return any(isinstance(n, (ast.Constant, ast.JoinedStr)) and n.lineno != n.end_lineno
               for n in ast.walk(stmt) if hasattr(n, "lineno"))


def _guard_demo_lines(source: str) -> str:
    """Wrap the lines that use a stub (and are not its check) in `with checks.when_done(...)`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with IPython magics: leave it alone
        return source
    lines = source.splitlines(keepends=True)
    pending: set[str] = set()       # stub functions and placeholders defined so far in this cell
    placeholders: set[str] = set()  # the names that hold a Todo
    groups: list[list[ast.stmt]] = []
    group_args: list[list[str]] = []  # the placeholders each group uses: errors then are skipped
    previous_guarded = False
    for stmt in tree.body:
        segment = "".join(lines[stmt.lineno - 1:stmt.end_lineno])
        used = {n.id for n in ast.walk(stmt)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        guarded = False
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            (pending.add if "# YOUR CODE HERE" in segment else pending.discard)(stmt.name)
        elif _is_placeholder(stmt):
            names = set(_binds(stmt))
            pending |= names
            placeholders |= names
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)) or _is_check(stmt):
            pass
        elif used & pending and not _has_multiline_string(stmt):
            guarded = True
            if not previous_guarded:
                groups.append([])
                group_args.append([])
            groups[-1].append(stmt)
            group_args[-1] += [n for n in sorted(used)
                               if n in placeholders and n not in group_args[-1]]
        else:
            pending -= set(_binds(stmt))
            placeholders -= set(_binds(stmt))
        if guarded:  # what it binds is a placeholder too until it can run
            bound = {n for n in _binds(stmt) if n != "_"}
            pending |= bound
            placeholders |= bound
        previous_guarded = guarded
    if not groups:
        return source
    out, cursor = [], 0
    for group, args in zip(groups, group_args):
        first, last = group[0].lineno - 1, group[-1].end_lineno
        out.append("".join(lines[cursor:first]))
        bound = list(dict.fromkeys(n for s in group for n in _binds(s) if n != "_"))
        if bound:
            out.append(f"{' = '.join(bound)} = {TODO}()  # until the lines below can run\n")
        out.append(f"with {GUARD}({', '.join(args)}):  # skipped until the code above is written\n")
        out.append("".join(f"    {ln}" if ln.strip() else ln for ln in lines[first:last]))
        cursor = last
    out.append("".join(lines[cursor:]))
    return "".join(out)


def strip_solution(source: str) -> str:
    """Replace every solution block in a cell's source with a stub that reaches its check.

    A block inside a function becomes `raise NotImplementedError("Hint: ...")`; a block at module
    level becomes `name = checks.todo("Hint: ...")` for each name it binds (no NameError later).
    Lines of the cell that use a stub before its check are wrapped in `with checks.when_done(...):`
    so that they are skipped, not crashed, until the stub is written (course_utils.checks.common).
    """

    def stub(m: re.Match) -> str:
        indent, body = m.group(1), m.group(2)
        # valid Python, quotes escaped
        message = json.dumps(f"Hint: {_hint(body)}", ensure_ascii=False)
        if not indent:
            return _module_stub(body, message)
        return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError({message})"

    stubbed = _BLOCK.sub(stub, source)
    return stubbed if stubbed == source else _guard_demo_lines(stubbed)


def make_exercise(solution):
    """Return the exercise notebook (nbformat node) generated from a solution notebook."""
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solution(cell.source)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":  # the badge and title point at the exercise itself
            cell.source = re.sub(r"(/blob/[^/]+/)solutions/", r"\1exercises/", cell.source)
            cell.source = cell.source.replace("(solutions)", "(exercises)")
    nb.metadata.pop("widgets", None)
    return nb


def solution_pairs(root: Path = ROOT) -> list[tuple[Path, Path]]:
    """(solution, exercise) paths under `root`; NoNotebooksError when there is no solution."""
    root = Path(root)
    pairs = [(s, root / "exercises" / s.name)
             for s in sorted((root / "solutions").glob(_NOTEBOOK_GLOB))]
    if not pairs:
        raise NoNotebooksError(f"no solution notebooks ({_NOTEBOOK_GLOB}) in {root / 'solutions'}")
    return pairs


def write_exercises(root: Path = ROOT) -> list[Path]:
    """Regenerate every exercise notebook from its solution notebook."""
    import nbformat

    written = []
    for sol, ex in solution_pairs(root):
        nbformat.write(make_exercise(nbformat.read(sol, as_version=4)), ex)
        written.append(ex)
    return written


def stale_exercises(root: Path = ROOT) -> list[str]:
    """Names of exercise notebooks that differ from what their solutions generate (or missing)."""
    import nbformat

    stale = []
    for sol, ex in solution_pairs(root):
        want = nbformat.writes(make_exercise(nbformat.read(sol, as_version=4)))
        if not ex.exists() or nbformat.writes(nbformat.read(ex, as_version=4)) != want:
            stale.append(ex.name)
    return stale


def course_config() -> dict:
    """The `[tool.course]` table of pyproject.toml (repository slug and branch)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["tool"]["course"]


def colab_badge(relpath: str) -> str:
    """The Markdown "Open in Colab" badge for a notebook path relative to the repository root."""
    cfg = course_config()
    url = (f"https://colab.research.google.com/github/{cfg['repo_slug']}"
           f"/blob/{cfg['branch']}/{relpath}")
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def install_url() -> str:
    """The pip URL the Colab install cell uses: the configured slug at the configured branch."""
    cfg = course_config()
    return f"git+https://github.com/{cfg['repo_slug']}@{cfg['branch']}"


def all_notebooks(root: Path = ROOT) -> list[Path]:
    """Every course notebook (lessons, solutions, exercises); NoNotebooksError when none."""
    root = Path(root)
    found = [p for d in ("notebooks", "solutions", "exercises")
             for p in sorted((root / d).glob(_NOTEBOOK_GLOB))]
    if not found:
        raise NoNotebooksError(f"no course notebooks ({_NOTEBOOK_GLOB}) under {root}")
    return found


def badge_problems(root: Path = ROOT) -> list[str]:
    """Notebooks whose badge or Colab install URL disagrees with the configured slug."""
    import nbformat

    problems = []
    for path in all_notebooks(root):
        rel = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        if colab_badge(rel) not in nb.cells[0].source:
            problems.append(rel)
        code = (c.source for c in nb.cells if c.cell_type == "code")
        urls = {u for src in code for u in _INSTALL_URL.findall(src)}
        if urls - {install_url()}:
            problems.append(f"{rel} (install cell)")
    return problems


_ABSOLUTE = re.compile(r"^(https?:|mailto:|#|data:)")  # a target that needs no rewriting
_MD_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s]+)(\))")
_INSTALL_GUARD_OLD = "if IN_COLAB:\n    %pip install"
_INSTALL_GUARD = ('if IN_COLAB and importlib.util.find_spec("course_utils") is None:\n'
                  "    %pip install")
_ALREADY = ('elif IN_COLAB:\n'
            '    print("The course is already installed in this session: nothing to do.")\n')


def absolute_url(notebook_rel: str, target: str) -> str:
    """The URL a notebook opened alone (on Colab) can follow for a link relative to the notebook.

    Notebooks open in Colab, images come from the raw file, anything else from GitHub's page.
    Targets that are already URLs or anchors are returned unchanged.
    """
    if _ABSOLUTE.match(target):
        return target
    cfg = course_config()
    path, _, anchor = target.partition("#")
    repo_path = (Path(notebook_rel).parent / path).as_posix()
    parts: list[str] = []
    for part in repo_path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    repo_path = "/".join(parts)
    slug, branch = cfg["repo_slug"], cfg["branch"]
    if repo_path.endswith(".ipynb"):
        url = f"https://colab.research.google.com/github/{slug}/blob/{branch}/{repo_path}"
    elif re.search(r"\.(png|jpe?g|gif|svg)$", repo_path, re.I):
        url = f"https://raw.githubusercontent.com/{slug}/{branch}/{repo_path}"
    else:
        url = f"https://github.com/{slug}/blob/{branch}/{repo_path}"
    return url + (f"#{anchor}" if anchor else "")


def local_path_of(url: str, root: Path = ROOT) -> Path | None:
    """The repository file an absolute course URL points at (None for other URLs)."""
    cfg = course_config()
    slug, branch = re.escape(cfg["repo_slug"]), re.escape(cfg["branch"])
    m = re.match(rf"^https://(?:colab\.research\.google\.com/github/{slug}/blob/{branch}/|"
                 rf"raw\.githubusercontent\.com/{slug}/{branch}/|github\.com/{slug}/blob/{branch}/)"
                 r"([^#?]+)", url)
    return Path(root) / m.group(1) if m else None


def guarded_install(source: str) -> str:
    """The Colab install cell, installing only when `course_utils` cannot be imported yet."""
    if _INSTALL_GUARD_OLD not in source or "find_spec" in source:
        return source
    source = source.replace("# Installs the course on Google Colab only; elsewhere this cell does nothing.",
                            "# Installs the course on Google Colab, only when it is not installed yet; "
                            "elsewhere this cell\n# does nothing.", 1)
    source = source.replace("import sys\n", "import importlib.util\nimport sys\n", 1)
    source = source.replace(_INSTALL_GUARD_OLD, _INSTALL_GUARD, 1)
    return source.replace("\nelse:\n", "\n" + _ALREADY + "else:\n", 1)


def link_problems(root: Path = ROOT) -> list[str]:
    """Relative links in notebooks (they break when Colab opens one alone) and URLs to missing files."""
    import nbformat

    problems = []
    for path in all_notebooks(root):
        rel = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        for cell in (c for c in nb.cells if c.cell_type == "markdown"):
            for _, target, _ in _MD_LINK.findall(cell.source):
                if not _ABSOLUTE.match(target):
                    problems.append(f"{rel}: relative link {target}")
                elif (local := local_path_of(target, root)) is not None and not local.exists():
                    problems.append(f"{rel}: {target} -> missing {local.relative_to(root)}")
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            if "%pip install" in cell.source and "find_spec" not in cell.source:
                problems.append(f"{rel}: the install cell reinstalls an importable course")
    return problems


def write_badges(root: Path = ROOT) -> list[Path]:
    """Rewrite each notebook's badge (first cell) and Colab install URL; return changed files."""
    import nbformat

    changed = []
    for path in all_notebooks(root):
        rel = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        cell = nb.cells[0]
        if _BADGE.search(cell.source):
            new = _BADGE.sub(colab_badge(rel), cell.source)
        else:
            new = colab_badge(rel) + "\n\n" + cell.source
        dirty = new != cell.source
        cell.source = new
        for code in (c for c in nb.cells if c.cell_type == "code"):
            fixed = guarded_install(_INSTALL_URL.sub(install_url(), code.source))
            dirty |= fixed != code.source
            code.source = fixed
        for md in (c for c in nb.cells if c.cell_type == "markdown"):
            fixed = _MD_LINK.sub(lambda m: m.group(1) + absolute_url(rel, m.group(2)) + m.group(3), md.source)
            dirty |= fixed != md.source
            md.source = fixed
        if dirty:
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def execute(path: Path, timeout: int = 600) -> None:
    """Execute a notebook top to bottom on a fresh kernel and write the outputs back in place."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    for cell in nb.cells:  # keep the files small and diffs stable
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # widget state changes on every run; views render live
    nbformat.write(nb, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python tools/notebooks.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("exercises", "regenerate exercises/ from solutions/"),
                       ("check", "fail if exercises/ is stale"),
                       ("badges", "rewrite every Colab badge, install cell and link from the slug")):
        sub.add_parser(name, help=text).add_argument("--root", type=Path, default=ROOT)
    run = sub.add_parser("execute", help="run notebooks in place, rewriting their outputs")
    run.add_argument("files", nargs="+", type=Path)
    return parser


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _run(args: argparse.Namespace) -> int:
    if args.command == "exercises":
        for p in write_exercises(args.root):
            print(f"wrote {_rel(p, args.root)}")
    elif args.command == "badges":
        for p in write_badges(args.root):
            print(f"rewrote badge in {_rel(p, args.root)}")
    elif args.command == "check":
        pairs, stale = solution_pairs(args.root), stale_exercises(args.root)
        if stale:
            print(f"Stale exercise notebooks: {', '.join(stale)}. Run `make exercises`.")
            return 1
        print(f"Exercises are current ({len(pairs)} checked).")
    else:
        for name in args.files:
            print(f"executing {name}", flush=True)
            execute(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except NoNotebooksError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
