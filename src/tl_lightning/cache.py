"""`python -m tl_lightning.cache`: see tl_lightning.tools.cache."""

import sys

from tl_lightning.tools.cache import main

if __name__ == "__main__":
    sys.exit(main())
