package dev.flinkimageudfs.model.preset;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Objects;

/**
 * How a decoded image becomes the model's input: the fields of {@code udfs.presets.Preprocessing}.
 * {@code mean} and {@code scale} are in 0-255 pixel units, per channel in the model's channel
 * order, applied by OpenVINO as {@code (pixel - mean) / scale}; {@code null} skips the step.
 */
public final class Preprocessing implements Serializable {

    private static final long serialVersionUID = 1L;

    public static final String RESIZE_SHORTER_SIDE_THEN_CROP = "resize-shorter-side-then-crop";
    public static final String CENTER_CROP = "center-crop";
    public static final String STRETCH = "stretch";

    public final int resizeSize;
    public final int cropSize;
    public final String resizePolicy;
    public final String interpolation;
    public final String channelOrder;
    public final String layout;
    public final float[] mean;
    public final float[] scale;

    public Preprocessing(
            int resizeSize,
            int cropSize,
            String resizePolicy,
            String interpolation,
            String channelOrder,
            String layout,
            float[] mean,
            float[] scale) {
        this.resizeSize = resizeSize;
        this.cropSize = cropSize;
        this.resizePolicy = resizePolicy;
        this.interpolation = interpolation;
        this.channelOrder = channelOrder;
        this.layout = layout;
        this.mean = mean;
        this.scale = scale;
    }

    /**
     * The smallest shorter side the resize policy can start from without upscaling, or 0 when it
     * needs the native resolution (center-crop crops at the decoded scale).
     */
    public int neededShorterSide() {
        switch (resizePolicy) {
            case RESIZE_SHORTER_SIDE_THEN_CROP:
                return resizeSize;
            case STRETCH:
                return cropSize;
            default:
                return 0;
        }
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Preprocessing)) {
            return false;
        }
        Preprocessing that = (Preprocessing) other;
        return resizeSize == that.resizeSize
                && cropSize == that.cropSize
                && resizePolicy.equals(that.resizePolicy)
                && interpolation.equals(that.interpolation)
                && channelOrder.equals(that.channelOrder)
                && layout.equals(that.layout)
                && Arrays.equals(mean, that.mean)
                && Arrays.equals(scale, that.scale);
    }

    @Override
    public int hashCode() {
        return Objects.hash(resizeSize, cropSize, resizePolicy, channelOrder, layout)
                + 31 * Arrays.hashCode(mean)
                + 961 * Arrays.hashCode(scale);
    }

    @Override
    public String toString() {
        return String.format(
                "resize %s %d, crop %d, %s %s, mean %s, scale %s",
                resizePolicy,
                resizeSize,
                cropSize,
                channelOrder,
                layout,
                Arrays.toString(mean),
                Arrays.toString(scale));
    }
}
