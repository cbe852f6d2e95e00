"""`python -m course_utils build-dataset`: the capstone from a terminal.

Bad input (a config key, a seed file, a folder, the backend, a missing package) exits with
status 2 and ONE line that names the fix, before anything is generated; never a traceback. An
unexpected error exits with 1 and one line too (`--verbose` adds the plain traceback). An
interrupted run exits with 130 and says how to resume. No line ever shows a secret of the config.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any, NoReturn, Optional

from .config import CapstoneError, load_config
from .run import Interrupted, RunFailed, build_dataset
from .secrets import redact, secrets_of

__all__ = ["main", "parser"]

PROG = "python -m course_utils build-dataset"


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem, exit 2."""
        self.exit(2, f"error: {message} (see {PROG} --help).\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser of `build-dataset`."""
    p = _Parser(prog=PROG, description="Run the capstone pipeline from one YAML config.")
    p.add_argument("--config", default=None,
                   help="YAML config (default: the shipped capstone.yaml)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the course's files in an existing output folder (yours stay)")
    p.add_argument("--no-cache", action="store_true",
                   help="ignore distilabel's cache (start from scratch)")
    p.add_argument("--verbose", action="store_true", help="show distilabel's logs")
    return p


def _line(text: Any, secrets: list[str]) -> str:
    """One line of text, without secrets."""
    return " ".join(redact(str(text), secrets).split())


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m course_utils build-dataset --config FILE --out DIR [--overwrite] [--no-cache]`."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, already printed)
        return e.code if isinstance(e.code, int) else 2
    secrets: list[str] = []
    try:
        cfg = load_config(args.config)
        secrets = secrets_of(cfg)
        result = build_dataset(cfg, args.out, overwrite=args.overwrite,
                               use_cache=not args.no_cache, quiet=not args.verbose)
    except CapstoneError as e:
        print(f"error: {_line(e, secrets)}", file=sys.stderr)
        return 2
    except RunFailed as e:  # a lost batch, a stall: the message says what to do
        print(f"error: {_line(e, secrets)}", file=sys.stderr)
        return 1
    except (Interrupted, KeyboardInterrupt) as e:
        print(f"interrupted: {_line(e, secrets) or 'stopped by the user.'} Run the same command "
              f"again to resume.", file=sys.stderr)
        return 130
    except Exception as e:  # not a known bad input: still one line, and no secret
        if args.verbose:
            print(redact(traceback.format_exc(), secrets), file=sys.stderr, end="")
        hint = "" if args.verbose else " Run with --verbose for the traceback."
        print(f"error: unexpected {type(e).__name__}: {_line(e, secrets)[:300]}.{hint}",
              file=sys.stderr)
        return 1
    if result.reused:
        print(f"{args.out} already holds this config's complete export: nothing to run "
              f"(--overwrite builds it again).")
    print(result.table())
    print(f"\n{len(result.rows)} rows in {result.seconds:.1f} s -> {args.out}")
    for name, path in sorted(result.files.items()):
        print(f"  {name}: {path}")
    return 0
