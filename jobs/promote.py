"""spark-submit entry point for `fraudspark promote`; the job lives in fraudspark.cli.promote."""

import sys

from fraudspark.cli.promote import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
