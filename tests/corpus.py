"""A corpus of hostile and unusual image files, generated on the spot (nothing is fetched).

``build_corpus(folder)`` writes one file per kind and returns ``{file name: Expectation}``: either
a prediction, or an error whose text contains a given substring. Files that OpenCV cannot write
(CMYK JPEG, animated GIF, bombs) are assembled byte by byte with the small encoders below.

The ``oversize.jpg`` entry only becomes an error when the table caps file size below its size
(``OVERSIZE_TABLE_OPTIONS``); read directly it is a valid JPEG padded past ``OVERSIZE_BYTES``.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

OVERSIZE_BYTES = 1_200_000
OVERSIZE_TABLE_OPTIONS = {"max_file_size": "1 mb"}


@dataclass(frozen=True)
class Expectation:
    """``error is None``: a prediction is expected; otherwise an error containing ``error``."""

    description: str
    error: str | None = None
    table_error: str | None = None  # overrides ``error`` when read through the size-capped table

    def expected_error(self, through_table: bool) -> str | None:
        return self.table_error if through_table and self.table_error else self.error


def prediction(description: str) -> Expectation:
    return Expectation(description)


def error(description: str, substring: str) -> Expectation:
    return Expectation(description, substring)


# --- pixels --------------------------------------------------------------------------------------


def base_image(height: int = 240, width: int = 320) -> np.ndarray:
    """A smooth, colourful BGR test picture (deterministic, no external file)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    blue = 128 + 100 * np.sin(xs / 23.0)
    green = 128 + 100 * np.cos(ys / 17.0)
    red = 128 + 100 * np.sin((xs + ys) / 31.0)
    image = np.dstack([blue, green, red]).clip(0, 255).astype(np.uint8)
    cv2.circle(image, (width // 2, height // 2), min(height, width) // 4, (20, 200, 240), -1)
    return image


def encode(image: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buffer = cv2.imencode(ext, image, params or [])
    assert ok, ext
    return buffer.tobytes()


# --- hand-built encoders -------------------------------------------------------------------------


class _BitWriter:
    def __init__(self, lsb_first: bool) -> None:
        self.lsb_first, self.bits, self.count, self.out = lsb_first, 0, 0, bytearray()

    def write(self, value: int, length: int) -> None:
        if self.lsb_first:  # GIF: fill each byte from bit 0
            self.bits |= value << self.count
            self.count += length
            while self.count >= 8:
                self.out.append(self.bits & 0xFF)
                self.bits >>= 8
                self.count -= 8
        else:  # JPEG: fill from bit 7, stuff a zero after every 0xFF
            for shift in range(length - 1, -1, -1):
                self.bits = (self.bits << 1) | ((value >> shift) & 1)
                self.count += 1
                if self.count == 8:
                    self.out.append(self.bits)
                    if self.bits == 0xFF:
                        self.out.append(0)
                    self.bits, self.count = 0, 0

    def flush(self) -> bytes:
        if self.count:
            pad = 8 - self.count
            self.write(0 if self.lsb_first else (1 << pad) - 1, pad)
        return bytes(self.out)


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


# Standard luminance DC Huffman table (JPEG Annex K.3): code lengths, then symbols 0..11.
_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def _canonical_codes(bits: list[int]) -> list[tuple[int, int]]:
    """(code, length) per symbol in order, from the count of codes of each length."""
    codes, code = [], 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes.append((code, length))
            code += 1
        code <<= 1
    return codes


def cmyk_jpeg(image_bgr: np.ndarray) -> bytes:
    """A baseline 4-component (Adobe, inverted CMYK) JPEG: every 8x8 block one flat colour.

    Each pixel of ``image_bgr`` becomes an 8x8 block coded with its DC coefficient only.
    """
    bgr = image_bgr.astype(np.float64)
    peak = bgr.max(axis=2)
    safe = np.where(peak == 0, 1, peak)
    # Adobe CMYK as libjpeg hands it to OpenCV: C' = R/K', M' = G/K', Y' = B/K' (scaled), K' = max.
    cmyk = np.dstack([bgr[..., 2] * 255 / safe, bgr[..., 1] * 255 / safe, bgr[..., 0] * 255 / safe, peak])
    cmyk = cmyk.round().clip(0, 255).astype(int)
    rows, cols = cmyk.shape[:2]
    dc_codes = _canonical_codes(_DC_BITS)
    writer = _BitWriter(lsb_first=False)
    previous = [0, 0, 0, 0]
    for y in range(rows):
        for x in range(cols):
            for component in range(4):
                dc = 8 * (int(cmyk[y, x, component]) - 128)  # DC of a flat block, quantiser 1
                diff, previous[component] = dc - previous[component], dc
                size = abs(diff).bit_length()
                writer.write(*dc_codes[size])
                if size:
                    writer.write(diff if diff > 0 else diff + (1 << size) - 1, size)
                writer.write(0, 1)  # AC table has one symbol, EOB, coded as "0"
    adobe = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 0)  # transform 0: CMYK as is
    dqt = b"\x00" + b"\x01" * 64
    sof = struct.pack(">BHHB", 8, rows * 8, cols * 8, 4) + b"".join(bytes([i, 0x11, 0]) for i in range(1, 5))
    dht = b"\x00" + bytes(_DC_BITS) + bytes(range(12)) + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    sos = b"\x04" + b"".join(bytes([i, 0x00]) for i in range(1, 5)) + b"\x00\x3f\x00"
    return (
        b"\xff\xd8" + _segment(0xEE, adobe) + _segment(0xDB, dqt) + _segment(0xC0, sof)
        + _segment(0xC4, dht) + _segment(0xDA, sos) + writer.flush() + b"\xff\xd9"
    )


def _gif_lzw(indices: np.ndarray) -> bytes:
    """LZW data for 2-bit colour indices, never growing the code table (a Clear every 2 codes)."""
    writer = _BitWriter(lsb_first=True)
    for position, index in enumerate(indices.ravel()):
        if position % 2 == 0:
            writer.write(4, 3)  # Clear
        writer.write(int(index), 3)
    writer.write(5, 3)  # End of information
    data = writer.flush()
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    return b"\x02" + blocks + b"\x00"


def animated_gif(frames: list[np.ndarray], palette_bgr: list[tuple[int, int, int]], width: int, height: int) -> bytes:
    """A looping GIF89a with a 4-colour palette; ``frames`` hold colour indices 0..3."""
    palette = b"".join(bytes([r, g, b]) for b, g, r in palette_bgr)
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF1, 0, 0) + palette
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame in frames:
        out += b"\x21\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00"  # 100 ms per frame
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + _gif_lzw(frame)
    return out + b"\x3b"


# --- bombs and header surgery --------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A 1 kB PNG whose header declares width x height (RGB)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + png_chunk(b"IEND", b"")
    )


