"""`python -m modem.virtual 3 --dir /tmp/sims`: run virtual modems until Ctrl-C."""

import sys

from modem.virtual.cli import main

sys.exit(main())
