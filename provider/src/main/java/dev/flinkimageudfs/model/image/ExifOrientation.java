package dev.flinkimageudfs.model.image;

/**
 * The EXIF orientation of a JPEG (tag 0x0112 in IFD0 of its APP1 "Exif" segment) and its
 * application, as OpenCV's {@code imdecode} does for JPEGs: 2 flip horizontally, 3 rotate 180,
 * 4 flip vertically, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise.
 */
final class ExifOrientation {

    private static final int TAG_ORIENTATION = 0x0112;
    private static final int TYPE_SHORT = 3;

    private ExifOrientation() {}

    /** The orientation (1-8) declared by the JPEG in {@code data}; 1 when there is none. */
    static int of(byte[] data) {
        int position = 2; // after SOI
        while (position + 4 <= data.length && (data[position] & 0xFF) == 0xFF) {
            int marker = data[position + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte
                position++;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) { // start of scan, end of image: no more headers
                return 1;
            }
            int length = u16(data, position + 2, false);
            if (marker == 0xE1 && length >= 8 && startsWithExif(data, position + 4)) {
                int orientation = orientationInTiff(data, position + 10, position + 2 + length);
                if (orientation != 0) {
                    return orientation;
                }
            }
            position += 2 + length;
        }
        return 1;
    }

    private static boolean startsWithExif(byte[] data, int at) {
        byte[] exif = {'E', 'x', 'i', 'f', 0, 0};
        if (at + exif.length > data.length) {
            return false;
        }
        for (int i = 0; i < exif.length; i++) {
            if (data[at + i] != exif[i]) {
                return false;
            }
        }
        return true;
    }

    /** The orientation in the TIFF structure at {@code tiff}..{@code end}; 0 when absent. */
    private static int orientationInTiff(byte[] data, int tiff, int end) {
        end = Math.min(end, data.length);
        if (tiff + 8 > end) {
            return 0;
        }
        boolean little = data[tiff] == 'I' && data[tiff + 1] == 'I';
        if (!little && !(data[tiff] == 'M' && data[tiff + 1] == 'M')) {
            return 0;
        }
        long ifd = u32(data, tiff + 4, little);
        if (ifd < 8 || tiff + ifd + 2 > end) {
            return 0;
        }
        int entries = u16(data, tiff + (int) ifd, little);
        for (int i = 0; i < entries; i++) {
            int entry = tiff + (int) ifd + 2 + 12 * i;
            if (entry + 12 > end) {
                return 0;
            }
            if (u16(data, entry, little) == TAG_ORIENTATION && u16(data, entry + 2, little) == TYPE_SHORT) {
                int value = u16(data, entry + 8, little);
                return value >= 1 && value <= 8 ? value : 0;
            }
        }
        return 0;
    }

    private static int u16(byte[] data, int at, boolean little) {
        int a = data[at] & 0xFF;
        int b = data[at + 1] & 0xFF;
        return little ? a | b << 8 : a << 8 | b;
    }

    private static long u32(byte[] data, int at, boolean little) {
        long high = u16(data, at + (little ? 2 : 0), little);
        long low = u16(data, at + (little ? 0 : 2), little);
        return high << 16 | low;
    }

    /** {@code image} turned upright for {@code orientation}; the same object for 1. */
    static DecodedImage apply(DecodedImage image, int orientation) {
        if (orientation <= 1 || orientation > 8) {
            return image;
        }
        int w = image.width;
        int h = image.height;
        boolean swap = orientation >= 5;
        int outWidth = swap ? h : w;
        int outHeight = swap ? w : h;
        byte[] out = new byte[image.bgr.length];
        for (int y = 0; y < outHeight; y++) {
            for (int x = 0; x < outWidth; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2: sx = w - 1 - x; sy = y; break;
                    case 3: sx = w - 1 - x; sy = h - 1 - y; break;
                    case 4: sx = x; sy = h - 1 - y; break;
                    case 5: sx = y; sy = x; break;
                    case 6: sx = y; sy = h - 1 - x; break;
                    case 7: sx = w - 1 - y; sy = h - 1 - x; break;
                    default: sx = w - 1 - y; sy = x; break; // 8
                }
                int from = (sy * w + sx) * 3;
                int to = (y * outWidth + x) * 3;
                out[to] = image.bgr[from];
                out[to + 1] = image.bgr[from + 1];
                out[to + 2] = image.bgr[from + 2];
            }
        }
        return new DecodedImage(outWidth, outHeight, out);
    }
}
