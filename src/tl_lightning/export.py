"""`python -m tl_lightning.export`: see tl_lightning.tools.export."""

import sys

from tl_lightning.tools.export import main

if __name__ == "__main__":
    sys.exit(main())
