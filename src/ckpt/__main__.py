"""``python -m ckpt``: the ``ckpt`` command line."""

import sys

from ckpt.cli.main import main

sys.exit(main())
