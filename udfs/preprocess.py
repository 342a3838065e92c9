"""Host-side image preparation with OpenCV: decode bytes, resize, center crop.

The result stays uint8 BGR HWC, exactly what OpenCV decodes; channel order, layout, float
conversion, mean and scale are applied inside the OpenVINO graph (see ``udfs.runtime``).

Decompression bombs: OpenCV can only cap pixels through ``OPENCV_IO_MAX_IMAGE_PIXELS``, an
environment variable read once when the library loads (default 2**30), so it cannot carry a
per-job limit. ``decode_image`` therefore reads the declared size from the header of the common
formats (PNG, JPEG, GIF, BMP, WebP, TIFF, PNM, HDR) and refuses oversize images before OpenCV
allocates anything. The rest (JPEG 2000, AVIF, Sun raster, ...) are bounded by OpenCV's
process-wide cap, which this module lowers to the default ``classify.max-pixels`` (see below),
and are checked against ``max_pixels`` after decoding.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from typing import NamedTuple

from udfs import rules
from udfs.config import OPTIONS_BY_KEY
from udfs.presets import Preprocessing

# OpenCV reads its pixel cap once, when the library loads, for the whole process (default 2**30
# pixels = 3 GiB of BGR). Lower it to the default classify.max-pixels before the first import, so
# formats without a header parser here cannot allocate more than a job's default budget either.
# A job raising classify.max-pixels above it must also set OPENCV_IO_MAX_IMAGE_PIXELS in the
# workers' environment; ImageClassifier warns when it does not. If cv2 was imported earlier the
# cap is whatever OpenCV read then.
_OPENCV_CAP_VARIABLE = "OPENCV_IO_MAX_IMAGE_PIXELS"
if "cv2" not in sys.modules:
    os.environ.setdefault(_OPENCV_CAP_VARIABLE, str(OPTIONS_BY_KEY["classify.max-pixels"].default))
OPENCV_MAX_PIXELS = int(os.environ.get(_OPENCV_CAP_VARIABLE, 1 << 30))

import cv2  # noqa: E402  (after the cap is in the environment)
import numpy as np  # noqa: E402


class ImageDecodeError(ValueError):
    """The bytes of one image cannot be turned into pixels; the message says why."""


# libjpeg-turbo's own limit on the scans of a progressive JPEG: the default of classify.max-jpeg-scans.
JPEG_SCAN_LIMIT = OPTIONS_BY_KEY["classify.max-jpeg-scans"].default


_INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}

# --- what the header declares, without decoding ------------------------------------------------

_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
_JPEG_STANDALONE_MARKERS = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM
# In entropy-coded data 0xFF is followed by a stuffed 0x00 or a restart marker; anything else
# (after optional fill bytes) is the next marker.
_JPEG_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")

# Decoded bytes allowed per allowed pixel (8-bit BGR): with classify.max-pixels, the cap on what
# width x height x channels x bytes per sample may need (16-bit RGBA needs 8 bytes per pixel).
BYTES_PER_PIXEL_BUDGET = 3


class Header(NamedTuple):
    """What a header declares: size, and the channels and bytes per sample a decoder works in."""

    width: int
    height: int
    channels: int = 3
    sample_bytes: int = 1

    @property
    def decoded_bytes(self) -> int:
        return self.width * self.height * self.channels * self.sample_bytes


def _png_header(data: bytes) -> Header:
    width, height, bit_depth, colour_type = struct.unpack_from(">IIBB", data, 16)
    channels = {2: 3, 4: 2, 6: 4}.get(colour_type, 1)  # grey and palette: 1
    return Header(width, height, channels, (bit_depth + 7) // 8)


def _gif_header(data: bytes) -> Header:
    return Header(*struct.unpack_from("<HH", data, 6), channels=1)


def _bmp_channels(bits_per_pixel: int) -> int:
    return 4 if bits_per_pixel == 32 else 3 if bits_per_pixel > 8 else 1


def _bmp_header(data: bytes) -> Header:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER
        width, height, _, bits = struct.unpack_from("<HHHH", data, 18)
        return Header(width, height, _bmp_channels(bits))
    width, height, _, bits = struct.unpack_from("<iiHH", data, 18)
    return Header(abs(width), abs(height), _bmp_channels(bits))  # negative height = top-down rows


def _webp_header(data: bytes) -> Header:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        return Header(width, int.from_bytes(data[27:30], "little") + 1, 4 if data[20] & 0x10 else 3)
    if chunk == b"VP8L":
        bits = struct.unpack_from("<I", data, 21)[0]
        return Header((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4 if bits >> 28 & 1 else 3)
    width, height = struct.unpack_from("<HH", data, 26)  # lossy "VP8 "
    return Header(width & 0x3FFF, height & 0x3FFF)


def _jpeg_header(data: bytes) -> Header:
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
            precision, height, width, components = struct.unpack_from(">BHHB", data, position + 4)
            return Header(width, height, components, (precision + 7) // 8)
        else:
            position += 2 + struct.unpack_from(">H", data, position + 2)[0]
    raise struct.error("no frame header")


def jpeg_scans(data: bytes, limit: int) -> int:
    """The number of scans (SOS markers) in a JPEG, counting at most ``limit`` + 1: segments are
    skipped by their length, entropy-coded data up to the next marker. One pass, no decoding."""
    scans, position, size = 0, 2, len(data)
    while position + 4 <= size and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker in _JPEG_STANDALONE_MARKERS:
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:  # SOS: the scan's data runs to the next marker
            scans += 1
            if scans > limit:
                break
            found = _JPEG_NEXT_MARKER.search(data, position)
            position = found.end() - 2 if found else size
    return scans


_TIFF_TYPE_SIZES = {1: 1, 3: 2, 4: 4}  # BYTE, SHORT, LONG


def _tiff_values(data: bytes, order: str, entry: int) -> tuple[int, ...]:
    kind, count = struct.unpack_from(order + "HI", data, entry + 2)
    size = _TIFF_TYPE_SIZES.get(kind)
    if size is None or count < 1 or count * size > len(data):
        raise struct.error(f"bad TIFF tag at {entry}")
    at = entry + 8 if count * size <= 4 else struct.unpack_from(order + "I", data, entry + 8)[0]
    return struct.unpack_from(order + {1: "B", 2: "H", 4: "I"}[size] * count, data, at)


def _tiff_header(data: bytes) -> Header:
    """The first image's tags (the one OpenCV decodes); strips and tiles must lie inside the file,
    since a reader allocates what their byte counts say."""
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    tags = {}
    for entry in range(struct.unpack_from(order + "H", data, ifd)[0]):
        at = ifd + 2 + 12 * entry
        tag = struct.unpack_from(order + "H", data, at)[0]
        if tag in (256, 257, 258, 273, 277, 279, 324, 325):
            tags[tag] = _tiff_values(data, order, at)
    if 256 not in tags or 257 not in tags:
        raise struct.error("no ImageWidth/ImageLength")
    for kind, offsets_tag, counts_tag in (("strip", 273, 279), ("tile", 324, 325)):
        offsets = tags.get(offsets_tag, ())
        for index, count in enumerate(tags.get(counts_tag, ())):
            offset = offsets[index] if index < len(offsets) else 0
            if count > len(data) or offset + count > len(data):
                raise ImageDecodeError(rules.error("past_end_of_file", part=kind, index=index, count=count,
                                                   offset=offset, size=len(data)))
    bits = tags.get(258, (1,))[0]
    return Header(tags[256][0], tags[257][0], tags.get(277, (1,))[0], (bits + 7) // 8)


_PNM_HEADER = re.compile(rb"P([1-6Ff])(?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)(?:(?:\s|#[^\n]*\n)+(\d+))?")
_HDR_RESOLUTION = re.compile(rb"\n\n([-+])([XY]) (\d+) ([-+])([XY]) (\d+)")


def _pnm_header(data: bytes) -> Header:
    match = _PNM_HEADER.match(data[:1024])
    if match is None:
        raise struct.error("no PNM size")
    kind, width, height = match[1], int(match[2]), int(match[3])
    if kind in b"Ff":  # PFM: 32-bit floats, colour (PF) or grey (Pf)
        return Header(width, height, 3 if kind == b"F" else 1, 4)
    max_value = int(match[4]) if kind in b"2356" and match[4] else 1
    return Header(width, height, 3 if kind in b"36" else 1, 2 if max_value > 255 else 1)


def _hdr_header(data: bytes) -> Header:
    match = _HDR_RESOLUTION.search(data[:4096])  # after the blank line ending the header
    if match is None:
        raise struct.error("no HDR resolution line")
    first, second = int(match[3]), int(match[6])
    width, height = (second, first) if match[2] == b"Y" else (first, second)  # "-Y h +X w" is the usual
    return Header(width, height, 3, 4)  # decoded as 32-bit floats


_FORMATS = (
    # name, signature test, header parser or None when we do not parse the header
    ("PNG", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"), _png_header),
    ("JPEG", lambda d: d.startswith(b"\xff\xd8\xff"), _jpeg_header),
    ("GIF", lambda d: d[:6] in (b"GIF87a", b"GIF89a"), _gif_header),
    ("BMP", lambda d: d.startswith(b"BM"), _bmp_header),
    ("WebP", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _webp_header),
    ("TIFF", lambda d: d[:4] in (b"II*\x00", b"MM\x00*"), _tiff_header),
    ("PNM", lambda d: d[:1] == b"P" and d[1:2] in b"123456Ff" and d[2:3].isspace(), _pnm_header),
    ("HDR", lambda d: d.startswith((b"#?RADIANCE", b"#?RGBE")), _hdr_header),
    ("JPEG 2000", lambda d: d.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")), None),
)


def _sniff(data: bytes) -> tuple[str | None, Header | None]:
    """Return the format name and its declared header when known."""
    for name, matches, read_header in _FORMATS:
        if matches(data):
            if read_header is None:
                return name, None
            try:
                return name, read_header(data)
            except ImageDecodeError:
                raise
            except Exception:  # struct.error, IndexError...: hostile headers are this image's error
                raise ImageDecodeError(f"truncated or corrupt {name} header") from None
    return None, None


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageDecodeError(rules.error("too_many_pixels", width=width, height=height, max=max_pixels))
    if width * height > OPENCV_MAX_PIXELS:  # OpenCV would refuse it with a misleading message
        raise ImageDecodeError(
            f"too many pixels: declared {width}x{height} > OpenCV's process-wide cap "
            f"{OPENCV_MAX_PIXELS} ({_OPENCV_CAP_VARIABLE})"
        )


def _check_header(header: Header, max_pixels: int) -> None:
    """The pixel cap, then the bytes the decoded samples take against 3 bytes per allowed pixel."""
    _check_pixels(header.width, header.height, max_pixels)
    budget = BYTES_PER_PIXEL_BUDGET * max_pixels
    if header.decoded_bytes > budget:
        raise ImageDecodeError(rules.error("too_many_decoded_bytes", width=header.width, height=header.height,
                                           channels=header.channels, sample_bytes=header.sample_bytes,
                                           bytes=header.decoded_bytes, max=budget))


# libjpeg scales by 1/2, 1/4 or 1/8 while decoding (in the DCT domain): less work than decoding
# every pixel and shrinking afterwards, for camera-sized photos (1920x1080: 6.7 -> 2.9 ms).
_JPEG_REDUCED_READS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def _read_flag(image_format: str | None, declared: Header | None, min_side: int | None) -> int:
    """Full decode, or the smallest JPEG reduction that keeps the shorter side >= ``min_side``."""
    if min_side and image_format == "JPEG" and declared is not None:
        for factor, flag in _JPEG_REDUCED_READS:
            if min(declared.width, declared.height) // factor >= min_side:
                return flag
    return cv2.IMREAD_COLOR


def decode_image(
    data: bytes,
    max_pixels: int,
    max_bytes: int | None = None,
    min_side: int | None = None,
    max_jpeg_scans: int = JPEG_SCAN_LIMIT,
) -> np.ndarray:
    """Decode encoded image bytes to an H x W x 3 uint8 BGR array.

    EXIF orientation is applied; grayscale, alpha and 16-bit images become 8-bit BGR.
    With ``min_side``, a large JPEG is decoded at 1/2, 1/4 or 1/8 scale as long as its shorter
    side stays at least ``min_side`` (the resize that follows needs no more).
    Refused from the header, before decoding: too many pixels, too many bytes to decode (see
    ``_check_header``), TIFF strips or tiles larger than the file, JPEGs of more than
    ``max_jpeg_scans`` scans. Raises ImageDecodeError for empty, oversize, unsupported or corrupt
    input, and for anything else a decoder throws: one bad image is one error row.
    """
    if not data:
        raise ImageDecodeError(rules.error("empty"))
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageDecodeError(rules.error("too_many_bytes", size=len(data), max=max_bytes))
    data = bytes(data)
    image_format, declared = _sniff(data)
    if declared is not None:
        _check_header(declared, max_pixels)
    if image_format == "JPEG" and jpeg_scans(data, max_jpeg_scans) > max_jpeg_scans:
        raise ImageDecodeError(rules.error("too_many_scans", max=max_jpeg_scans))
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), _read_flag(image_format, declared, min_side))
    except cv2.error as error:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(error):  # formats whose header we do not read
            raise ImageDecodeError(
                f"too many pixels: {image_format or 'image'} over OpenCV's process-wide cap "
                f"{OPENCV_MAX_PIXELS} ({_OPENCV_CAP_VARIABLE})"
            ) from None
        raise ImageDecodeError(f"cannot decode {image_format or 'image'}: {error}") from None
    except Exception as error:  # hostile data: whatever the decoder throws is this image's error
        raise ImageDecodeError(f"cannot decode {image_format or 'image'}: {error!r}") from None
    if image is None:
        if image_format is None:
            raise ImageDecodeError(f"not an image or unsupported format (starts with {data[:8]!r})")
        reason = f"truncated or corrupt {image_format} data ({len(data)} bytes)"
        if declared is None:  # OpenCV refuses its own oversize images the same silent way
            reason += f", or more than OpenCV's cap of {OPENCV_MAX_PIXELS} pixels"
        raise ImageDecodeError(reason)
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


# Longest side kept, as a multiple of the shorter one, before scaling the shorter side up: a
# 1 x 20000 strip scaled to a shorter side of 256 would otherwise need 256 x 5,120,000 pixels
# (4 GB). Only the centre survives the crop, so trimming the ends first changes the result at
# most by the rounding of the scale factor.
MAX_ASPECT_RATIO = 16


def trim_long_side(image: np.ndarray, max_ratio: int = MAX_ASPECT_RATIO) -> np.ndarray:
    """The centred window of ``image`` whose long side is at most ``max_ratio`` x the short side."""
    height, width = image.shape[:2]
    keep = max_ratio * min(height, width)
    if height > keep:
        return image[(height - keep) // 2 : (height - keep) // 2 + keep]
    if width > keep:
        return image[:, (width - keep) // 2 : (width - keep) // 2 + keep]
    return image


def needed_shorter_side(preprocessing: Preprocessing) -> int | None:
    """The smallest shorter side ``resize_and_crop`` can use without upscaling, or None when it
    needs the native resolution (center-crop crops at the decoded scale)."""
    if preprocessing.resize_policy == "resize-shorter-side-then-crop":
        return preprocessing.resize_size
    if preprocessing.resize_policy == "stretch":
        return preprocessing.crop_size
    return None


def resize_and_crop(image: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Apply the preset's resize policy: a contiguous crop_size x crop_size x 3 uint8 BGR array."""
    crop = preprocessing.crop_size
    interpolation = preprocessing.interpolation
    policy = preprocessing.resize_policy
    if policy != "stretch":
        image = trim_long_side(image)
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
