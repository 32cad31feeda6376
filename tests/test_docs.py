"""The README and docs/*.md tell the truth.

- The outputs they show are the commands' own: each is written by a cog block (cogapp) that
  runs the command (tests/docs_outputs.py), and `cog --check` fails when a doc holds anything
  else. `make docs` rewrites them.
- They parse as CommonMark (markdown-it-py): a code fence left open fails.
- In a copy of the project on the small dataset, after a `dvc repro`: every `dvc` and `make`
  command their code blocks show runs, in the order shown (as a reader following it would),
  and every repository path they name exists. It reads whatever the files hold, so it keeps
  working when they are rewritten.

Paths are the relative ones with a `/` in inline code, code blocks and links (`plots/*.png`
and `data/prepared/{train,test}_x.npy` are expanded, `<name>` matches anything); absolute
paths, URLs and `../` are outside the repository and not checked."""

import fnmatch
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from conftest import PROJECT, REAL_DATA_RUN

DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]

# Commands that cannot run in a test, with the reason. Exact text, comments stripped.
NOT_RUN = {
    "make test": "runs this test suite itself (and ruff over the tree)",
    "dvc plots show -o /tmp/report": "writes outside the test's directories",
    "dvc artifacts get REPO gluon-softmax": "REPO is a placeholder; tests/test_registry.py "
    "gets the artifact from a real clone",
    "dvc artifacts get REPO gluon-softmax --rev v0.0.1": "the same",
    "dvc exp run --queue -S train.epochs=30 -S train.lr_schedule=cosine "
    "-S 'train.lr=0.05,0.1,0.5,1.0' -S 'train.momentum=0,0.9'": (
        "8 queued runs, minutes here; tests/test_sweeps.py runs a 2x2 grid the same way"
    ),
    "dvc exp run --run-all -j 2": "the 8-run queue above is not run",
}
# Path-like words that are not repository paths, with the reason.
NOT_PATHS = {
    "./gluon-export/": "where `dvc artifacts get` writes, in any directory",
    "T-shirt/top": "a class name, in predict's output",
    "HTTP/1.1": "an HTTP version, in a status line fetch quotes",
}
# Made by `make`; the tests run in their own venv.
VENV = ".venv/"

MARKDOWN = MarkdownIt("commonmark")
CLOSING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
# cog's own lines: the generator code in HTML comments, not prose.
COG_BLOCK = re.compile(r"^<!-- cog\[\[")
COMMAND = re.compile(r"^(dvc|make)(\s|$)")
PATH_WORD = re.compile(r"^[\w.{},*<>-]+(/[\w.{},*<>-]*)+$")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def split_blocks(text: str) -> tuple[list[list[tuple[int, str]]], str]:
    """([each code block's (line number, line)], the prose with the code blocks and cog's
    generator comments blanked), as a CommonMark parser reads the text."""
    lines = text.splitlines()
    blocks, blank = [], set()
    for token in MARKDOWN.parse(text):
        if token.type in ("fence", "code_block"):
            start, end = token.map
            inner = range(start + 1, end - 1) if token.type == "fence" else range(start, end)
            blocks.append([(number + 1, lines[number]) for number in inner if number < len(lines)])
            blank.update(range(start, end))
        elif token.type == "html_block" and COG_BLOCK.match(token.content):
            blank.update(range(*token.map))
    prose = "\n".join("" if number in blank else line for number, line in enumerate(lines))
    return blocks, prose


def unclosed_fences(text: str) -> list[int]:
    """Line numbers of code fences that no closing fence ends (CommonMark then makes code of
    everything up to the end of the document)."""
    lines = text.splitlines()
    return [
        token.map[0] + 1
        for token in MARKDOWN.parse(text)
        if token.type == "fence"
        and not (
            token.map[1] - 1 > token.map[0]
            and (closing := CLOSING_FENCE.match(lines[token.map[1] - 1]))
            and closing.group(1)[0] == token.markup[0]
            and len(closing.group(1)) >= len(token.markup)
        )
    ]


