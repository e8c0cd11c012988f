"""``python -m fraudspark.cli <command>``: the same as the ``fraudspark`` console script."""

from fraudspark.cli import main

raise SystemExit(main())
