"""spark-submit entry point for `fraudspark demo`; the job lives in fraudspark.cli.demo."""

import sys

from fraudspark.cli.demo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
