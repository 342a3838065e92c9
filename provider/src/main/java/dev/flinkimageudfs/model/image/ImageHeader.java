package dev.flinkimageudfs.model.image;

/**
 * What an image's header declares, read from the encoded bytes without decoding (the Java side of
 * {@code udfs.preprocess}'s header parsers, with the same rules): size, channels and bytes per
 * sample, so that a decode can be refused by the memory it would need, and for TIFF the strip and
 * tile layout, so that byte counts larger than the file are refused before a reader allocates
 * them. For progressive JPEGs the scans are counted by a walk over the markers.
 */
final class ImageHeader {

    final int width;
    final int height;
    final int channels;
    final int bytesPerSample;

    private ImageHeader(String format, long width, long height, int channels, int bytesPerSample)
            throws ImageDecodeException {
        if (width <= 0 || height <= 0 || width > Integer.MAX_VALUE || height > Integer.MAX_VALUE) {
            throw new ImageDecodeException("truncated or corrupt " + format + " header: size " + width + "x" + height);
        }
        this.width = (int) width;
        this.height = (int) height;
        this.channels = Math.max(1, channels);
        this.bytesPerSample = Math.max(1, bytesPerSample);
    }

    /** Bytes the decoded samples take: width x height x channels x bytes per sample. */
    long decodedBytes() {
        return (long) width * height * channels * bytesPerSample;
    }

    /** The header of {@code data} in {@code format} (a name from {@link ImageDecoder#sniff}). */
    static ImageHeader of(byte[] data, String format) throws ImageDecodeException {
        try {
            switch (format) {
                case "PNG":
                    return png(data);
                case "JPEG":
                    return jpeg(data);
                case "GIF":
                    return new ImageHeader("GIF", u16le(data, 6), u16le(data, 8), 1, 1);
                case "BMP":
                    return bmp(data);
                case "TIFF":
                    return tiff(data);
                default:
                    throw new IllegalArgumentException("no header parser for " + format);
            }
        } catch (ArrayIndexOutOfBoundsException e) {
            throw new ImageDecodeException("truncated or corrupt " + format + " header");
        }
    }

    private static ImageHeader png(byte[] d) throws ImageDecodeException {
        int bitDepth = d[24] & 0xFF;
        int colourType = d[25] & 0xFF;
        int channels = colourType == 2 ? 3 : colourType == 4 ? 2 : colourType == 6 ? 4 : 1;
        return new ImageHeader("PNG", u32be(d, 16), u32be(d, 20), channels, (bitDepth + 7) / 8);
    }

    private static ImageHeader bmp(byte[] d) throws ImageDecodeException {
        if (u32le(d, 14) == 12) { // OS/2 BITMAPCOREHEADER
            return new ImageHeader("BMP", u16le(d, 18), u16le(d, 20), bmpChannels(u16le(d, 24)), 1);
        }
        return new ImageHeader(
                "BMP",
                Math.abs((long) (int) u32le(d, 18)), Math.abs((long) (int) u32le(d, 22)), bmpChannels(u16le(d, 28)), 1);
    }

    private static int bmpChannels(int bitsPerPixel) {
        return bitsPerPixel == 32 ? 4 : bitsPerPixel > 8 ? 3 : 1;
    }

    // --- JPEG ------------------------------------------------------------------------------------

