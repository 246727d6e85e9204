"""The repository explains itself: every ``docs/…`` reference resolves, and nothing points at a
document the reader does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = re.compile(r"docs/([a-z0-9_-]+\.md)(?:#([a-z0-9_-]+))?")
# Links inside docs/ itself: "sending.md#pacing", "(#known-limits)".
LOCAL_LINK = re.compile(r"\]\(([a-z0-9_-]+\.md)?(?:#([a-z0-9_-]+))?\)")


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    suffixes = {".py", ".md", ".yml", ".yaml", ".sh", ".toml", ".ini", ".html", ".js", ".css"}
    return [
        ROOT / name
        for name in listed
        if (Path(name).suffix in suffixes or Path(name).name in ("Dockerfile", "Makefile"))
        and (ROOT / name).is_file()
    ]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {
        _anchor(line.lstrip("#"))
        for line in page.read_text().splitlines()
        if re.match(r"#{1,6} ", line)
    }


def test_every_docs_reference_resolves() -> None:
    broken = []
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        found = [(name, anchor) for name, anchor in REFERENCE.findall(text)]
        if path.parent == DOCS:
            found += [(name or path.name, anchor) for name, anchor in LOCAL_LINK.findall(text)]
        for name, anchor in found:
            page = DOCS / name
            if not page.exists():
                broken.append(f"{path.relative_to(ROOT)}: docs/{name} does not exist")
            elif anchor and anchor not in _anchors(page):
                broken.append(f"{path.relative_to(ROOT)}: docs/{name}#{anchor} has no heading")
    assert not broken, "\n".join(broken)


def test_nothing_cites_a_document_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|SPEC\.md|SPEC §")
    offending = [
        str(path.relative_to(ROOT))
        for path in _tracked_text_files()
        if path != Path(__file__) and outside.search(path.read_text(errors="replace"))
    ]
    assert not offending


def test_the_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text()
    pages = {page.name for page in DOCS.glob("*.md")} - {"README.md"}
    assert pages and all(f"({page})" in index for page in pages)
