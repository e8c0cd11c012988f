"""spark-submit entry point for `fraudspark ingest`; the job lives in fraudspark.cli.ingest."""

import sys

from fraudspark.cli.ingest import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
