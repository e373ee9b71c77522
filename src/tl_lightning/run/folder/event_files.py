"""TensorBoard event files cut back to whole records after a write failed (a full disk).

An event file is a sequence of records: an 8-byte little-endian length, a 4-byte CRC of it, the data, a 4-byte
CRC of the data. TensorBoard appends each record with one write; a full disk stops that write part-way and
leaves a record cut short at the end, which TensorBoard's reader reports as data loss. Cutting the file back to
its last whole record keeps every scalar that was written; the resumed run writes the rest to a new file.
Only files this process created are touched: their names end in this host's name and this process's id.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

PREFIX = "events.out.tfevents."
_HEADER, _FOOTER = 12, 4  # length + its CRC; the data's CRC


def own_event_files(folder: Path) -> list[Path]:
    """The event files in `folder` written by this process (tensorboard names them <time>.<host>.<pid>.<n>)."""
    mine = f".{socket.gethostname()}.{os.getpid()}."
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.name.startswith(PREFIX) and mine in p.name and p.is_file() and not p.is_symlink()]


def whole_records_size(path: Path) -> int:
    """The length of the file's leading run of whole records."""
    size, end = path.stat().st_size, 0
    with open(path, "rb") as f:
        while end + _HEADER <= size:
            f.seek(end)
            (length,) = struct.unpack("<Q", f.read(8))
            if end + _HEADER + length + _FOOTER > size:
                break
            end += _HEADER + length + _FOOTER
    return end


def cut_partial_records(folder: Path) -> list[Path]:
    """Cut this process's event files in `folder` back to whole records (no space needed); the files cut."""
    cut = []
    for path in own_event_files(folder):
        try:
            if (end := whole_records_size(path)) < path.stat().st_size:
                os.truncate(path, end)
                cut.append(path)
        except OSError:  # unreadable now: left as it is, TensorBoard reads up to the damage
            continue
    return cut
