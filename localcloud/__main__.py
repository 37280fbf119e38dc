"""``python -m localcloud start ...``"""
from __future__ import annotations

import sys

from localcloud.cli import main

sys.exit(main(prog="python -m localcloud"))
