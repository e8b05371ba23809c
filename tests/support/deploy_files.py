"""Readers of the files that describe how the ledger is installed and run: the Dockerfile, the
compose file, .dockerignore, the lock files; and a parser of `ledger` arguments that runs nothing.

Each reads only what the checks in tests/unit/packaging/ need, and fails loudly on the rest.
"""
from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]


# --- Dockerfile ---------------------------------------------------------------------------------

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped;
    ValueError naming the line for an unknown instruction or a dangling continuation."""
    instructions, pending, first_line = [], "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        first_line = first_line or number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole, pending = pending + stripped, ""
        keyword, _, args = whole.partition(" ")
        if keyword.upper() not in INSTRUCTIONS or keyword != keyword.upper():
            raise ValueError(f"Dockerfile line {first_line}: unknown instruction {keyword!r}")
        instructions.append((keyword, args.strip()))
        first_line = 0
    if pending:
        raise ValueError("Dockerfile ends inside a continued line")
    return instructions


def dockerfile_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARGs (name -> default) and the stages, in order."""
    global_args, stages = {}, []
    for keyword, args in dockerfile_instructions(text):
        if keyword == "FROM":
            parts = args.split()
            if len(parts) == 3 and parts[1].upper() == "AS":
                name = parts[2]
            elif len(parts) == 1:
                name = str(len(stages))
            else:
                raise ValueError(f"FROM {args}: expected 'FROM image [AS name]'")
            stages.append(Stage(name, parts[0]))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"{keyword} before the first FROM")
            arg_name, _, default = args.partition("=")
            global_args[arg_name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK; ValueError for a shell form."""
    value = json.loads(args)
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise ValueError(f"{args}: not a JSON array of strings")
    return value


# --- .dockerignore ------------------------------------------------------------------------------

def dockerignore_keeps(patterns: list[str], path: str) -> bool:
    """Whether the build context keeps ``path`` (relative, '/'-separated) under ``patterns``:
    the last pattern matching the path or one of its parent directories decides; '!' re-includes."""
    kept = True
    parents = [path] + ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in parents):
            kept = negated
    return kept


def dockerignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


# --- lock files ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str
    hashes: int


def lock_pins(text: str) -> list[Pin]:
    """Every ``name==version [; marker]`` requirement of a pip requirements file with hashes."""
    pins = []
    for entry in re.split(r"\n(?=\S)", text):
        if entry.startswith("#") or not entry.strip():
            continue
        head = entry.split("\\", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*(.+))?", head)
        if not match:
            raise ValueError(f"not an exact pin: {head!r}")
        pins.append(Pin(canonical(match[1]), match[2], match[3] or "", entry.count("--hash=sha256:")))
    return pins


def canonical(name: str) -> str:
    """A distribution name as packaging normalises it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the ledger command line --------------------------------------------------------------------

def parse_ledger_args(argv: list[str]) -> list[str]:
    """Parse ``argv`` (what follows ``ledger``) as the command line would, invoking nothing; the
    path of commands it names. Raises click.UsageError (an unknown command or option) or
    ValueError (nothing to run)."""
    from ledger.cli import main

    command: click.Command = main
    args, path = list(argv), []
    ctx = click.Context(main, info_name="ledger")
    while isinstance(command, click.Group):
        # the group's own options come first; parse them, then look up the next word
        parser = command.make_parser(ctx)
        _, rest, _ = parser.parse_args(list(args))
        if "--help" in args[: len(args) - len(rest)] or "-h" in args[: len(args) - len(rest)]:
            return path
        if not rest:
            raise ValueError(f"ledger {' '.join(argv)}: names no command to run")
        name, args = rest[0], rest[1:]
        found = command.get_command(ctx, name)
        if found is None:
            raise click.UsageError(f"no such command: ledger {' '.join(path + [name])}")
        command, path = found, path + [name]
        ctx = click.Context(command, info_name=name, parent=ctx)
    command.make_context(" ".join(["ledger", *path]), list(args), parent=ctx.parent)
    return path


def shell_ledger_commands(script: str) -> list[list[str]]:
    """The argument lists of each `ledger` command in a simple `a && b; c` shell script; ValueError
    for a command that is not `ledger`."""
    commands = []
    for part in re.split(r"&&|;|\|\|", script):
        words = shlex.split(part)
        if not words:
            continue
        if words[0] != "ledger":
            raise ValueError(f"{part.strip()!r} is not a ledger command")
        commands.append(words[1:])
    return commands