def join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines ending in a backslash joined with the next, under the first one's number."""
    joined, pending = [], None
    for number, line in lines:
        if pending:
            number, line = pending[0], pending[1] + " " + line.strip()
        pending = (number, line.rstrip()[:-1].rstrip()) if line.rstrip().endswith("\\") else None
        if not pending:
            joined.append((number, line))
    return joined


def commands(text: str) -> list[tuple[int, str]]:
    """The `dvc`/`make` lines of the code blocks, `$ ` prompts and `# comments` removed; in a
    block with prompts only the prompted lines are commands, the rest is their output."""
    found = []
    for block in split_blocks(text)[0]:
        prompted = any(line.startswith("$ ") for _, line in block)
        for number, line in join_continuations(block):
            if prompted and not line.startswith("$ "):
                continue
            line = re.sub(r"\s+#.*$", "", line.removeprefix("$ ")).strip()
            if COMMAND.match(line):
                found.append((number, line))
    return found


def path_words(text: str, doc: Path) -> set[str]:
    """The repository paths the text names, relative to the project root."""
    blocks, prose = split_blocks(text)
    pieces = [piece for span in INLINE_CODE.findall(prose) for piece in span.split()]
    pieces += [piece for block in blocks for _, line in block for piece in line.split()]
    words = {piece.strip("'\"(),:;") for piece in pieces}
    words = {word for word in words if PATH_WORD.match(word)}
    for target in LINK.findall(prose):
        target = target.split("#")[0]
        if target and "://" not in target and not target.startswith("/"):
            resolved = (doc.parent / target).resolve()
            if resolved.is_relative_to(PROJECT):
                words.add(resolved.relative_to(PROJECT).as_posix())
    return {word for word in words if not word.startswith(("/", "~", ".."))}


def expand(word: str) -> list[str]:
    """Braces expanded, `<placeholder>` as `*`, a trailing `/` dropped: glob patterns."""
    word = re.sub(r"<[^>]*>", "*", word).rstrip("/")
    match = re.search(r"\{([^{}]*)\}", word)
    if not match:
        return [word]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in expand(word[: match.start()] + choice + word[match.end() :])
    ]


