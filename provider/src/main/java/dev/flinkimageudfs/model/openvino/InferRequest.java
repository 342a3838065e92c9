package dev.flinkimageudfs.model.openvino;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * One OpenVINO infer request of a {@link ClassificationModel}: crops are written straight into its
 * input tensor ({@code batchSize} slots of crop x crop x 3 u8 BGR), probabilities read from its
 * scores output tensor, and embeddings from the embedding output when it was built to. Not
 * thread-safe: one thread fills and starts it, one waits for it; {@link #cancel} may come from
 * any thread.
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

    /**
     * Creates the request and looks up its tensors ({@code embeddingIndex} -1: the request does not
     * read the embedding); frees what it made if a step fails.
     */
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
        ov.check(() -> ov.c.ov_compiled_model_create_infer_request(compiled, ref), "create infer request");
        request = ref.getValue();
        Pointer in = null;
        Pointer out = null;
        Pointer vectors = null;
        try {
            ov.check(() -> ov.c.ov_infer_request_get_input_tensor_by_index(request, 0, ref), "get input tensor");
            in = ref.getValue();
            ov.check(() -> ov.c.ov_infer_request_get_output_tensor_by_index(request, scoresIndex, ref), "get output tensor");
            out = ref.getValue();
            if (embeddingIndex >= 0) {
                ov.check(() -> ov.c.ov_infer_request_get_output_tensor_by_index(request, embeddingIndex, ref),
                        "get embedding tensor");
                vectors = ref.getValue();
            }
            input = data(in, batchSize * imageBytes, "input");
            output = data(out, 4L * batchSize * numClasses, "output");
            embeddings = vectors == null ? null : data(vectors, 4L * batchSize * embeddingSize, "embedding");
        } catch (RuntimeException e) {
            free(in, out, vectors, request);
            throw e;
        }
        inputTensor = in;
        outputTensor = out;
        embeddingTensor = vectors;
    }

    private Pointer data(Pointer tensor, long expectedBytes, String which) {
        LongByReference size = new LongByReference();
        ov.check(() -> ov.c.ov_tensor_get_byte_size(tensor, size), "get " + which + " size");
        if (size.getValue() != expectedBytes) {
            throw new IllegalArgumentException(
                    String.format(
                            "model-path: the compiled model's %s tensor holds %d bytes, expected %d (batch %d)",
                            which, size.getValue(), expectedBytes, batchSize));
        }
        PointerByReference data = new PointerByReference();
        ov.check(() -> ov.c.ov_tensor_data(tensor, data), "get " + which + " data");
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
        ov.checkInference(ov.c.ov_infer_request_infer(request), "infer");
    }

    public void start() {
        ov.check(() -> ov.c.ov_infer_request_start_async(request), "start inference");
    }

    public void await() {
        ov.checkInference(ov.c.ov_infer_request_wait(request), "inference");
    }

    /**
     * Asks OpenVINO to stop the running inference (any thread): a thread in {@link #await} then
     * returns with an error. Harmless on a request that is not running.
     */
    void cancel() {
        ov.c.ov_infer_request_cancel(request);
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

    /** Frees the request; only once nothing runs on it (see {@link BatchingInferQueue#close}). */
    @Override
    public void close() {
        free(inputTensor, outputTensor, embeddingTensor, request);
    }

    private void free(Pointer in, Pointer out, Pointer vectors, Pointer infer) {
        for (Pointer tensor : new Pointer[] {in, out, vectors}) {
            if (tensor != null) {
                ov.c.ov_tensor_free(tensor);
            }
        }
        ov.c.ov_infer_request_free(infer);
    }
}
