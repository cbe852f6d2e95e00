"""`python -m course_utils <command>`.

Commands:
  build-dataset --config FILE --out DIR [--overwrite] [--no-cache] [--verbose]
      run the capstone pipeline (notebook 09) headless; bad input exits with status 2 and a message.
  doctor
      check the environment (same as `python -m course_utils.doctor`).
"""

from __future__ import annotations

import sys
from typing import Optional

from .capstone.cli import main as build_main
from .doctor import main as doctor_main

USAGE = """usage: python -m course_utils <command> [options]

commands:
  build-dataset --config FILE --out DIR [--overwrite] [--no-cache]   run the capstone pipeline
  doctor                                                            check your environment"""


def main(argv: Optional[list[str]] = None) -> int:
    """Dispatch `python -m course_utils <command> ...` to the command's own main."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "build-dataset":
        return build_main(rest)
    if command == "doctor":
        return doctor_main()
    print(f"error: unknown command {command!r}.\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
