"""Host-side image preparation with OpenCV: decode bytes, resize, center crop.

The result stays uint8 BGR HWC, exactly what OpenCV decodes; channel order, layout, float
conversion, mean and scale are applied inside the OpenVINO graph (see ``udfs.runtime``).

Decompression bombs: OpenCV can only cap pixels through ``OPENCV_IO_MAX_IMAGE_PIXELS``, an
environment variable read once when the library loads (default 2**30), so it cannot carry a
per-job limit. ``decode_image`` therefore reads the declared size from the header of the common
formats (PNG, JPEG, GIF, BMP, WebP) and refuses oversize images before OpenCV allocates
anything. Other formats (TIFF, PNM, HDR, ...) stay bounded by OpenCV's process-wide cap and are
checked against ``max_pixels`` after decoding.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from udfs.presets import Preprocessing


class ImageDecodeError(ValueError):
    """The bytes of one image cannot be turned into pixels; the message says why."""


_INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}

# --- declared size from the header, without decoding --------------------------------------------

_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack_from(">II", data, 16)


def _gif_size(data: bytes) -> tuple[int, int]:
    return struct.unpack_from("<HH", data, 6)


def _bmp_size(data: bytes) -> tuple[int, int]:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # negative height = top-down rows


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L":
        bits = struct.unpack_from("<I", data, 21)[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    width, height = struct.unpack_from("<HH", data, 26)  # lossy "VP8 "
    return width & 0x3FFF, height & 0x3FFF


def _jpeg_size(data: bytes) -> tuple[int, int]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker in _JPEG_STANDALONE_MARKERS:
            position += 2
        elif marker in _JPEG_SOF_MARKERS:
            height, width = struct.unpack_from(">HH", data, position + 5)
            return width, height
        else:
            position += 2 + struct.unpack_from(">H", data, position + 2)[0]
    raise struct.error("no frame header")


_FORMATS = (
    # name, signature test, declared (width, height) or None when we do not parse the header
    ("PNG", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"), _png_size),
    ("JPEG", lambda d: d.startswith(b"\xff\xd8\xff"), _jpeg_size),
    ("GIF", lambda d: d[:6] in (b"GIF87a", b"GIF89a"), _gif_size),
    ("BMP", lambda d: d.startswith(b"BM"), _bmp_size),
    ("WebP", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _webp_size),
    ("TIFF", lambda d: d[:4] in (b"II*\x00", b"MM\x00*"), None),
)


def _sniff(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """Return the format name and declared (width, height) when known."""
    for name, matches, read_size in _FORMATS:
        if matches(data):
            if read_size is None:
                return name, None
            try:
                return name, read_size(data)
            except struct.error:
                raise ImageDecodeError(f"truncated or corrupt {name} header") from None
    return None, None


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageDecodeError(f"too many pixels: declared {width}x{height} > max {max_pixels}")


def decode_image(data: bytes, max_pixels: int, max_bytes: int | None = None) -> np.ndarray:
    """Decode encoded image bytes to an H x W x 3 uint8 BGR array.

    EXIF orientation is applied; grayscale, alpha and 16-bit images become 8-bit BGR.
    Raises ImageDecodeError for empty, oversize, unsupported or corrupt input.
    """
    if not data:
        raise ImageDecodeError("empty input: 0 bytes")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageDecodeError(f"too many bytes: {len(data)} > max {max_bytes}")
    data = bytes(data)
    image_format, declared = _sniff(data)
    if declared is not None:
        _check_pixels(*declared, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:  # e.g. OpenCV's own process-wide pixel cap
        raise ImageDecodeError(f"cannot decode {image_format or 'image'}: {error}") from None
    if image is None:
        if image_format is None:
            raise ImageDecodeError(f"not an image or unsupported format (starts with {data[:8]!r})")
        raise ImageDecodeError(f"truncated or corrupt {image_format} data ({len(data)} bytes)")
    _check_pixels(image.shape[1], image.shape[0], max_pixels)
    return image


# --- geometry ------------------------------------------------------------------------------------


def resize_shorter_side(image: np.ndarray, size: int, interpolation: str = "linear") -> np.ndarray:
    """Scale so the shorter side equals ``size``, keeping the aspect ratio (torchvision rounding)."""
    height, width = image.shape[:2]
    if min(height, width) == size:
        return image
    if height <= width:
        new_height, new_width = size, int(size * width / height)
    else:
        new_height, new_width = int(size * height / width), size
    return cv2.resize(image, (new_width, new_height), interpolation=_INTERPOLATIONS[interpolation])


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window; the image must be at least that large."""
    height, width = image.shape[:2]
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return image[top : top + size, left : left + size]


def resize_and_crop(image: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Apply the preset's resize policy: a contiguous crop_size x crop_size x 3 uint8 BGR array."""
    crop = preprocessing.crop_size
    interpolation = preprocessing.interpolation
    policy = preprocessing.resize_policy
    if policy == "resize-shorter-side-then-crop":
        image = center_crop(resize_shorter_side(image, preprocessing.resize_size, interpolation), crop)
    elif policy == "center-crop":
        if min(image.shape[:2]) < crop:
            image = resize_shorter_side(image, crop, interpolation)
        image = center_crop(image, crop)
    elif policy == "stretch":
        image = cv2.resize(image, (crop, crop), interpolation=_INTERPOLATIONS[interpolation])
    else:
        raise ValueError(f"unknown resize policy '{policy}'")
    return np.ascontiguousarray(image)
