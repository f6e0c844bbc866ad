"""``python -m dlzero.book SCRIPT.py [ARGS]``: run one of the book's scripts on dlzero."""

import sys

from dlzero.book.runner import main

if __name__ == "__main__":
    sys.exit(main())
