"""spark-submit entry point for `fraudspark score`; the job lives in fraudspark.cli.score."""

import sys

from fraudspark.cli.score import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
