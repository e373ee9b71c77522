"""Opening user images: every PIL mode becomes 8-bit RGB, and a cheap check that a file decodes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# PIL modes holding more than 8 bits per pixel; convert("RGB") would clip them to white.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# Small decode target for the check: JPEG decodes at 1/8 scale, which still reads the whole stream.
_CHECK_SIZE = (64, 64)
# data.max_image_pixels' default: 40 megapixels decode to 120 MB of RGB. A file's header can declare any size
# (a 93-byte PNG declared enough pixels to take 2.8 GB), so the size is checked before anything is decoded.
MAX_IMAGE_PIXELS = 40_000_000


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from grayscale, CMYK, RGBA, palette (GIF), 16-bit and [0, 1] float images; alpha over white."""
    if (problem := range_problem(image)) is not None:
        raise ValueError(problem)
    if image.mode == "F":
        # convert("RGB") truncates floats to integers: a [0, 1] image would come out all black.
        image = Image.fromarray(np.rint(np.asarray(image, dtype=np.float64) * 255).astype(np.uint8), mode="L")
    if image.mode in _WIDE_MODES:
        wide = np.asarray(image, dtype=np.int64)
        image = Image.fromarray((np.clip(wide, 0, 65535) // 257).astype(np.uint8), mode="L")
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")  # keeps palette transparency, which convert("RGB") would drop
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def range_problem(image: Image.Image) -> str | None:
    """Why a 32-bit image cannot be read as pixel intensities, or None. Floats: only [0, 1] has one meaning
    (full black to full white); other ranges (0-255, depth maps, HDR) would need a guess. Integers (PIL's
    mode I, also 16-bit PNGs): 0-65535, as 16 bits; larger values would be clipped to white."""
    if image.mode == "I":
        values = np.asarray(image)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            return (
                f"32-bit integer pixels span [{low}, {high}], beyond 16 bits (0-65535): convert it to an 8- or "
                f"16-bit image"
            )
        return None
    if image.mode != "F":
        return None
    values = np.asarray(image, dtype=np.float64)
    if not np.isfinite(values).all():
        return "32-bit float pixels include NaN or infinity: convert it to an 8- or 16-bit image"
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        return (
            f"32-bit float pixels span [{low:g}, {high:g}], not [0, 1] (black to white): convert it to an 8- or "
            f"16-bit image, or scale it to [0, 1]"
        )
    return None


def resized_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """(width, height) after the eval resize of the shorter side to `short_side` (torchvision's rule for an
    int size, which both the PIL pipeline and the decoded images use)."""
    width, height = size
    short, long = sorted((width, height))
    new_long = int(short_side * long / short) if short > 0 else 0
    return (new_long, short_side) if height <= width else (short_side, new_long)


def load_rgb(path: str | Path) -> Image.Image:
    """ImageFolder loader: the first frame of `path` as RGB."""
    with open(path, "rb") as f:
        image = Image.open(f)
        image.load()
        return to_rgb(image)


def image_problem(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Why `path` cannot be trained on, or None when it decodes (within `max_pixels`) to usable pixels."""
    try:
        size = path.stat().st_size
    except OSError as err:
        return _link_problem(path) or f"unreadable ({err.strerror})"
    if size == 0:
        return "empty file (0 bytes)"
    try:
        with Image.open(path) as image:
            if (too_big := size_problem(image.size, max_pixels)) is not None:
                return too_big
            image.draft("RGB", _CHECK_SIZE)  # JPEG only; other formats ignore it
            image.load()
            return range_problem(image)
    except UnidentifiedImageError:
        return "not an image PIL can read"
    except Image.DecompressionBombError as err:  # Pillow's own bound (2 x 89 M pixels), checked when opening
        return _bomb(err, max_pixels)
    except (OSError, SyntaxError, ValueError) as err:
        return f"corrupt or truncated ({err})"


def header_problem(path: Path, max_pixels: int = MAX_IMAGE_PIXELS, resize_side: int | None = None) -> str | None:
    """The size checks alone, from the header (cheap enough for every run, so no cache can switch them off);
    None also when the header cannot be read (image_problem names that)."""
    try:
        with Image.open(path) as image:
            return size_problem(image.size, max_pixels, resize_side)
    except Image.DecompressionBombError as err:
        return _bomb(err, max_pixels)
    except (OSError, SyntaxError, ValueError):
        return None


def size_problem(size: tuple[int, int], max_pixels: int, resize_side: int | None = None) -> str | None:
    """Why an image of `size` (from its header) is too large to decode, or to store once its shorter side is
    resized to `resize_side` (a 1x8000 strip becomes 256x2,048,000 pixels), or None."""
    width, height = size
    if width * height > max_pixels:
        return (
            f"declares {width}x{height} = {width * height:,} pixels, above the limit of {max_pixels:,} "
            f"(data.max_image_pixels; raise it if the image is genuine)"
        )
    if resize_side is None or min(width, height) <= 0:
        return None
    new_w, new_h = resized_size(size, resize_side)
    if new_w * new_h <= max_pixels:
        return None
    return (
        f"is {width}x{height} (aspect ratio {max(width, height) / min(width, height):,.0f}:1): resizing its shorter "
        f"side to {resize_side} px for data.image_size would store {new_w}x{new_h} = {new_w * new_h:,} pixels, "
        f"above the limit of {max_pixels:,} (data.max_image_pixels); crop it to a usual shape"
    )


def _bomb(err: Exception, max_pixels: int) -> str:
    # Pillow's own bound (2 x 89 M pixels), checked when opening
    return f"declares too many pixels to decode ({err}); data.max_image_pixels={max_pixels:,}"


def _link_problem(path: Path) -> str | None:
    """The reason for a symlink that cannot be followed (dangling or looping), else None."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        return "symbolic link loop: remove the link"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "symbolic link loop: remove the link"
        return f"broken symbolic link to {os.readlink(path)} (no such file): remove the link or restore its target"
    return None
