"""``python -m apigee_psc.emulator [OPTIONS]``: the same as ``apigee-psc emulator [OPTIONS]``."""

from __future__ import annotations

import sys

from apigee_psc.emulator import main

if __name__ == "__main__":
    sys.exit(main())
