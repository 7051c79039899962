"""The ``wflogging`` command (``python -m wflogging``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wflogging.demo import run_demo, summarize


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wflogging", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a small simulated workflow that writes real events")
    demo.add_argument(
        "-o",
        "--output",
        default="wflogging-demo.jsonl",
        help="events file to append to (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_id = run_demo(args.output)
        print(f"wrote run {run_id} to {args.output}")
        print(summarize(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
