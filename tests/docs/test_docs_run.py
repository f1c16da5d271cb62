"""The docs run. Every code block in README.md and docs/*.md is checked:

* a Python block that declares scenarios is a load script: it is loaded and
  run for a second against the reference target (seeded with the certctl
  fixture);
* any other Python block is executed as it stands;
* every ``fleetload ...`` command line in a shell block (continuation lines
  joined, also after ``--`` or ``VAR=value`` prefixes, and ``python -m
  fleetload``) names a real subcommand and, for ``run``/``ceiling``/``init``,
  a real pack or a script file, and every ``--flag`` (and ``-x`` short flag)
  it uses is one that command (or the pack it runs) documents in its
  ``--help``; ``python -m fleetplane ...`` lines (the reference target) alike;
* ``python bench/NAME.py`` lines use options the script declares, ``pip
  install`` lines name real extras, ``make`` lines real targets, and the
  ``scripts/``, ``bench/`` and ``tests/`` paths a command names exist;
* a JSON, YAML, INI or TOML block parses.

A block that is only a fragment (it shows part of something, or needs a
server that is not here) is marked with ``<!-- fragment: why -->`` on the
line before its fence; such blocks are listed but not run.
"""

from __future__ import annotations

import ast
import configparser
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import RunningTarget, start_target
from fleetplane.seed import seed_database
from tests.conftest import ROOT, run_cli

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)")
_MARK = re.compile(r"<!--\s*fragment:\s*(.+?)\s*-->")
SHELL = {"sh", "bash", "shell", "console", ""}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str
    fragment: str | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    out = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = _FENCE.match(lines[i])
            if not m:
                i += 1
                continue
            start, lang = i, m.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            mark = _MARK.search(prev)
            out.append(Block(path, start + 1, lang, "\n".join(lines[start + 1:j]),
                             mark.group(1) if mark else None))
            i = j + 1
    return out


ALL = blocks()
SCRIPTS = [b for b in ALL if b.lang == "python" and not b.fragment
           and ("@scenario" in b.text or re.search(r"^scenarios\s*=", b.text, re.M))]
PYTHON = [b for b in ALL if b.lang == "python" and not b.fragment and b not in SCRIPTS]
_SHELL_END = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "<"}


def _logical_lines(text: str) -> list[str]:
    """The block's command lines with ``\\`` continuations joined and ``# comments``
    cut; in a transcript (lines with a ``$ `` prompt) only the prompted lines."""
    lines = text.splitlines()
    if any(line.startswith("$ ") for line in lines):
        lines = [line for k, line in enumerate(lines) if line.startswith("$ ")
                 or (k > 0 and lines[k - 1].endswith("\\"))]
    out: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.split(" #", 1)[0].rstrip()
        if line.lstrip().startswith("#"):
            line = ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _invocation(line: str) -> tuple[str, list[str]] | None:
    """``(program, words after it)`` when the line runs ``fleetload`` (at the
    start, after ``VAR=value`` prefixes or after a ``--``) or ``python -m
    fleetload|fleetplane``, up to a pipe or redirection."""
    try:
        words = shlex.split(line.lstrip().removeprefix("$ "))
    except ValueError:
        return None
    for i, w in enumerate(words):
        prefix = words[:i]
        command = w == "fleetload" and (
            prefix[-1:] == ["--"] or all("=" in x and not x.startswith("-") for x in prefix))
        module = w in ("fleetload", "fleetplane") and prefix[-1:] == ["-m"]
        if command or module:
            rest = words[i + 1:]
            end = next((k for k, x in enumerate(rest) if x in _SHELL_END), len(rest))
            return w, rest[:end]
    return None


def _unparsable(line: str) -> bool:
    try:
        shlex.split(line)
    except ValueError:
        return True
    return False


COMMANDS = [(b, line) for b in ALL if b.lang in SHELL and not b.fragment
            for line in _logical_lines(b.text) if _invocation(line) is not None
            or (re.search(r"\bfleet(load|plane)\b", line) and _unparsable(line))]


@pytest.fixture(scope="module")
def target() -> Iterator[RunningTarget]:
    with start_target() as t:
        seed_database(t.argv[t.argv.index("--db") + 1], certs=10_000, agents=5_000)
        yield t