def patch_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def patch_tiff_size(tiff: bytes, width: int, height: int) -> bytes:
    """Rewrite ImageWidth/ImageLength (SHORT or LONG) in the first IFD of a TIFF."""
    order = "<" if tiff[:2] == b"II" else ">"
    data = bytearray(tiff)
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    for entry in range(struct.unpack_from(order + "H", data, ifd)[0]):
        at = ifd + 2 + 12 * entry
        tag, kind = struct.unpack_from(order + "HH", data, at)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into(order + ("H" if kind == 3 else "I"), data, at + 8, value)
    return bytes(data)


def deflate_tiff_bomb(width: int, height: int) -> bytes:
    """A real bomb: a valid 8-bit grayscale TIFF of zeros in one Deflate strip (~1000:1)."""
    packer, zeros = zlib.compressobj(9), bytes(1 << 20)
    strip = b"".join(packer.compress(zeros[: min(1 << 20, width * height - at)]) for at in range(0, width * height, 1 << 20))
    strip += packer.flush()
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd_size = 2 + 12 * len(tags) + 4
    tags[5] = (273, 4, 8 + ifd_size)  # the strip follows the IFD
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", tag, kind, 1, value) if kind == 4
                                                   else struct.pack("<HHIHH", tag, kind, 1, value, 0)
                                                   for tag, kind, value in tags) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + strip


def bomb_pnm(width: int, height: int) -> bytes:
    return f"P6\n{width} {height}\n255\n".encode() + b"\x80" * 3000


def bomb_hdr(width: int, height: int) -> bytes:
    return f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode() + b"\x80" * 3000


def patch_jp2_size(jp2: bytes, width: int, height: int) -> bytes:
    """Rewrite the JP2 'ihdr' box and the codestream's SIZ marker (image and tile size)."""
    data = bytearray(jp2)
    ihdr = data.find(b"ihdr")
    if ihdr >= 0:
        struct.pack_into(">II", data, ihdr + 4, height, width)
    siz = data.index(b"\xff\x51")
    struct.pack_into(">II", data, siz + 6, width, height)  # Xsiz, Ysiz
    struct.pack_into(">II", data, siz + 22, width, height)  # XTsiz, YTsiz
    return bytes(data)


