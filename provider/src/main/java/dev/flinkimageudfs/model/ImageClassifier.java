package dev.flinkimageudfs.model;

import dev.flinkimageudfs.model.image.DecodedImage;
import dev.flinkimageudfs.model.image.ImageDecodeException;
import dev.flinkimageudfs.model.image.ImageDecoder;
import dev.flinkimageudfs.model.image.ResizeAndCrop;
import dev.flinkimageudfs.model.openvino.ClassificationModel;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * bytes -> decode -> resize and crop -> (OpenVINO) -> probabilities -> {@link Prediction}: the
 * per-subtask half of {@code udfs.classifier.ImageClassifier}; how crops are batched into infer
 * requests is up to the predict function. One per subtask (it owns a decoder).
 */
final class ImageClassifier implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ImageClassifier.class);

    private final ClassifierSettings settings;
    private final List<String> labels;
    private final ClassificationModel model;
    private final ImageDecoder decoder = new ImageDecoder();
    private final int minSide;

    /** Compiles (or shares) the model for {@code batchSize} images per request, 0 = automatic. */
    ImageClassifier(ClassifierSettings settings, int batchSize, int autoBatchSize) {
        this.settings = settings;
        this.labels = settings.labels();
        this.model = ClassificationModel.acquire(
                settings.modelSpec(labels.size() + settings.labelOffset, batchSize, autoBatchSize));
        this.minSide = settings.reducedJpegDecode ? settings.preprocessing.neededShorterSide() : 0;
    }

    ClassificationModel model() {
        return model;
    }

    /** The model input for one image (crop x crop x 3 u8 BGR), or why there is none. */
    byte[] prepare(byte[] image) throws ImageDecodeException {
        if (image == null) {
            throw new ImageDecodeException(Prediction.NULL_IMAGE_ERROR);
        }
        try {
            DecodedImage decoded =
                    decoder.decode(image, settings.maxPixels, settings.maxImageBytes, settings.maxJpegScans, minSide);
            return ResizeAndCrop.apply(decoded, settings.preprocessing);
        } catch (ImageDecodeException e) {
            LOG.warn("cannot classify image: {}", e.getMessage());
            throw e;
        } catch (RuntimeException e) { // one image's problem, not the job's
            LOG.warn("cannot classify image", e);
            throw new ImageDecodeException("cannot prepare image: " + e);
        }
    }

    Prediction predict(float[] probabilities) {
        return Prediction.of(probabilities, settings.labelOffset, labels, settings.topK);
    }

    @Override
    public void close() {
        close(true);
    }

    /**
     * Frees the decoder and gives the model back, unless {@code releaseModel} is false: infer
     * requests of it may still run (see {@code BatchingInferQueue.close}), so it is leaked.
     */
    void close(boolean releaseModel) {
        decoder.close();
        if (releaseModel) {
            model.release();
        } else {
            LOG.error("Keeping the compiled model in memory: infer requests of it may still be running");
        }
    }
}
