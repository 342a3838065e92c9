package dev.flinkimageudfs.model.image;

import dev.flinkimageudfs.model.Preprocessing;

/**
 * The resize policies of {@code udfs.preprocess.resize_and_crop}, giving the crop x crop x 3 u8
 * BGR input of the model:
 *
 * <ul>
 *   <li>{@code resize-shorter-side-then-crop} (torchvision): shorter side to resize_size, centre crop;
 *   <li>{@code center-crop}: centre crop at the decoded scale, upscaling images smaller than it;
 *   <li>{@code stretch}: the whole image squashed to crop x crop.
 * </ul>
 *
 * Resizing is OpenCV's {@code INTER_LINEAR} for 8-bit images: pixel-centre alignment, 11-bit
 * fixed-point weights, the vertical pass rounded as its SIMD code does, and exact 2:1
 * reductions averaged in 2x2 blocks (OpenCV switches those to {@code INTER_AREA}). Only the
 * pixels inside the crop window are computed.
 */
public final class ResizeAndCrop {

    /**
     * Longest side kept, as a multiple of the shorter one, before scaling the shorter side up: a
     * 1 x 20000 strip scaled to a shorter side of 256 would otherwise need 256 x 5,120,000 pixels.
     */
    static final int MAX_ASPECT_RATIO = 16;

    private static final int COEF_BITS = 11;
    private static final float COEF_SCALE = 1 << COEF_BITS;

    private ResizeAndCrop() {}

    /** The model input for {@code image}: a packed crop x crop x 3 BGR array. */
    public static byte[] apply(DecodedImage image, Preprocessing preprocessing) {
        int crop = preprocessing.cropSize;
        Window source = new Window(image, 0, 0, image.width, image.height);
        switch (preprocessing.resizePolicy) {
            case Preprocessing.STRETCH:
                return resize(source, crop, crop, 0, 0, crop);
            case Preprocessing.CENTER_CROP:
                source = source.trimLongSide();
                if (Math.min(source.width, source.height) < crop) {
                    return resizeShorterSideAndCrop(source, crop, crop);
                }
                return source.centerCrop(crop);
            default: // resize-shorter-side-then-crop
                return resizeShorterSideAndCrop(source.trimLongSide(), preprocessing.resizeSize, crop);
        }
    }

    private static byte[] resizeShorterSideAndCrop(Window source, int size, int crop) {
        if (Math.min(source.width, source.height) == size) {
            return source.centerCrop(crop);
        }
        int width;
        int height;
        if (source.height <= source.width) { // torchvision's rounding: the longer side truncated
            height = size;
            width = (int) ((double) ((long) size * source.width) / source.height);
        } else {
            width = size;
            height = (int) ((double) ((long) size * source.height) / source.width);
        }
        return resize(source, width, height, centerOffset(width, crop), centerOffset(height, crop), crop);
    }

    /** Python's {@code int(round((length - crop) / 2.0))}: half-way cases round to even. */
    static int centerOffset(int length, int crop) {
        return (int) Math.rint((length - crop) / 2.0);
    }

    /**
     * The window {@code left..left+crop} x {@code top..top+crop} of {@code source} resized to
     * {@code width} x {@code height}.
     */
    private static byte[] resize(Window source, int width, int height, int left, int top, int crop) {
        double invScaleX = (double) width / source.width;
        double invScaleY = (double) height / source.height;
        double scaleX = 1.0 / invScaleX;
        double scaleY = 1.0 / invScaleY;
        if (isExactly(scaleX, 2) && isExactly(scaleY, 2)) {
            return halve(source, left, top, crop);
        }
        int[] xOffset = new int[crop];
        int[] xWeight = new int[crop * 2];
        weights(scaleX, left, crop, source.width, xOffset, xWeight);
        int[] yOffset = new int[crop];
        int[] yWeight = new int[crop * 2];
        weights(scaleY, top, crop, source.height, yOffset, yWeight);

        byte[] out = new byte[crop * crop * 3];
        int[][] rows = {new int[crop * 3], new int[crop * 3]};
        int[] rowOf = {-1, -1}; // which source row each buffer holds
        for (int dy = 0; dy < crop; dy++) {
            int sy = yOffset[dy];
            int[] upper = horizontal(source, Math.min(sy, source.height - 1), rows, rowOf, xOffset, xWeight);
            int[] lower = horizontal(source, Math.min(sy + 1, source.height - 1), rows, rowOf, xOffset, xWeight);
            int b0 = yWeight[2 * dy];
            int b1 = yWeight[2 * dy + 1];
            int o = dy * crop * 3;
            for (int i = 0; i < crop * 3; i++) {
                int value = ((((upper[i] >> 4) * b0) >> 16) + (((lower[i] >> 4) * b1) >> 16) + 2) >> 2;
                out[o + i] = (byte) (value < 0 ? 0 : value > 255 ? 255 : value);
            }
        }
        return out;
    }

