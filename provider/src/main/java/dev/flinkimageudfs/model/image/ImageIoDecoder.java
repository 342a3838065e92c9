package dev.flinkimageudfs.model.image;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBufferByte;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;

/**
 * The JDK's own decoders ({@code javax.imageio}) for PNG, GIF, BMP and TIFF, after {@link
 * ImageDecoder} checked the header ({@link ImageHeader}). Pixels become 8-bit BGR the way
 * OpenCV's {@code IMREAD_COLOR} makes them: grey is replicated, alpha dropped, 16-bit samples
 * keep their high byte, palettes are looked up; the first frame of an animation is used.
 */
final class ImageIoDecoder {

    private ImageIoDecoder() {}

    /**
     * Decodes the first image of {@code data}; its size was checked from the header by the
     * caller. Any failure, conversion to BGR included, is this image's {@link ImageDecodeException}.
     */
    static DecodedImage decode(byte[] data, String format) throws ImageDecodeException {
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format);
        if (!readers.hasNext()) {
            throw new ImageDecodeException("unsupported format: no " + format + " decoder in this JVM");
        }
        ImageReader reader = readers.next();
        // a memory-cached stream: ImageIO.createImageInputStream may cache in temporary files
        try (ImageInputStream input = new MemoryCacheImageInputStream(new ByteArrayInputStream(data))) {
            reader.setInput(input, true, true);
            return toBgr(reader.read(0));
        } catch (IOException | RuntimeException e) { // hostile data: any decoder failure is this row's
            throw new ImageDecodeException(
                    "truncated or corrupt " + format + " data (" + data.length + " bytes): " + e.getMessage());
        } finally {
            reader.dispose();
        }
    }

    private static DecodedImage toBgr(BufferedImage image) {
        int width = image.getWidth();
        int height = image.getHeight();
        byte[] bgr = new byte[width * height * 3];
        Raster raster = image.getRaster();
        ColorModel colorModel = image.getColorModel();
        if (image.getType() == BufferedImage.TYPE_3BYTE_BGR
                && raster.getDataBuffer() instanceof DataBufferByte
                && raster.getParent() == null) {
            System.arraycopy(((DataBufferByte) raster.getDataBuffer()).getData(), 0, bgr, 0, bgr.length);
        } else if (colorModel instanceof ComponentColorModel && isGreyOrRgb(colorModel)) {
            componentsToBgr(raster, colorModel, bgr);
        } else { // palettes and packed pixels: the colour model knows its sRGB values
            int[] row = new int[width];
            for (int y = 0; y < height; y++) {
                image.getRGB(0, y, width, 1, row, 0, width);
                for (int x = 0, o = y * width * 3; x < width; x++, o += 3) {
                    bgr[o] = (byte) row[x];
                    bgr[o + 1] = (byte) (row[x] >> 8);
                    bgr[o + 2] = (byte) (row[x] >> 16);
                }
            }
        }
        return new DecodedImage(width, height, bgr);
    }

    private static boolean isGreyOrRgb(ColorModel colorModel) {
        int type = colorModel.getColorSpace().getType();
        return type == ColorSpace.TYPE_GRAY || type == ColorSpace.TYPE_RGB;
    }

    /** Raw samples (no colour-space conversion: a 16-bit grey PNG is not gamma-adjusted). */
    private static void componentsToBgr(Raster raster, ColorModel colorModel, byte[] bgr) {
        int width = raster.getWidth();
        int bands = raster.getNumBands();
        int colours = colorModel.getNumColorComponents(); // 1 grey or 3 RGB; alpha follows
        int shift = Math.max(0, colorModel.getComponentSize(0) - 8);
        int[] row = new int[width * bands];
        for (int y = 0; y < raster.getHeight(); y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, width, 1, row);
            for (int x = 0, o = y * width * 3; x < width; x++, o += 3) {
                int at = x * bands;
                int red = row[at] >> shift;
                int green = colours >= 3 ? row[at + 1] >> shift : red;
                int blue = colours >= 3 ? row[at + 2] >> shift : red;
                bgr[o] = (byte) blue;
                bgr[o + 1] = (byte) green;
                bgr[o + 2] = (byte) red;
            }
        }
    }
}
