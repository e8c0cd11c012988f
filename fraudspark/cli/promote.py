"""fraudspark promote NAME VERSION"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser
from fraudspark.registry import CHAMPION, champion_version, promote


def main(argv: Sequence[str]) -> int:
    parser = job_parser("promote", f"Point a registered model's {CHAMPION} alias at a version.")
    parser.add_argument("name", help="registered model, e.g. fraud-rapp")
    parser.add_argument("version", type=int, help="the version to make champion")
    args = parser.parse_args(argv)
    config = job_config(args)
    before = champion_version(config, args.name)
    promote(config, args.name, args.version)
    print(f"{args.name}@{CHAMPION}: version {before} -> {args.version}")
    return 0
