package dev.flinkimageudfs.model.openvino;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * One OpenVINO infer request of a {@link ClassificationModel}: crops are written straight into its
 * input tensor ({@code batchSize} slots of crop x crop x 3 u8 BGR), probabilities read from its
 * scores output tensor, and embeddings from the embedding output when it was built to. Not
 * thread-safe: one thread fills and starts it, one waits for it.
 */
public final class InferRequest implements AutoCloseable {

    private final ClassificationModel model;
    private final OpenVino ov;
    private final Pointer request;
    private final Pointer inputTensor;
    private final Pointer outputTensor;
    private final Pointer embeddingTensor; // null: not read
    private final Pointer input;
    private final Pointer output;
    private final Pointer embeddings;
    private final int batchSize;
    private final long imageBytes;
    private final int numClasses;
    private final int embeddingSize;

    /** {@code embeddingIndex} -1: the request does not read the embedding. */
    InferRequest(
            ClassificationModel model, OpenVino ov, Pointer compiled, int batchSize, int cropSize, int numClasses,
            int scoresIndex, int embeddingIndex, int embeddingSize) {
        this.model = model;
        this.ov = ov;
        this.batchSize = batchSize;
        this.imageBytes = (long) cropSize * cropSize * 3;
        this.numClasses = numClasses;
        this.embeddingSize = embeddingSize;
        PointerByReference ref = new PointerByReference();
        ov.check(ov.c.ov_compiled_model_create_infer_request(compiled, ref), "create infer request");
        request = ref.getValue();
        ov.check(ov.c.ov_infer_request_get_input_tensor_by_index(request, 0, ref), "get input tensor");
        inputTensor = ref.getValue();
        ov.check(ov.c.ov_infer_request_get_output_tensor_by_index(request, scoresIndex, ref), "get output tensor");
        outputTensor = ref.getValue();
        if (embeddingIndex >= 0) {
            ov.check(ov.c.ov_infer_request_get_output_tensor_by_index(request, embeddingIndex, ref), "get embedding tensor");
            embeddingTensor = ref.getValue();
        } else {
            embeddingTensor = null;
        }
        input = data(inputTensor, batchSize * imageBytes, "input");
        output = data(outputTensor, 4L * batchSize * numClasses, "output");
        embeddings = embeddingTensor == null ? null : data(embeddingTensor, 4L * batchSize * embeddingSize, "embedding");
    }

    private Pointer data(Pointer tensor, long expectedBytes, String which) {
        LongByReference size = new LongByReference();
        ov.check(ov.c.ov_tensor_get_byte_size(tensor, size), "get " + which + " size");
        if (size.getValue() != expectedBytes) {
            throw new IllegalArgumentException(
                    String.format(
                            "model-path: the compiled model's %s tensor holds %d bytes, expected %d (batch %d)",
                            which, size.getValue(), expectedBytes, batchSize));
        }
        PointerByReference data = new PointerByReference();
        ov.check(ov.c.ov_tensor_data(tensor, data), "get " + which + " data");
        return data.getValue();
    }

    public int batchSize() {
        return batchSize;
    }

    /** Writes one crop (crop x crop x 3 u8 BGR, row-major) into slot {@code slot} of the batch. */
    public void putImage(int slot, byte[] crop) {
        input.write(slot * imageBytes, crop, 0, (int) imageBytes);
    }

    /** Runs the request and waits for it. */
    public void infer() {
        ov.check(ov.c.ov_infer_request_infer(request), "infer");
    }

    public void start() {
        ov.check(ov.c.ov_infer_request_start_async(request), "start inference");
    }

    public void await() {
        ov.check(ov.c.ov_infer_request_wait(request), "inference");
    }

    /** The probabilities of slot {@code slot}, after {@link #infer} or {@link #await}. */
    public float[] probabilities(int slot) {
        float[] scores = new float[numClasses];
        output.read(4L * slot * numClasses, scores, 0, numClasses);
        model.postprocess(scores);
        return scores;
    }

    /** The embedding of slot {@code slot} (L2-normalised in the graph), or null when not read. */
    public float[] embedding(int slot) {
        if (embeddings == null) {
            return null;
        }
        float[] vector = new float[embeddingSize];
        embeddings.read(4L * slot * embeddingSize, vector, 0, embeddingSize);
        return vector;
    }

    @Override
    public void close() {
        ov.c.ov_tensor_free(inputTensor);
        ov.c.ov_tensor_free(outputTensor);
        if (embeddingTensor != null) {
            ov.c.ov_tensor_free(embeddingTensor);
        }
        ov.c.ov_infer_request_free(request);
    }
}