def patch_tiff_tag(tiff: bytes, tag: int, value: int) -> bytes:
    """Set a one-value SHORT or LONG tag of the first IFD (e.g. StripByteCounts, 279)."""
    order = "<" if tiff[:2] == b"II" else ">"
    data = bytearray(tiff)
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    for entry in range(struct.unpack_from(order + "H", data, ifd)[0]):
        at = ifd + 2 + 12 * entry
        found, kind, count = struct.unpack_from(order + "HHI", data, at)
        if found == tag:
            assert count == 1, (tag, count)
            struct.pack_into(order + "HHII", data, at, tag, 4, 1, value)  # as a LONG
            return bytes(data)
    raise ValueError(f"no tag {tag}")


def deep_png(width: int, height: int, bit_depth: int = 16, colour_type: int = 6) -> bytes:
    """A small PNG whose header declares width x height of 16-bit RGBA (8 bytes per pixel)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + png_chunk(b"IEND", b"")
    )


def jpeg_scan_bounds(jpeg: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan: its SOS segment and entropy-coded data."""
    next_marker = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")  # after entropy-coded data
    bounds, position = [], 2
    while position + 4 <= len(jpeg) and jpeg[position + 1] != 0xD9:
        length = struct.unpack_from(">H", jpeg, position + 2)[0]
        if jpeg[position + 1] == 0xDA:
            end = next_marker.search(jpeg, position + 2 + length).end() - 2
            bounds.append((position, end))
            position = end
        else:
            position += 2 + length
    return bounds