    private static boolean isStandalone(int marker) {
        return marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8);
    }

    private static boolean isFrame(int marker) {
        return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    }

    private static ImageHeader jpeg(byte[] d) throws ImageDecodeException {
        int at = 2;
        while (at + 4 <= d.length && (d[at] & 0xFF) == 0xFF) {
            int marker = d[at + 1] & 0xFF;
            if (marker == 0xFF) {
                at++;
            } else if (isStandalone(marker)) {
                at += 2;
            } else if (isFrame(marker)) {
                int precision = d[at + 4] & 0xFF;
                return new ImageHeader("JPEG", u16be(d, at + 7), u16be(d, at + 5), d[at + 9] & 0xFF, (precision + 7) / 8);
            } else {
                at += 2 + u16be(d, at + 2);
            }
        }
        throw new ImageDecodeException("truncated or corrupt JPEG header");
    }

    /**
     * The number of scans (SOS markers) in a JPEG, counting at most {@code limit} + 1: segments
     * are skipped by their length, entropy-coded data up to the next marker (0xFF followed by
     * neither a stuffed 0x00 nor a restart marker). Cheap: one pass, no decoding.
     */
    static int jpegScans(byte[] d, int limit) {
        int scans = 0;
        int at = 2;
        while (at + 4 <= d.length && (d[at] & 0xFF) == 0xFF) {
            int marker = d[at + 1] & 0xFF;
            if (marker == 0xFF) {
                at++;
                continue;
            }
            if (marker == 0xD9) {
                break;
            }
            if (isStandalone(marker)) {
                at += 2;
                continue;
            }
            at += 2 + u16be(d, at + 2);
            if (marker == 0xDA) {
                if (++scans > limit) {
                    break;
                }
                at = nextMarker(d, at);
            }
        }
        return scans;
    }

    private static int nextMarker(byte[] d, int at) {
        while (at + 1 < d.length) {
            if ((d[at] & 0xFF) != 0xFF) {
                at++;
                continue;
            }
            int next = d[at + 1] & 0xFF;
            if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
                at += 2;
            } else if (next == 0xFF) {
                at++;
            } else {
                return at;
            }
        }
        return d.length;
    }

    // --- TIFF ------------------------------------------------------------------------------------

    private static final int TAG_WIDTH = 256;
    private static final int TAG_HEIGHT = 257;
    private static final int TAG_BITS_PER_SAMPLE = 258;
    private static final int TAG_STRIP_OFFSETS = 273;
    private static final int TAG_SAMPLES_PER_PIXEL = 277;
    private static final int TAG_STRIP_BYTE_COUNTS = 279;
    private static final int TAG_TILE_OFFSETS = 324;
    private static final int TAG_TILE_BYTE_COUNTS = 325;

    /** The first image's tags (the one OpenCV and javax.imageio decode), checked against the file. */
    private static ImageHeader tiff(byte[] d) throws ImageDecodeException {
        boolean little = d[0] == 'I';
        long ifd = u32(d, 4, little);
        int entries = u16(d, (int) ifd, little);
        long width = -1;
        long height = -1;
        int samples = 1;
        int bits = 1;
        long[] offsets = null;
        long[] counts = null;
        long[] tileOffsets = null;
        long[] tileCounts = null;
        for (int i = 0; i < entries; i++) {
            int entry = (int) ifd + 2 + 12 * i;
            int tag = u16(d, entry, little);
            switch (tag) {
                case TAG_WIDTH:
                    width = values(d, entry, little)[0];
                    break;
                case TAG_HEIGHT:
                    height = values(d, entry, little)[0];
                    break;
                case TAG_BITS_PER_SAMPLE:
                    bits = (int) values(d, entry, little)[0];
                    break;
                case TAG_SAMPLES_PER_PIXEL:
                    samples = (int) values(d, entry, little)[0];
                    break;
                case TAG_STRIP_OFFSETS:
                    offsets = values(d, entry, little);
                    break;
                case TAG_STRIP_BYTE_COUNTS:
                    counts = values(d, entry, little);
                    break;
                case TAG_TILE_OFFSETS:
                    tileOffsets = values(d, entry, little);
                    break;
                case TAG_TILE_BYTE_COUNTS:
                    tileCounts = values(d, entry, little);
                    break;
                default:
                    break;
            }
        }
        if (width < 0 || height < 0) {
            throw new ImageDecodeException("truncated or corrupt TIFF header: no ImageWidth/ImageLength");
        }
        checkWithinFile("strip", offsets, counts, d.length);
        checkWithinFile("tile", tileOffsets, tileCounts, d.length);
        return new ImageHeader("TIFF", width, height, samples, (bits + 7) / 8);
    }

    /** Every strip or tile must lie inside the file: a reader allocates what the count says. */
    private static void checkWithinFile(String kind, long[] offsets, long[] counts, long fileSize)
            throws ImageDecodeException {
        if (counts == null) {
            return;
        }
        for (int i = 0; i < counts.length; i++) {
            long offset = offsets != null && i < offsets.length ? offsets[i] : 0;
            if (counts[i] > fileSize || offset + counts[i] > fileSize) {
                throw new ImageDecodeException(ImageDecoder.RULES.error("past_end_of_file", "part", kind, "index", i,
                        "count", counts[i], "offset", offset, "size", fileSize));
            }
        }
    }

    /** The values of an IFD entry of type BYTE, SHORT or LONG (inline or at their offset). */
    private static long[] values(byte[] d, int entry, boolean little) throws ImageDecodeException {
        int type = u16(d, entry + 2, little);
        long count = u32(d, entry + 4, little);
        int size = type == 3 ? 2 : type == 4 ? 4 : type == 1 ? 1 : 0;
        if (size == 0 || count < 1 || count * size > d.length) {
            throw new ImageDecodeException("truncated or corrupt TIFF header: tag " + u16(d, entry, little));
        }
        int at = count * size <= 4 ? entry + 8 : (int) Math.min(Integer.MAX_VALUE, u32(d, entry + 8, little));
        long[] values = new long[(int) count];
        for (int i = 0; i < count; i++) {
            int position = at + i * size;
            values[i] = size == 1 ? d[position] & 0xFF : size == 2 ? u16(d, position, little) : u32(d, position, little);
        }
        return values;
    }

    // --- bytes -----------------------------------------------------------------------------------

    private static int u16(byte[] d, int at, boolean little) {
        return little ? u16le(d, at) : u16be(d, at);
    }

    private static long u32(byte[] d, int at, boolean little) {
        return little ? u32le(d, at) : u32be(d, at);
    }

    private static int u16le(byte[] d, int at) {
        return (d[at] & 0xFF) | (d[at + 1] & 0xFF) << 8;
    }

    private static int u16be(byte[] d, int at) {
        return (d[at] & 0xFF) << 8 | (d[at + 1] & 0xFF);
    }

    private static long u32le(byte[] d, int at) {
        return u16le(d, at) | (long) u16le(d, at + 2) << 16;
    }

    private static long u32be(byte[] d, int at) {
        return (long) u16be(d, at) << 16 | u16be(d, at + 2);
    }
}
