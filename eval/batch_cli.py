"""`paint-eval batch FILE`: run many paint-eval commands in one process, one per line of FILE ('-' = stdin).

Each line is the argument list of one `paint-eval` command (shell quoting, `#` comments, blank lines skipped), e.g.

    --reference tsn --shards shards/data/synth --limit 200 --leaderboard runs/demo/leaderboard.csv
    --floor tsn --method tiled-patch --shards shards/data/synth --limit 200 --leaderboard runs/demo/leaderboard.csv
    curve --run runs/demo/tsn --shards shards/data/synth --limit 200 --leaderboard runs/demo/leaderboard.csv

A leaderboard of a dozen rows pays Python's and torch's start-up once instead of a dozen times. Every line is
parsed before the first one runs, so a typo on the last line costs nothing; the first command that fails stops
the batch with its exit status (rows already appended stay: each is a complete row).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import sys
from pathlib import Path
from typing import Callable

Parsers = dict[str | None, Callable[[], argparse.ArgumentParser]]   # subcommand (None: a plain eval) → parser

PROG = "paint-eval batch"


class BatchError(ValueError):
    pass


def read_commands(source: str) -> list[tuple[int, list[str]]]:
    """(line number, argv) of every command in `source` (a path or '-'). BatchError for unreadable or unquotable
    input, or a nested batch."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"cannot read {source!r} ({exc.__class__.__name__}); pass a text file of paint-eval "
                         f"commands, one per line") from None
    commands = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            argv = shlex.split(line, comments=True)
        except ValueError as exc:
            raise BatchError(f"{source}:{number}: {exc}; check the quoting") from None
        if argv[:1] == ["batch"]:
            raise BatchError(f"{source}:{number}: a batch cannot run another batch")
        if argv:
            commands.append((number, argv))
    if not commands:
        raise BatchError(f"{source!r} holds no command; write one paint-eval argument list per line")
    return commands


def check_arguments(argv: list[str], parsers: Parsers) -> str | None:
    """None when `argv` parses as a paint-eval command; else argparse's message (nothing runs)."""
    subcommand = argv[0] if argv[0] in parsers else None
    parser, rest = parsers[subcommand](), argv[1:] if subcommand else argv
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            parser.parse_args(rest)
    except SystemExit as exc:
        if exc.code:
            return (errors.getvalue().strip().splitlines() or ["invalid arguments"])[-1]
        return "asks for help or a listing, which a batch cannot show; drop that line"
    return None


def run(argv: list[str], main: Callable[[list[str]], int], parsers: Parsers) -> int:
    """`main` runs one paint-eval command; `parsers` are its parsers (passed in: eval.cli imports this module)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Run paint-eval commands, one per line of FILE, in one "
                                     "process.")
    parser.add_argument("file", help="text file of paint-eval argument lists, one per line; '-' = stdin")
    args = parser.parse_args(argv)
    try:
        commands = read_commands(args.file)
        for number, command in commands:
            problem = check_arguments(command, parsers)
            if problem:
                raise BatchError(f"{args.file}:{number}: {problem}")
    except BatchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    for index, (number, command) in enumerate(commands, 1):
        print(f"{PROG}: [{index}/{len(commands)}] paint-eval {shlex.join(command)}", flush=True)
        status = main(command)
        if status:
            print(f"{PROG}: line {number} failed (exit {status}); the rest did not run", file=sys.stderr)
            return status
    return 0
