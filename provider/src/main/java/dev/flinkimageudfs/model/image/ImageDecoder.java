package dev.flinkimageudfs.model.image;

import dev.flinkimageudfs.model.PresetCatalog;

/**
 * Encoded bytes to an upright 8-bit BGR image, with the checks of {@code udfs.preprocess}, made
 * from the header before anything is decoded: empty input, too many bytes, too many pixels, too
 * many bytes to decode (width x height x channels x bytes per sample over 3 x the pixel cap: a
 * 16-bit RGBA image needs 8 bytes per pixel), TIFF strips or tiles larger than the file, and
 * JPEGs with more scans than the limit (a progressive JPEG can repeat a scan thousands of times).
 * JPEG goes through TurboJPEG (CMYK included, EXIF orientation applied), PNG, GIF, BMP and TIFF
 * through {@code javax.imageio}. WebP, PNM, Radiance HDR and JPEG 2000, which OpenCV also reads,
 * are recognised and refused by name. Whatever a decoder throws becomes an {@link
 * ImageDecodeException}: one bad image is one error row.
 *
 * <p>One decoder per thread: it owns a TurboJPEG handle and native buffers.
 */
public final class ImageDecoder implements AutoCloseable {

    /** libjpeg-turbo's own limit ({@code TJFLAG_LIMITSCANS}); the default of 'max-jpeg-scans'. */
    public static final int LIBJPEG_SCAN_LIMIT = 500;

    /** Decoded bytes allowed per allowed pixel: 8-bit BGR. */
    static final int BYTES_PER_PIXEL_BUDGET = 3;

    /** The error texts, shared with {@code udfs.preprocess} ({@code udfs.rules.ERRORS}). */
    static final PresetCatalog RULES = PresetCatalog.get();

    private TurboJpegDecoder jpeg;

    /** {@link #decode(byte[], long, long, int, int)} with libjpeg-turbo's scan limit. */
    public DecodedImage decode(byte[] data, long maxPixels, long maxBytes, int minSide) throws ImageDecodeException {
        return decode(data, maxPixels, maxBytes, LIBJPEG_SCAN_LIMIT, minSide);
    }

    /**
     * Decodes {@code data}. With {@code minSide} > 0 a large JPEG decodes at 1/2, 1/4 or 1/8
     * scale as long as its shorter side stays at least {@code minSide}.
     */
    public DecodedImage decode(byte[] data, long maxPixels, long maxBytes, int maxJpegScans, int minSide)
            throws ImageDecodeException {
        if (data.length == 0) {
            throw new ImageDecodeException(RULES.error("empty"));
        }
        if (data.length > maxBytes) {
            throw new ImageDecodeException(RULES.error("too_many_bytes", "size", data.length, "max", maxBytes));
        }
        String format = sniff(data);
        if (format == null) {
            throw new ImageDecodeException("not an image or unsupported format (starts with " + hex(data, 8) + ")");
        }
        if (!SUPPORTED.contains(format)) {
            throw new ImageDecodeException(
                    "unsupported format: " + format + " (the openvino provider decodes JPEG, PNG, GIF, BMP and TIFF)");
        }
        if ("JPEG".equals(format) && jpeg == null) {
            jpeg = new TurboJpegDecoder(); // outside the guard: a library that cannot load fails the job
        }
        try {
            ImageHeader header = ImageHeader.of(data, format);
            checkSize(header.width, header.height, header.channels, header.bytesPerSample, maxPixels);
            if ("JPEG".equals(format)) {
                checkScans(data, maxJpegScans);
                return ExifOrientation.apply(jpeg.decode(data, maxPixels, maxJpegScans, minSide), ExifOrientation.of(data));
            }
            return ImageIoDecoder.decode(data, format);
        } catch (RuntimeException e) { // hostile data: whatever a decoder throws is this row's error
            throw new ImageDecodeException("cannot decode " + format + ": " + e);
        }
    }

    private static final java.util.Set<String> SUPPORTED = java.util.Set.of("JPEG", "PNG", "GIF", "BMP", "TIFF");

    static void checkPixels(long width, long height, long maxPixels) throws ImageDecodeException {
        if (width * height > maxPixels) {
            throw new ImageDecodeException(
                    RULES.error("too_many_pixels", "width", width, "height", height, "max", maxPixels));
        }
    }

    /** The pixel cap, then the bytes the decoded samples take against 3 bytes per allowed pixel. */
    static void checkSize(long width, long height, int channels, int bytesPerSample, long maxPixels)
            throws ImageDecodeException {
        checkPixels(width, height, maxPixels);
        long bytes = width * height * channels * bytesPerSample;
        if (bytes > BYTES_PER_PIXEL_BUDGET * maxPixels) {
            throw new ImageDecodeException(RULES.error("too_many_decoded_bytes", "width", width, "height", height,
                    "channels", channels, "sample_bytes", bytesPerSample, "bytes", bytes,
                    "max", BYTES_PER_PIXEL_BUDGET * maxPixels));
        }
    }

    static void checkScans(byte[] data, int maxScans) throws ImageDecodeException {
        if (ImageHeader.jpegScans(data, maxScans) > maxScans) {
            throw new ImageDecodeException(RULES.error("too_many_scans", "max", maxScans));
        }
    }

    /** The format named by the file's signature, or null. */
    static String sniff(byte[] d) {
        if (startsWith(d, 0, 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n')) {
            return "PNG";
        }
        if (startsWith(d, 0, 0xFF, 0xD8, 0xFF)) {
            return "JPEG";
        }
        if (startsWith(d, 0, 'G', 'I', 'F', '8', '7', 'a') || startsWith(d, 0, 'G', 'I', 'F', '8', '9', 'a')) {
            return "GIF";
        }
        if (startsWith(d, 0, 'B', 'M')) {
            return "BMP";
        }
        if (startsWith(d, 0, 'R', 'I', 'F', 'F') && startsWith(d, 8, 'W', 'E', 'B', 'P')) {
            return "WebP";
        }
        if (startsWith(d, 0, 'I', 'I', '*', 0) || startsWith(d, 0, 'M', 'M', 0, '*')) {
            return "TIFF";
        }
        if (d.length >= 3 && d[0] == 'P' && "123456Ff".indexOf(d[1]) >= 0 && Character.isWhitespace(d[2])) {
            return "PNM";
        }
        if (startsWith(d, 0, '#', '?', 'R', 'A', 'D', 'I', 'A', 'N', 'C', 'E') || startsWith(d, 0, '#', '?', 'R', 'G', 'B', 'E')) {
            return "Radiance HDR";
        }
        if (startsWith(d, 0, 0, 0, 0, 0x0C, 'j', 'P', ' ', ' ') || startsWith(d, 0, 0xFF, 0x4F, 0xFF, 0x51)) {
            return "JPEG 2000";
        }
        return null;
    }

    private static boolean startsWith(byte[] data, int offset, int... signature) {
        if (data.length < offset + signature.length) {
            return false;
        }
        for (int i = 0; i < signature.length; i++) {
            if ((data[offset + i] & 0xFF) != signature[i]) {
                return false;
            }
        }
        return true;
    }

    private static String hex(byte[] data, int count) {
        StringBuilder text = new StringBuilder("0x");
        for (int i = 0; i < Math.min(count, data.length); i++) {
            text.append(String.format("%02x", data[i] & 0xFF));
        }
        return text.toString();
    }

    @Override
    public void close() {
        if (jpeg != null) {
            jpeg.close();
            jpeg = null;
        }
    }
}
