package dev.flinkimageudfs.model.image;

/** The bytes of one image cannot be turned into pixels; the message says why. */
public class ImageDecodeException extends Exception {

    private static final long serialVersionUID = 1L;

    public ImageDecodeException(String message) {
        super(message);
    }
}