def tree(root: Path) -> set[str]:
    """Every file and directory under root, as relative paths (git's own files left out)."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.parts}


def exists(word: str, present: set[str]) -> bool:
    """Every expansion matches a path, from the root or, for a module, from src/."""
    return all(
        fnmatch.filter(present, pattern) or fnmatch.filter(present, "src/" + pattern)
        for pattern in expand(word)
    )


def missing_paths(words, present: set[str]) -> list[str]:
    return sorted(
        word
        for word in words
        if word not in NOT_PATHS and not word.startswith(VENV) and not exists(word, present)
    )


# `make` as a reader would run it, but with the venv the tests run in and without apt-get.
MAKE = 'make() { command make -o .venv/.installed -o data-source "$@"; }\n'


def run_commands(project, doc: Path, shown, ran: set) -> list[str]:
    """Run what doc shows, except what an earlier doc already ran: the docs are read one
    after another in one project, so a command shown twice (the tuned experiment, a queue)
    runs once."""
    failures = []
    for number, command in shown:
        if command in NOT_RUN or command in ran:
            continue
        ran.add(command)
        started = time.monotonic()
        result = project.run("bash", "-c", MAKE + command, check=False, timeout=600)
        if result.returncode != 0:
            failures.append(
                f"{doc.name} line {number}: `{command}` exited {result.returncode} after "
                f"{time.monotonic() - started:.0f} s:\n"
                f"{(result.stdout + result.stderr)[-1500:]}"
            )
    return failures


def stop_queue_workers(project) -> None:
    """`dvc queue start` leaves a worker running: stop it, and wait (bounded) until it is."""
    project.dvc("queue", "stop", "--kill", check=False)
    for _ in range(30):
        if "0 active" in project.dvc("queue", "status", check=False).stdout:
            return
        time.sleep(1)


@pytest.mark.expensive("every command README.md and docs/*.md show, run in one project")
def test_every_command_shown_runs_and_every_path_named_exists(reproduced_project):
    """All docs in one project, README first, as a reader would go from it to the docs."""
    project = reproduced_project
    project.commit("a run on the small dataset")
    present, failures, ran = tree(project.root), [], set()
    try:
        for doc in DOCS:
            failures += run_commands(project, doc, commands(doc.read_text()), ran)
            present |= tree(project.root)
    finally:
        if any("queue" in command for command in ran):
            stop_queue_workers(project)
    for doc in DOCS:
        words = path_words(doc.read_text(), doc)
        missing = missing_paths(words, present)
        assert not missing, f"{doc.name} names paths that do not exist after a run: {missing}"
        needless = sorted(word for word in words & NOT_PATHS.keys() if exists(word, present))
        assert not needless, f"these exist now, remove them from NOT_PATHS: {needless}"
    assert not failures, "commands that fail:\n" + "\n\n".join(failures)


def test_the_allow_lists_hold_nothing_the_docs_no_longer_show():
    shown = {command for doc in DOCS for _, command in commands(doc.read_text())}
    named = set().union(*(path_words(doc.read_text(), doc) for doc in DOCS))
    unused = [c for c in NOT_RUN if c not in shown] + [w for w in NOT_PATHS if w not in named]
    assert not unused, f"remove from tests/test_docs.py, no doc shows them now: {unused}"


SAMPLE = """Run `python stages/fetch.py --raw-dir data/raw`, see [docs](docs/x.md#a) and
![a picture](plots/samples.png), not `/usr/share/x/y`, `http://h/p` or `../remote/x`.

```bash
dvc exp run -S train.lr=0.3     # one change
make \\
  push
pip install "dvc[s3]"
```

```
$ dvc metrics show
Path                         gluon
metrics/test_accuracy.json   0.8
dvc output that is not a command
```
Files: `data/prepared/{train,test}_x.npy`, `metrics/<metric>.json`.
"""


def test_commands_and_paths_are_read_from_code_blocks_prose_and_links():
    assert commands(SAMPLE) == [
        (5, "dvc exp run -S train.lr=0.3"),
        (6, "make push"),
        (12, "dvc metrics show"),
    ]
    assert path_words(SAMPLE, PROJECT / "README.md") == {
        "stages/fetch.py",
        "data/raw",
        "docs/x.md",
        "plots/samples.png",
        "metrics/test_accuracy.json",
        "data/prepared/{train,test}_x.npy",
        "metrics/<metric>.json",
    }
    assert expand("data/prepared/{train,test}_{x,y}.npy") == [
        "data/prepared/train_x.npy",
        "data/prepared/train_y.npy",
        "data/prepared/test_x.npy",
        "data/prepared/test_y.npy",
    ]
    present = {
        "data",
        "data/prepared",
        "data/prepared/train_x.npy",
        "metrics",
        "metrics/log_loss.json",
        "src/fmnist/guards/stage_runner.py",
    }
    assert missing_paths(
        {
            "data/prepared/{train,test}_x.npy",
            "metrics/<metric>.json",
            "data/",
            "fmnist/guards/stage_runner.py",
            "fmnist/gone.py",
        },
        present,
    ) == ["data/prepared/{train,test}_x.npy", "fmnist/gone.py"]


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_every_code_fence_is_closed(doc):
    assert unclosed_fences(doc.read_text()) == [], f"{doc.name}: unclosed fence at these lines"


def test_an_unclosed_fence_and_a_fence_closed_with_text_are_found():
    assert unclosed_fences("a\n\n```\ncode\n```\n\ntext\n") == []
    assert unclosed_fences("a\n\n```bash\ncode\n``` and text\n\nmore\n") == [3]
    assert unclosed_fences("~~~~\ncode\n~~~\n") == [1]  # a shorter fence does not close it
    assert unclosed_fences("```\n") == [1]


@pytest.mark.expensive("cog reruns every command whose output a doc shows, on the real data")
def test_every_output_the_docs_show_is_what_the_command_prints(real_data_run):
    """cog reruns every block (in a copy of the suite's run on the real data, and a clone of it
    after the README's tuned experiment) and compares; its message names the file that
    differs. Fix: `make docs`."""
    result = subprocess.run(
        [sys.executable, "tests/docs_outputs.py", "--check"],
        cwd=PROJECT,
        env={**os.environ, REAL_DATA_RUN: str(real_data_run.project_root)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
