"""spark-submit entry point for `fraudspark features`; the job lives in fraudspark.cli.features."""

import sys

from fraudspark.cli.features import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
