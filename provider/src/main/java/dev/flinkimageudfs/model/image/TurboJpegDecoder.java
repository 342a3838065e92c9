package dev.flinkimageudfs.model.image;

import dev.flinkimageudfs.model.NativeLibraries;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/**
 * Decodes JPEGs with libjpeg-turbo's TurboJPEG API: the same library and settings (accurate
 * integer IDCT, fancy upsampling) as OpenCV's decoder, so the pixels match {@code cv2.imdecode}.
 * Large photos decode at 1/2, 1/4 or 1/8 scale in the DCT domain when the shorter side stays at
 * least the resize target, as {@code cv2.IMREAD_REDUCED_COLOR_*} does on the Python side.
 *
 * <p>One decoder per thread (a TurboJPEG handle is not thread-safe). JNA would copy a Java array
 * into fresh native memory on every call, so the encoded bytes and the pixels go through native
 * buffers kept between images (up to {@value #KEPT_BUFFER_BYTES} bytes; larger ones are freed
 * after the image).
 */
final class TurboJpegDecoder implements AutoCloseable {

    private static final long KEPT_BUFFER_BYTES = 32L << 20;
    private static final int[] REDUCTIONS = {8, 4, 2};

    private final TurboJpegC tj;
    private Pointer handle;
    private Memory encoded;
    private Memory pixels;

    TurboJpegDecoder() {
        tj = NativeLibraries.turboJpeg(TurboJpegC.class);
        handle = newHandle();
    }

    private Pointer newHandle() {
        Pointer created = tj.tjInitDecompress();
        if (created == null) {
            throw new IllegalStateException("tjInitDecompress failed: " + tj.tjGetErrorStr2(null));
        }
        return created;
    }

    /**
     * A new handle after a failed call: libjpeg-turbo 2.1 leaves a decompressor that failed inside
     * {@code tjDecompressHeader3} mid-header, and its next image fails with "Bogus marker length".
     */
    private ImageDecodeException reset(String message) {
        Pointer old = handle;
        handle = null; // never destroyed twice, even if a new one cannot be made
        tj.tjDestroy(old);
        handle = newHandle();
        return new ImageDecodeException(message);
    }

    /**
     * Decodes {@code data} to BGR (EXIF orientation not applied). With {@code minSide} > 0, the
     * smallest of 1/8, 1/4, 1/2 scale whose shorter side stays at least {@code minSide}.
     */
    DecodedImage decode(byte[] data, long maxPixels, int maxScans, int minSide) throws ImageDecodeException {
        if (handle == null) {
            handle = newHandle();
        }
        encoded = ensure(encoded, data.length);
        encoded.write(0, data, 0, data.length);
        IntByReference width = new IntByReference();
        IntByReference height = new IntByReference();
        IntByReference subsampling = new IntByReference();
        IntByReference colorspace = new IntByReference();
        if (tj.tjDecompressHeader3(handle, encoded, data.length, width, height, subsampling, colorspace) != 0) {
            throw reset("truncated or corrupt JPEG header: " + tj.tjGetErrorStr2(handle));
        }
        ImageDecoder.checkPixels(width.getValue(), height.getValue(), maxPixels);
        int factor = 1;
        for (int reduction : REDUCTIONS) {
            if (minSide > 0 && Math.min(width.getValue(), height.getValue()) / reduction >= minSide) {
                factor = reduction;
                break;
            }
        }
        int scaledWidth = (width.getValue() + factor - 1) / factor;
        int scaledHeight = (height.getValue() + factor - 1) / factor;
        boolean cmyk = colorspace.getValue() == TurboJpegC.TJCS_CMYK || colorspace.getValue() == TurboJpegC.TJCS_YCCK;
        int channels = cmyk ? 4 : 3;
        long size = (long) scaledWidth * scaledHeight * channels;
        pixels = ensure(pixels, size);
        try {
            int status =
                    tj.tjDecompress2(
                            handle,
                            encoded,
                            data.length,
                            pixels,
                            scaledWidth,
                            scaledWidth * channels,
                            scaledHeight,
                            cmyk ? TurboJpegC.TJPF_CMYK : TurboJpegC.TJPF_BGR,
                            TurboJpegC.TJFLAG_ACCURATEDCT
                                    // libjpeg-turbo's own limit too, unless the option allows more
                                    | (maxScans <= ImageDecoder.LIBJPEG_SCAN_LIMIT ? TurboJpegC.TJFLAG_LIMITSCANS : 0));
            if (status != 0) {
                String message = tj.tjGetErrorStr2(handle);
                // A warning still leaves an image. OpenCV accepts most (e.g. extraneous bytes
                // before a marker) but refuses a file that ends early: so do we.
                if (tj.tjGetErrorCode(handle) != TurboJpegC.TJERR_WARNING || message.contains("Premature end")) {
                    throw reset("truncated or corrupt JPEG data (" + data.length + " bytes): " + message);
                }
            }
            byte[] bgr = new byte[scaledWidth * scaledHeight * 3];
            if (cmyk) {
                byte[] raw = pixels.getByteArray(0, (int) size);
                cmykToBgr(raw, bgr);
            } else {
                pixels.read(0, bgr, 0, bgr.length);
            }
            return new DecodedImage(scaledWidth, scaledHeight, bgr);
        } finally {
            if (pixels.size() > KEPT_BUFFER_BYTES) {
                pixels.close();
                pixels = null;
            }
            if (encoded.size() > KEPT_BUFFER_BYTES) {
                encoded.close();
                encoded = null;
            }
        }
    }

    /** libjpeg's Adobe (inverted) CMYK to BGR, the formula of OpenCV's JPEG decoder. */
    private static void cmykToBgr(byte[] cmyk, byte[] bgr) {
        for (int i = 0, o = 0; i < cmyk.length; i += 4, o += 3) {
            int c = cmyk[i] & 0xFF;
            int m = cmyk[i + 1] & 0xFF;
            int y = cmyk[i + 2] & 0xFF;
            int k = cmyk[i + 3] & 0xFF;
            bgr[o] = (byte) (k - ((255 - y) * k >> 8));
            bgr[o + 1] = (byte) (k - ((255 - m) * k >> 8));
            bgr[o + 2] = (byte) (k - ((255 - c) * k >> 8));
        }
    }

    /** {@code buffer} if large enough, else a new one; the old one is freed only once the new exists. */
    private static Memory ensure(Memory buffer, long size) {
        if (buffer != null && buffer.size() >= size) {
            return buffer;
        }
        Memory larger = new Memory(Math.max(size, 1 << 16));
        if (buffer != null) {
            buffer.close();
        }
        return larger;
    }

    @Override
    public void close() {
        if (handle != null) {
            tj.tjDestroy(handle);
            handle = null;
        }
        if (encoded != null) {
            encoded.close();
            encoded = null;
        }
        if (pixels != null) {
            pixels.close();
            pixels = null;
        }
    }
}
