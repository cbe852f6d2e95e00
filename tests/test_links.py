"""Links and badges: every relative link and image resolves; every badge matches the configured slug."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from tools.notebooks import all_notebooks, badge_problems, colab_badge, course_config

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)|<img[^>]+src=[\"']([^\"']+)[\"']")


def _markdown_sources():
    yield ROOT / "README.md", (ROOT / "README.md").read_text(encoding="utf-8")
    for extra in ("INSTRUCTORS.md", "CONTRIBUTING.md", "GLOSSARY.md", "images/README.md"):
        if (ROOT / extra).exists():
            yield ROOT / extra, (ROOT / extra).read_text(encoding="utf-8")
    for path in all_notebooks():
        nb = nbformat.read(path, as_version=4)
        yield path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _relative_links():
    for path, text in _markdown_sources():
        for m in LINK.finditer(text):
            target = m.group(1) or m.group(2)
            if re.match(r"^(https?:|mailto:|#|data:)", target):
                continue
            yield path, target


@pytest.mark.parametrize("path,target", list(_relative_links()), ids=lambda x: str(x)[-60:])
def test_relative_link_resolves(path, target):
    file_part = unquote(target.split("#", 1)[0])
    assert (path.parent / file_part).exists(), f"{path.relative_to(ROOT)} links to missing {target}"


def test_every_notebook_badge_and_install_url_match_the_slug(monkeypatch):
    """Change the slug in one place and the check sees every badge and install cell disagree."""
    from tools import notebooks

    assert not badge_problems(), "run `python tools/notebooks.py badges`"
    monkeypatch.setattr(notebooks, "course_config", lambda: {"repo_slug": "someone/fork", "branch": "main"})
    assert len(notebooks.badge_problems()) >= len(all_notebooks())


def test_every_notebook_badge_matches_the_slug():
    assert not badge_problems(), "run `python tools/notebooks.py badges`"


def test_readme_repository_links_use_the_slug():
    slug = course_config()["repo_slug"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # the course's own links; an upstream issue cited as a source (github.com/x/y/issues/N) is not one
    for url in re.findall(r"https://(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+)"
                          r"(?![\w.-])(?!/(?:issues|pull)/\d)", readme):
        assert url == slug, f"README links to {url}, configured slug is {slug}"
    assert colab_badge("notebooks/00_setup.ipynb").count(slug) == 1


def test_notebook_links_work_when_a_notebook_opens_alone():
    """Colab opens a notebook without the repository beside it: links and figures must be absolute
    URLs built from the slug (and point at files that exist), and the install cell must not reinstall."""
    from tools.notebooks import link_problems

    problems = link_problems()
    assert not problems, "run `python tools/notebooks.py badges`: " + "; ".join(problems[:10])


def test_absolute_urls_map_back_to_the_repository():
    from tools.notebooks import absolute_url, local_path_of

    url = absolute_url("notebooks/09_end_to_end_pipeline.ipynb", "../images/capstone_pipeline.png")
    assert url.startswith("https://raw.githubusercontent.com/") and local_path_of(url).exists()
    url = absolute_url("notebooks/08_evaluation.ipynb", "02_self_instruct.ipynb#recap")
    assert url.startswith("https://colab.research.google.com/github/") and url.endswith("#recap")
    assert local_path_of(url).name == "02_self_instruct.ipynb"
    assert local_path_of(absolute_url("notebooks/01_basic_prompting.ipynb", "../nope.md")).exists() is False


def test_the_install_cell_installs_only_when_the_course_is_missing():
    from tools.notebooks import guarded_install

    cell = ('import sys\n\nIN_COLAB = "google.colab" in sys.modules\nif IN_COLAB:\n'
            '    %pip install -q "x"\nelse:\n    print("Not on Colab")')
    guarded = guarded_install(cell)
    assert 'find_spec("course_utils") is None' in guarded and guarded_install(guarded) == guarded
