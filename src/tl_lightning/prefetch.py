"""`python -m tl_lightning.prefetch`: see tl_lightning.tools.prefetch."""

import sys

from tl_lightning.tools.prefetch import main

if __name__ == "__main__":
    sys.exit(main())
