"""``python -m benchmarks [--smoke] [--systems A,B] [--out DIR] [--here]``.

Measures every system in a fresh process each and writes report.md,
results.json and chart.png to benchmarks/results/<time>/ (or --out).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one short round per scenario: checks the suite works",
    )
    parser.add_argument("--systems", help="comma-separated system names (default all)")
    parser.add_argument("--out", type=Path, help="directory for the report files")
    parser.add_argument(
        "--here", action="store_true", help="use this interpreter, not benchmarks/.venv"
    )
    parser.add_argument("--list", action="store_true", help="list the systems and exit")
    parser.add_argument(
        "--sample",
        action="store_true",
        help="also write benchmarks/REPORT.md and REPORT.png",
    )
    parser.add_argument(
        "--profile",
        metavar="SYSTEM",
        help="write pyinstrument profiles of SYSTEM instead",
    )
    parser.add_argument(
        "--change-rounds",
        type=int,
        help="propagation rounds per system (default 11; 1 with --smoke)",
    )
    parser.add_argument(
        "--change-size",
        type=int,
        help="keys in the store for the propagation rounds (default: the large one)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=10000,
        help="keys in the store for --profile (default 10000)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    args = parse(argv)
    from benchmarks import environment

    if not (args.here or args.list):
        environment.ensure()
    from benchmarks import report, runner
    from benchmarks.systems import SYSTEMS

    if args.list:
        for system in SYSTEMS:
            print(f"{system.name:32} {system.label}")
        return 0
    out = args.out or ROOT / "benchmarks" / "results" / time.strftime("%Y%m%d-%H%M%S")
    if args.profile:
        path = runner.profile(args.profile, args.size, out)
        print(path.read_text())
        return 0
    names = args.systems.split(",") if args.systems else None
    print(f"benchmarks: {'smoke' if args.smoke else 'full'} run, results in {out}")
    gathered = runner.run(
        names,
        args.smoke,
        change_rounds=args.change_rounds,
        change_size=args.change_size,
    )
    summary = report.write(gathered, out)
    if args.sample:
        report.write_sample(out, ROOT / "benchmarks")
    print(summary)
    return 1 if any("error" in r for r in gathered["results"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
