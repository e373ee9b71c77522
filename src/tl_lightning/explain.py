"""`python -m tl_lightning.explain`: see tl_lightning.tools.explain."""

import sys

from tl_lightning.tools.explain import main

if __name__ == "__main__":
    sys.exit(main())
