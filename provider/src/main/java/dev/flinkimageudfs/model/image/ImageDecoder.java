package dev.flinkimageudfs.model.image;

/**
 * Encoded bytes to an upright 8-bit BGR image, with the checks of {@code udfs.preprocess}: empty
 * input, too many bytes, and too many pixels as declared by the header, refused before anything
 * is decoded (decompression-bomb guard). JPEG goes through TurboJPEG (CMYK included, EXIF
 * orientation applied), PNG, GIF, BMP and TIFF through {@code javax.imageio}. WebP, PNM, Radiance
 * HDR and JPEG 2000, which OpenCV also reads, are recognised and refused by name.
 *
 * <p>One decoder per thread: it owns a TurboJPEG handle and native buffers.
 */
public final class ImageDecoder implements AutoCloseable {

    private TurboJpegDecoder jpeg;

    /**
     * Decodes {@code data}. With {@code minSide} > 0 a large JPEG decodes at 1/2, 1/4 or 1/8
     * scale as long as its shorter side stays at least {@code minSide}.
     */
    public DecodedImage decode(byte[] data, long maxPixels, long maxBytes, int minSide) throws ImageDecodeException {
        if (data.length == 0) {
            throw new ImageDecodeException("empty input: 0 bytes");
        }
        if (data.length > maxBytes) {
            throw new ImageDecodeException("too many bytes: " + data.length + " > max " + maxBytes);
        }
        String format = sniff(data);
        if (format == null) {
            throw new ImageDecodeException("not an image or unsupported format (starts with " + hex(data, 8) + ")");
        }
        switch (format) {
            case "JPEG":
                if (jpeg == null) {
                    jpeg = new TurboJpegDecoder();
                }
                return ExifOrientation.apply(jpeg.decode(data, maxPixels, minSide), ExifOrientation.of(data));
            case "PNG":
            case "GIF":
            case "BMP":
            case "TIFF":
                return ImageIoDecoder.decode(data, format, maxPixels);
            default:
                throw new ImageDecodeException(
                        "unsupported format: " + format + " (the openvino provider decodes JPEG, PNG, GIF, BMP and TIFF)");
        }
    }

    static void checkPixels(long width, long height, long maxPixels) throws ImageDecodeException {
        if (width * height > maxPixels) {
            throw new ImageDecodeException(
                    "too many pixels: declared " + width + "x" + height + " > max " + maxPixels);
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
