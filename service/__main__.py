"""`python -m service COMMAND`: see service.ops.cli."""

import sys

from service.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
