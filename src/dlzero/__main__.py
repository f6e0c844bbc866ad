"""``python -m dlzero``: the same as the ``dlzero`` command."""

import sys

from dlzero.cli import main

if __name__ == "__main__":
    sys.exit(main())
