package dev.flinkimageudfs.model.image;

/** A decoded image: {@code height} rows of {@code width} x 3 bytes, B G R, rows packed. */
public final class DecodedImage {

    public final int width;
    public final int height;
    public final byte[] bgr;

    public DecodedImage(int width, int height, byte[] bgr) {
        this.width = width;
        this.height = height;
        this.bgr = bgr;
    }
}
