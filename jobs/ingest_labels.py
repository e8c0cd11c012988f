"""spark-submit entry point for `fraudspark ingest-labels` (see fraudspark.cli.ingest_labels)."""

import sys

from fraudspark.cli.ingest_labels import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
