import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.presets import RESIZE_POLICIES, Preprocessing
from udfs.preprocess import ImageDecodeError, center_crop, decode_image, needed_shorter_side, resize_and_crop

MAX_PIXELS = 50_000_000


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


def coordinate_image(height: int, width: int) -> np.ndarray:
    """Pixel (y, x) holds (x % 256, y % 256, 0) so a crop reveals where it was taken."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.dstack([xs % 256, ys % 256, np.zeros_like(xs)]).astype(np.uint8)


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 Exif segment holding only the Orientation tag (0x0112) after SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A 1 kB PNG whose header declares width x height."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + png_chunk(b"IEND", b"")
    )


# --- decode --------------------------------------------------------------------------------------


def test_decode_color_png_round_trips_bgr():
    image = coordinate_image(30, 40)
    decoded = decode_image(encode(image), MAX_PIXELS)
    assert decoded.dtype == np.uint8 and decoded.shape == (30, 40, 3)
    np.testing.assert_array_equal(decoded, image)


def test_decode_grayscale_gives_three_equal_channels():
    gray = np.arange(20 * 10, dtype=np.uint8).reshape(20, 10)
    decoded = decode_image(encode(gray), MAX_PIXELS)
    assert decoded.shape == (20, 10, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[..., channel], gray)


def test_decode_alpha_is_dropped():
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[...] = (10, 20, 30, 128)
    decoded = decode_image(encode(bgra), MAX_PIXELS)
    assert decoded.shape == (8, 8, 3)
    assert tuple(decoded[0, 0]) == (10, 20, 30)


def test_decode_16_bit_png_is_scaled_to_8_bit():
    deep = np.full((6, 6, 3), 100 * 256, np.uint16)
    deep[0, 0] = 65535
    decoded = decode_image(encode(deep), MAX_PIXELS)
    assert decoded.dtype == np.uint8
    assert tuple(decoded[0, 0]) == (255, 255, 255) and tuple(decoded[1, 1]) == (100, 100, 100)


def test_decode_applies_exif_orientation():
    # Stored 20 high x 40 wide, left half red; orientation 6 = rotate 90 degrees clockwise.
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = (0, 0, 255)
    image[:, 20:] = (255, 0, 0)
    jpeg = with_exif_orientation(encode(image, ".jpg"), 6)
    decoded = decode_image(jpeg, MAX_PIXELS)
    assert decoded.shape == (40, 20, 3)
    assert decoded[5, 10, 2] > 200 and decoded[5, 10, 0] < 50  # top is red
    assert decoded[35, 10, 0] > 200 and decoded[35, 10, 2] < 50  # bottom is blue


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty input"),
        (np.random.default_rng(0).bytes(2048), "not an image"),
        (b"label,path\ncat,/tmp/cat.jpg\n", "not an image"),
        (b"\xff\xd8\xff\xe0\x00", "truncated or corrupt JPEG"),
    ],
    ids=["empty", "random", "text", "jpeg-header-only"],
)
def test_decode_errors(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(data, MAX_PIXELS)


def test_decode_truncated_jpeg():
    jpeg = encode(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8), ".jpg")
    with pytest.raises(ImageDecodeError, match="truncated or corrupt JPEG"):
        decode_image(jpeg[: len(jpeg) // 2], MAX_PIXELS)


def test_decode_refuses_bomb_png_before_allocating():
    with pytest.raises(ImageDecodeError, match=r"too many pixels: declared 100000x100000 > max 50000000"):
        decode_image(bomb_png(100_000, 100_000), MAX_PIXELS)


def _patch_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def _patch_bmp_size(bmp: bytes, width: int, height: int) -> bytes:
    return bmp[:18] + struct.pack("<ii", width, height) + bmp[26:]


@pytest.mark.parametrize(
    "ext, patch", [(".jpg", _patch_jpeg_size), (".bmp", _patch_bmp_size)], ids=["jpeg", "bmp"]
)
def test_decode_refuses_declared_size_over_limit(ext, patch):
    data = patch(encode(coordinate_image(16, 16), ext), 60_000, 60_000)
    with pytest.raises(ImageDecodeError, match="declared 60000x60000"):
        decode_image(data, MAX_PIXELS)


def test_decode_checks_pixels_of_formats_without_header_parser():
    tiff = encode(coordinate_image(100, 100), ".tiff")
    assert decode_image(tiff, MAX_PIXELS).shape == (100, 100, 3)
    with pytest.raises(ImageDecodeError, match="too many pixels: declared 100x100 > max 5000"):
        decode_image(tiff, 5000)


def test_decode_refuses_too_many_bytes():
    with pytest.raises(ImageDecodeError, match="too many bytes"):
        decode_image(encode(coordinate_image(16, 16)), MAX_PIXELS, max_bytes=10)


# --- resize and crop -----------------------------------------------------------------------------


def test_resize_shorter_side_then_crop_landscape_matches_reference():
    image = coordinate_image(300, 600)
    crop = resize_and_crop(image, Preprocessing())
    # Reference by hand: 300x600 -> 256x512, then rows 16..240 and columns 144..368.
    resized = cv2.resize(image, (512, 256), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop, resized[16:240, 144:368])


def test_resize_shorter_side_then_crop_portrait_matches_reference():
    image = coordinate_image(500, 250)
    crop = resize_and_crop(image, Preprocessing())
    resized = cv2.resize(image, (256, 512), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop, resized[144:368, 16:240])


def test_center_crop_policy_crops_at_native_resolution():
    image = coordinate_image(300, 400)
    crop = resize_and_crop(image, Preprocessing(resize_policy="center-crop"))
    assert tuple(crop[0, 0, :2]) == (88, 38)  # (x, y) of the crop's top-left = ((400-224)/2, (300-224)/2)
    np.testing.assert_array_equal(crop, image[38:262, 88:312])


def test_center_crop_policy_upscales_small_images():
    crop = resize_and_crop(coordinate_image(100, 150), Preprocessing(resize_policy="center-crop"))
    assert crop.shape == (224, 224, 3)


def test_stretch_policy_squashes_whole_image():
    image = coordinate_image(100, 400)
    crop = resize_and_crop(image, Preprocessing(resize_policy="stretch"))
    np.testing.assert_array_equal(crop, cv2.resize(image, (224, 224), interpolation=cv2.INTER_LINEAR))


def test_center_crop_helper_is_centred():
    image = coordinate_image(10, 10)
    assert tuple(center_crop(image, 4)[0, 0, :2]) == (3, 3)


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 1200),
    width=st.integers(1, 1200),
    policy=st.sampled_from(RESIZE_POLICIES),
)
def test_any_size_gives_contiguous_crop(height, width, policy):
    crop = resize_and_crop(np.zeros((height, width, 3), np.uint8), Preprocessing(resize_policy=policy))
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert crop.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("min_side, shape", [(None, (600, 1000)), (256, (300, 500)), (100, (150, 250)), (75, (75, 125)), (601, (600, 1000))])
def test_large_jpeg_is_decoded_reduced_while_the_shorter_side_suffices(min_side, shape):
    jpeg = encode(coordinate_image(600, 1000), ".jpg")
    assert decode_image(jpeg, MAX_PIXELS, min_side=min_side).shape == (*shape, 3)


def test_reduced_decode_keeps_exif_orientation_and_skips_other_formats():
    image = np.zeros((600, 1000, 3), np.uint8)
    image[:100, :100] = 255  # bright top-left corner
    rotated = decode_image(with_exif_orientation(encode(image, ".jpg"), 6), MAX_PIXELS, min_side=256)
    assert rotated.shape == (500, 300, 3)
    assert rotated[:25, -25:].mean() > 200  # rotated 90 degrees clockwise: the corner is top-right
    assert decode_image(encode(image), MAX_PIXELS, min_side=256).shape == (600, 1000, 3)  # PNG: full


def test_needed_shorter_side_follows_the_resize_policy():
    assert needed_shorter_side(Preprocessing(resize_size=256, crop_size=224)) == 256
    assert needed_shorter_side(Preprocessing(crop_size=224, resize_policy="stretch")) == 224
    assert needed_shorter_side(Preprocessing(crop_size=224, resize_policy="center-crop")) is None