def scan_bomb_jpeg(width: int, height: int, repeats: int) -> bytes:
    """A grey progressive JPEG whose last scan (an AC refinement of a few bytes) is repeated
    ``repeats`` times: libjpeg applies every repeat to the whole image (with a warning), so a file
    of tens of kB keeps a decoder busy for seconds to minutes."""
    grey = np.full((height, width), 128, np.uint8)
    jpeg = encode(grey, ".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, 90])
    start, end = jpeg_scan_bounds(jpeg)[-1]
    return jpeg[:end] + jpeg[start:end] * repeats + jpeg[end:]


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 Exif segment holding only the Orientation tag (0x0112) after SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + _segment(0xE1, payload) + jpeg[2:]


def corrupt_jpeg_header(jpeg: bytes) -> bytes:
    """Declare 9 colour components in the frame header (JPEG allows 1 to 4)."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 9] + b"\x09" + jpeg[sof + 10 :]


# --- the corpus ----------------------------------------------------------------------------------


def corpus_files() -> dict[str, tuple[bytes, Expectation]]:
    """file name -> (bytes, expectation), without touching the disk."""
    image = base_image()
    jpeg = encode(image, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90])
    png = encode(image, ".png")
    rng = np.random.default_rng(20240601)
    bgra = np.dstack([image, np.linspace(0, 255, image.shape[1], dtype=np.uint8)[None, :].repeat(image.shape[0], 0)])
    strip = np.repeat(image[120:121, :, :], 63, axis=1)[:, :20000]  # 1 high x 20000 wide
    palette = [(0, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 0)]
    frame_a = (np.add.outer(np.arange(48), np.arange(64)) // 8 % 4).astype(np.uint8)
    tiny_tiff = encode(image[:16, :16], ".tiff")
    return {
        "empty.jpg": (b"", error("0-byte file", "empty input")),
        "random.bin": (rng.bytes(4096), error("random bytes", "not an image or unsupported format")),
        "notes.txt": (b"label,path\ncat,/tmp/cat.jpg\n" * 20, error("text", "not an image or unsupported format")),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], error("JPEG cut at a third", "truncated or corrupt JPEG")),
        "truncated.png": (png[: len(png) // 2], error("PNG cut in half", "truncated or corrupt PNG")),
        "header_only.jpg": (jpeg[:200], error("JPEG cut inside its headers", "truncated or corrupt JPEG")),
        "corrupt_header.jpg": (corrupt_jpeg_header(jpeg), error("SOF with 9 components", "truncated or corrupt JPEG")),
        "png_named.jpg": (png, prediction("PNG with a .jpg name")),
        "alpha.png": (encode(bgra, ".png"), prediction("BGRA PNG, alpha gradient")),
        "deep16.png": (encode(image.astype(np.uint16) * 257, ".png"), prediction("16-bit RGB PNG")),
        "gray.png": (encode(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), ".png"), prediction("8-bit grayscale PNG")),
        "one_pixel.png": (encode(image[:1, :1], ".png"), prediction("1x1 PNG")),
        "strip_1x20000.png": (encode(strip, ".png"), prediction("1 high x 20000 wide PNG")),
        "strip_20000x1.png": (encode(strip.transpose(1, 0, 2).copy(), ".png"), prediction("20000 high x 1 wide PNG")),
        "cmyk.jpg": (cmyk_jpeg(cv2.resize(image, (40, 30), interpolation=cv2.INTER_AREA)), prediction("Adobe CMYK JPEG")),
        "animated.gif": (animated_gif([frame_a, 3 - frame_a], palette, 64, 48), prediction("2-frame animated GIF")),
        "image.tiff": (encode(image, ".tiff"), prediction("TIFF")),
        "image.webp": (encode(image, ".webp"), prediction("lossy WebP")),
        "image.bmp": (encode(image, ".bmp"), prediction("BMP")),
        "image.ppm": (encode(image, ".ppm"), prediction("binary PPM")),
        "image.pgm": (encode(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), ".pgm"), prediction("binary PGM")),
        "image.hdr": (encode(image.astype(np.float32) / 255, ".hdr"), prediction("Radiance HDR")),
        "image.jp2": (encode(image, ".jp2"), prediction("JPEG 2000")),
        "exif6.jpg": (with_exif_orientation(jpeg, 6), prediction("EXIF orientation 6 (rotate 90 CW)")),
        "exif8.jpg": (with_exif_orientation(jpeg, 8), prediction("EXIF orientation 8 (rotate 90 CCW)")),
        "bomb.png": (bomb_png(100_000, 100_000), error("1 kB PNG declaring 100000x100000", "too many pixels: declared 100000x100000")),
        "bomb.jpg": (patch_jpeg_size(jpeg, 60_000, 60_000), error("JPEG declaring 60000x60000", "too many pixels: declared 60000x60000")),
        "bomb.tiff": (patch_tiff_size(tiny_tiff, 30_000, 30_000), error("TIFF declaring 30000x30000", "too many pixels: declared 30000x30000")),
        "bomb_deflate.tiff": (deflate_tiff_bomb(10_000, 10_000), error("100 kB Deflate TIFF of 10000x10000 zeros", "too many pixels: declared 10000x10000")),
        "bomb.ppm": (bomb_pnm(30_000, 30_000), error("PPM declaring 30000x30000", "too many pixels: declared 30000x30000")),
        "bomb.hdr": (bomb_hdr(30_000, 30_000), error("HDR declaring 30000x30000", "too many pixels: declared 30000x30000")),
        "bomb.jp2": (patch_jp2_size(encode(image[:64, :64], ".jp2"), 20_000, 20_000), error("JPEG 2000 declaring 20000x20000 (no header parser: OpenCV's cap)", "too many pixels: JPEG 2000 over OpenCV's process-wide cap")),
        "zero_width.png": (bomb_png(0, 10), error("PNG declaring width 0", "truncated or corrupt PNG")),
        "strip_bomb.tiff": (patch_tiff_tag(tiny_tiff, 279, 2**31 - 16), error("16x16 TIFF whose StripByteCounts says 2 GiB", "truncated or corrupt TIFF: strip 0 declares 2147483632 bytes")),
        "deep_bomb.png": (deep_png(5000, 5000), error("PNG declaring 5000x5000 16-bit RGBA: under the pixel cap, 200 MB of samples", "too many bytes to decode: declared 5000x5000, 4 channels of 2 bytes")),
        "scan_bomb.jpg": (scan_bomb_jpeg(256, 256, 600), error("progressive JPEG repeating its last scan 600 times", "too many scans: JPEG with more than 500 scans")),
        "oversize.jpg": (
            jpeg + b"\0" * (OVERSIZE_BYTES - len(jpeg)),
            Expectation("valid JPEG padded to 1.2 MB, over the table's 1 mb cap", table_error="image is NULL"),
        ),
    }


def build_corpus(folder: Path) -> dict[str, Expectation]:
    """Write every corpus file into ``folder``; file name -> expectation."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expectations = {}
    for name, (data, expectation) in corpus_files().items():
        (folder / name).write_bytes(data)
        expectations[name] = expectation
    return expectations


if __name__ == "__main__":  # python tests/corpus.py DIR: write the corpus for a look
    import sys

    for name, expectation in build_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")).items():
        print(f"{name:22} {expectation.expected_error(True) or 'prediction':45} {expectation.description}")
