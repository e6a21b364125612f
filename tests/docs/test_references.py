"""The semantics the code and the tests cite are in the repository: every
`docs/....md` a source file names exists, and every scenario id (S1..S10)
the dynscope tests name is defined in docs/dynamic-scope.md."""
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP = {".git", "node_modules", "__pycache__"}
SOURCES = {".c", ".h", ".py", ".mjs", ".js", ".md", ".yaml", ".txt", ".sh"}
CITED_DOC = re.compile(r"(?<![\w./-])docs/([\w-]+\.md)")
SCENARIO_ID = re.compile(r"\bS(\d{1,2})\b")
DEFINED = re.compile(r"^\*\*S(\d{1,2}),", re.M)


def source_files():
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith("build")]
        for name in files:
            if Path(name).suffix in SOURCES:
                yield Path(root) / name


def test_every_cited_doc_is_in_the_repository():
    missing = set()
    for path in source_files():
        for doc in CITED_DOC.findall(path.read_text(errors="replace")):
            if not (REPO / "docs" / doc).is_file():
                missing.add(f"{path.relative_to(REPO)} cites docs/{doc}")
    assert not missing, sorted(missing)


def test_every_scenario_the_tests_name_is_defined():
    defined = set(DEFINED.findall((REPO / "docs" / "dynamic-scope.md").read_text()))
    assert defined == {str(n) for n in range(1, 11)}
    named = set()
    for path in (REPO / "tests" / "dynscope").glob("*.py"):
        named |= set(SCENARIO_ID.findall(path.read_text()))
    assert named and named <= defined, sorted(named - defined)
