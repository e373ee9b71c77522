"""`python -m tl_lightning.predict`: see tl_lightning.tools.predict."""

import sys

from tl_lightning.tools.predict import main

if __name__ == "__main__":
    sys.exit(main())
