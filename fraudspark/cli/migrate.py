"""fraudspark migrate"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.pipelines.migrate import migrate


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "migrate", "Bring a lakehouse written by an earlier fraudspark to the current schemas."
    )
    args = parser.parse_args(argv)
    config = job_config(args)
    print(migrate(job_session(config), config).summary())
    return 0
