"""spark-submit entry point for `fraudspark nightly` (see fraudspark.cli.nightly)."""

import sys

from fraudspark.cli import main

if __name__ == "__main__":
    # Through the CLI so that user errors exit with their code (75: another night runs).
    sys.exit(main(["nightly", *sys.argv[1:]]))
