"""spark-submit entry point for `fraudspark sql`; the job lives in fraudspark.cli.sql."""

import sys

from fraudspark.cli.sql import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
