"""`python -m course_utils build-dataset`: the capstone from a terminal.

Bad input exits with status 2 and a one-line message (never a traceback); an interrupted run
exits with 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from .config import CapstoneError
from .run import Interrupted, build_dataset

__all__ = ["main", "parser"]

PROG = "python -m course_utils build-dataset"


def parser() -> argparse.ArgumentParser:
    """The argument parser of `build-dataset`."""
    p = argparse.ArgumentParser(prog=PROG,
                                description="Run the capstone pipeline from one YAML config.")
    p.add_argument("--config", default=None,
                   help="YAML config (default: the shipped capstone.yaml)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder's files")
    p.add_argument("--no-cache", action="store_true",
                   help="ignore distilabel's cache (start from scratch)")
    p.add_argument("--verbose", action="store_true", help="show distilabel's logs")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m course_utils build-dataset --config FILE --out DIR [--overwrite] [--no-cache]`."""
    args = parser().parse_args(argv)
    try:
        result = build_dataset(args.config, args.out, overwrite=args.overwrite,
                               use_cache=not args.no_cache, quiet=not args.verbose)
    except CapstoneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as e:
        print(f"interrupted: {e or 'stopped by the user.'} Run the same command again to resume.",
              file=sys.stderr)
        return 130
    print(result.table())
    print(f"\n{len(result.rows)} rows in {result.seconds:.1f} s -> {args.out}")
    for name, path in sorted(result.files.items()):
        print(f"  {name}: {path}")
    return 0
