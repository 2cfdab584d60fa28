"""``python -m minidiff``: the command line of ``minidiff.cli``.

python -m minidiff generate "red apple" -o apple.png --train
"""

import sys

from minidiff.cli import main

if __name__ == "__main__":
    sys.exit(main())
