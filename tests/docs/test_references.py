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


def test_protocol_names_every_file_of_the_runtime_directory():
    """PROTOCOL.md's list of the runtime directory's files has every file
    wasm/runtime/CMakeLists.txt copies there (it once left out ctrl.mjs)."""
    cmake = (REPO / "wasm" / "runtime" / "CMakeLists.txt").read_text()
    copied = re.search(r"set\(runtime_sources ([^)]*)\)", cmake).group(1).split()
    files = [f for f in copied if not f.startswith("$") and f != "PROTOCOL.md"]
    assert "ctrl.mjs" in files and "worker.mjs" in files
    protocol = (REPO / "wasm" / "runtime" / "PROTOCOL.md").read_text()
    listing = re.search(r"The runtime directory holds (.*?)\n\n", protocol, re.S).group(1)
    named = set(re.findall(r"`([\w./-]+)`", listing))
    assert not set(files) - named, sorted(set(files) - named)