@pytest.mark.parametrize("block", SCRIPTS, ids=lambda b: b.id)
def test_script_blocks_run(block: Block, target: RunningTarget, tmp_path: Path) -> None:
    script = tmp_path / "doc_script.py"
    script.write_text(block.text + "\n", encoding="utf-8")
    r = run_cli("run", str(script), "--duration", "1s", "--target", target.url, "--token",
                target.api_key, "--quiet", "--out", str(tmp_path / "run"),
                "--allow-inconclusive", "-e", f"TOKEN={target.api_key}", timeout=120)
    # exit 99 (a threshold failed in one second) still means the script ran
    assert r.code in (0, 99), f"{block.id}: {r.stderr[-1500:]}"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    scenarios = summary["scenarios"]
    # ... did something, and without raising: an exception is a broken example
    done = sum(sc["iterations"] + _fleet_work(sc.get("fleet")) for sc in scenarios.values())
    assert done > 0, f"{block.id}: no iteration ran, no agent registered"
    raised = {name: sc["failures"]["iteration_errors"] or (sc.get("fleet") or {}).get("errors")
              for name, sc in scenarios.items()}
    assert not any(raised.values()), f"{block.id}: the script raised: {raised}"


def _fleet_work(fleet: dict[str, Any] | None) -> int:
    """Registrations and heartbeats a fleet scenario got through (its hooks ran)."""
    if not fleet:
        return 0
    regs = fleet["registrations"]
    assert not regs["failed"], f"registrations failed: {fleet['errors']}"
    return int(regs["active"] + regs["pending"] + fleet["heartbeats"]["sent"])


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_blocks_run(block: Block, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    p = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, f"{block.id}: {p.stderr[-1500:]}"


@functools.cache
def help_text(program: str, *words: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run([sys.executable, "-m", program, *words, "--help"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, f"{program} {' '.join(words)} --help: {p.stderr[-500:]}"
    return p.stdout


def _command_words(program: str, argv: list[str]) -> list[str]:
    """The subcommand path (``baseline record``) and, for run/ceiling, the pack."""
    words = [argv[0]]
    top = help_text(program)
    assert f"  {argv[0]} " in top or top.rstrip().endswith(f"  {argv[0]}"), \
        f"{program} has no subcommand {argv[0]!r}"
    if program != "fleetload":
        return words
    if argv[0] in ("baseline", "runs") and len(argv) > 1 and not argv[1].startswith("-") \
            and f"  {argv[1]} " in help_text(program, argv[0]):
        words.append(argv[1])
    if argv[0] in ("run", "ceiling", "init") and len(argv) > 1 and not argv[1].startswith("-") \
            and "/" not in argv[1] and not argv[1].endswith(".py"):
        # a pack: its parameters are in its --help. `run NAME --help` shows the
        # plain run help for any NAME, so the name is checked against the list.
        assert argv[1] in packs() or argv[1] in ("SCRIPT", "PACK", "SCRIPT_OR_PACK"), \
            f"no pack {argv[1]!r} (fleetload init --list: {', '.join(sorted(packs()))})"
        if argv[1] in packs():
            words.append(argv[1])
    return words


@functools.cache
def packs() -> frozenset[str]:
    r = run_cli("init", "--list")
    assert r.code == 0, r.stderr
    return frozenset(line.split()[0] for line in r.stdout.splitlines() if line.strip())


@pytest.mark.parametrize("item", COMMANDS, ids=lambda it: f"{it[0].id}:{it[1][:40]}")
def test_command_lines_use_real_flags(item: tuple[Block, str]) -> None:
    block, line = item
    if _unparsable(line):
        pytest.fail(f"{block.id}: cannot parse {line.strip()!r} (unbalanced quotes?)")
    found = _invocation(line)
    assert found is not None
    program, argv = found
    if not argv or argv[0] in ("-h", "--help", "-V", "--version"):
        return
    words = _command_words(program, argv)
    helptext = help_text(program, *words)
    for arg in argv[len(words):]:
        if arg == "--":
            break
        if not (arg.startswith("--") or re.fullmatch(r"-[A-Za-z]", arg)):
            continue
        flag = arg.split("=", 1)[0]
        assert re.search(rf"(^|[\s,/\[]){re.escape(flag)}([\s,=\[/]|$)", helptext, re.M), \
            f"{block.id}: '{program} {' '.join(words)}' has no {flag} ({line.strip()})"


_BENCH = re.compile(r"^bench/\w+\.py$")


def _bench_at(words: list[str]) -> int | None:
    """Where ``python bench/NAME.py`` runs a benchmark script in ``words``."""
    return next((k for k, w in enumerate(words) if _BENCH.match(w) and k > 0
                 and Path(words[k - 1]).name.startswith("python")), None)


BENCH_LINES = [(b, line) for b in ALL if b.lang in SHELL and not b.fragment
               for line in _logical_lines(b.text) if _bench_at(line.split()) is not None]


def _argparse_flags(path: Path) -> set[str]:
    """The option strings a script gives ``add_argument(...)``, read without running it
    (``bench/run_all.py`` has no ``--help``: it runs every benchmark)."""
    flags = {"-h", "--help"}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "add_argument":
            flags |= {a.value for a in node.args
                      if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return flags


@pytest.mark.parametrize("item", BENCH_LINES, ids=lambda it: f"{it[0].id}:{it[1][:40]}")
def test_bench_lines_use_real_flags(item: tuple[Block, str]) -> None:
    block, line = item
    words = shlex.split(line.lstrip().removeprefix("$ "))
    i = _bench_at(words)
    assert i is not None
    script = ROOT / words[i]
    assert script.is_file(), f"{block.id}: no {words[i]}"
    flags = _argparse_flags(script)
    for arg in words[i + 1:]:
        if arg in _SHELL_END:
            break
        flag = arg.split("=", 1)[0]
        if flag.startswith("-") and flag != "-":
            assert flag in flags, f"{block.id}: {words[i]} has no {flag} ({line.strip()})"


_REPO_PATH = re.compile(r"^(?:scripts|bench|tests)/[\w/.-]+$")
SHELL_LINES = [(b, line) for b in ALL if b.lang in SHELL and not b.fragment
               for line in _logical_lines(b.text) if line.strip()]


def test_shell_lines_name_real_files_and_make_targets() -> None:
    """Scripts, benchmarks and test paths a command names exist; ``make X`` is a target."""
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    missing = []
    for block, line in SHELL_LINES:
        words = line.replace(";", " ").replace("'", " ").split()
        missing += [f"{block.id}: {w}" for w in words
                    if _REPO_PATH.match(w) and not w.startswith("bench/out/")
                    and not (ROOT / w).exists()]
        if words[:1] == ["make"]:
            missing += [f"{block.id}: make {w}" for w in words[1:] if w not in targets]
    assert not missing, missing


_EXTRAS = re.compile(r"(?:fleetload|\.)\[([\w,-]+)\]")
INSTALLS = [(b, line) for b in ALL if b.lang in SHELL and not b.fragment
            for line in _logical_lines(b.text) if re.search(r"\bpipx? install\b", line)
            and _EXTRAS.search(line)]


@pytest.mark.parametrize("item", INSTALLS, ids=lambda it: f"{it[0].id}:{it[1][:40]}")
def test_install_lines_name_real_extras(item: tuple[Block, str]) -> None:
    block, line = item
    with (ROOT / "pyproject.toml").open("rb") as f:
        extras = set(tomllib.load(f)["project"]["optional-dependencies"])
    for group in _EXTRAS.findall(line):
        unknown = set(group.split(",")) - extras
        assert not unknown, f"{block.id}: no extra {sorted(unknown)} ({line.strip()})"


DATA = [b for b in ALL if b.lang in ("json", "yaml", "ini", "toml") and not b.fragment]


@pytest.mark.parametrize("block", DATA, ids=lambda b: b.id)
def test_data_blocks_parse(block: Block) -> None:
    """A JSON, YAML, INI or TOML example is one a reader can paste: it parses."""
    try:
        if block.lang == "json":
            json.loads(block.text)
        elif block.lang == "toml":
            tomllib.loads(block.text)
        elif block.lang == "ini":
            configparser.ConfigParser(interpolation=None).read_string(block.text)
        else:
            yaml = pytest.importorskip("yaml")
            yaml.safe_load(block.text)
    except Exception as exc:  # any parse error is the finding
        pytest.fail(f"{block.id}: not valid {block.lang}: {exc}")


def test_fragments_say_why() -> None:
    for b in ALL:
        if b.fragment is not None:
            assert len(b.fragment) > 3, b.id
