"""`python -m tl_lightning.evaluate`: see tl_lightning.tools.evaluate."""

import sys

from tl_lightning.tools.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
