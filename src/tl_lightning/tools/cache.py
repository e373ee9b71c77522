"""Show or empty the feature store (the frozen layers' activations shared by runs on this machine).

usage: python -m tl_lightning.cache [clear=true]

arguments (key=value):
  clear  true: remove every entry (default false: only show the store)

examples:
  python -m tl_lightning.cache              # where the store is, how many entries and how large
  python -m tl_lightning.cache clear=true   # empty it; the next run computes its frozen pass again

The store lives in $TL_CACHE_DIR/features (default ~/.cache/tl_lightning/features). Runs bound it with
cache.max_gb (least recently used entries go first) and skip it with cache.features=false. Removing entries
never changes a result: a run computes what it does not find, to the same bytes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from tl_lightning.features.store import FeatureStore, default_root
from tl_lightning.tools.cli import run_tool


@dataclass
class CacheArgs:
    clear: bool = False


def cache(args: CacheArgs) -> int:
    store = FeatureStore(default_root(), max_bytes=0)
    if args.clear:
        count, size = store.clear()
        print(f"Removed {count} entries ({size / 2**20:,.1f} MB) from {store.root}.")
        return 0
    count, size = store.usage()
    newest = max((info.st_mtime for _, info in store.entries()), default=None)
    print(f"Feature store: {store.root}")
    print(f"  {count} entries, {size / 2**20:,.1f} MB" + (" (empty)" if not count else ""))
    if newest is not None:
        print(f"  last used {time.strftime('%Y-%m-%d %H:%M', time.localtime(newest))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, CacheArgs, cache, argv)


if __name__ == "__main__":
    sys.exit(main())