    /** Source offsets and fixed-point weights of output positions {@code first..first+count}. */
    private static void weights(double scale, int first, int count, int sourceLength, int[] offset, int[] weight) {
        for (int i = 0; i < count; i++) {
            float f = (float) ((first + i + 0.5) * scale - 0.5);
            int s = (int) Math.floor(f);
            f -= s;
            if (s < 0) {
                f = 0;
                s = 0;
            }
            if (s >= sourceLength - 1) {
                f = 0;
                s = sourceLength - 1;
            }
            offset[i] = s;
            weight[2 * i] = (int) Math.rint((1.0f - f) * COEF_SCALE);
            weight[2 * i + 1] = (int) Math.rint(f * COEF_SCALE);
        }
    }

    /** Source row {@code sy} resized horizontally (weights scaled by 2^11), from a two-row cache. */
    private static int[] horizontal(Window source, int sy, int[][] rows, int[] rowOf, int[] xOffset, int[] xWeight) {
        for (int k = 0; k < 2; k++) {
            if (rowOf[k] == sy) {
                return rows[k];
            }
        }
        int k = rowOf[0] < rowOf[1] ? 0 : 1; // rows only move down: replace the upper one
        int[] row = rows[k];
        rowOf[k] = sy;
        byte[] pixels = source.image.bgr;
        int base = ((source.top + sy) * source.image.width + source.left) * 3;
        int last = source.width - 1;
        for (int dx = 0; dx < xOffset.length; dx++) {
            int p0 = base + xOffset[dx] * 3;
            int p1 = base + Math.min(xOffset[dx] + 1, last) * 3;
            int a0 = xWeight[2 * dx];
            int a1 = xWeight[2 * dx + 1];
            for (int c = 0; c < 3; c++) {
                row[dx * 3 + c] = (pixels[p0 + c] & 0xFF) * a0 + (pixels[p1 + c] & 0xFF) * a1;
            }
        }
        return row;
    }

    private static boolean isExactly(double scale, int value) {
        return Math.abs(scale - value) < Math.ulp(1.0);
    }

    /** An exact 2:1 reduction: the rounded mean of each 2x2 block. */
    private static byte[] halve(Window source, int left, int top, int crop) {
        byte[] pixels = source.image.bgr;
        int stride = source.image.width * 3;
        byte[] out = new byte[crop * crop * 3];
        for (int dy = 0; dy < crop; dy++) {
            int row = (source.top + 2 * (top + dy)) * stride + source.left * 3;
            for (int dx = 0; dx < crop; dx++) {
                int p = row + 2 * (left + dx) * 3;
                for (int c = 0; c < 3; c++) {
                    int sum = (pixels[p + c] & 0xFF) + (pixels[p + 3 + c] & 0xFF)
                            + (pixels[p + stride + c] & 0xFF) + (pixels[p + stride + 3 + c] & 0xFF);
                    out[(dy * crop + dx) * 3 + c] = (byte) ((sum + 2) >> 2);
                }
            }
        }
        return out;
    }

    /** A rectangle of a decoded image. */
    private static final class Window {
        final DecodedImage image;
        final int left;
        final int top;
        final int width;
        final int height;

        Window(DecodedImage image, int left, int top, int width, int height) {
            this.image = image;
            this.left = left;
            this.top = top;
            this.width = width;
            this.height = height;
        }

        /** The centred window whose long side is at most {@link #MAX_ASPECT_RATIO} x the short one. */
        Window trimLongSide() {
            long keep = (long) MAX_ASPECT_RATIO * Math.min(width, height);
            if (height > keep) {
                return new Window(image, left, top + (int) ((height - keep) / 2), width, (int) keep);
            }
            if (width > keep) {
                return new Window(image, left + (int) ((width - keep) / 2), top, (int) keep, height);
            }
            return this;
        }

        /** The central crop x crop pixels (the window is at least that large). */
        byte[] centerCrop(int crop) {
            int x = left + centerOffset(width, crop);
            int y = top + centerOffset(height, crop);
            byte[] out = new byte[crop * crop * 3];
            for (int row = 0; row < crop; row++) {
                System.arraycopy(image.bgr, ((y + row) * image.width + x) * 3, out, row * crop * 3, crop * 3);
            }
            return out;
        }
    }
}
