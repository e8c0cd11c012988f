"""spark-submit entry point for `fraudspark evaluate`; the job lives in fraudspark.cli.evaluate."""

import sys

from fraudspark.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
