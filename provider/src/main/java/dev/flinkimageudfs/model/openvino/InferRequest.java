package dev.flinkimageudfs.model.openvino;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * One OpenVINO infer request of a {@link ClassificationModel}: crops are written straight into its
 * input tensor ({@code batchSize} slots of crop x crop x 3 u8 BGR), probabilities read from its
 * output tensor. Not thread-safe: one thread fills and starts it, one waits for it; {@link
 * #cancel} may come from any thread.
 */
public final class InferRequest implements AutoCloseable {

    private final ClassificationModel model;
    private final OpenVino ov;
    private final Pointer request;
    private final Pointer inputTensor;
    private final Pointer outputTensor;
    private final Pointer input;
    private final Pointer output;
    private final int batchSize;
    private final long imageBytes;
    private final int numClasses;

    /** Creates the request and looks up its tensors; frees what it made if a step fails. */
    InferRequest(
            ClassificationModel model, OpenVino ov, Pointer compiled, int batchSize, int cropSize, int numClasses) {
        this.model = model;
        this.ov = ov;
        this.batchSize = batchSize;
        this.imageBytes = (long) cropSize * cropSize * 3;
        this.numClasses = numClasses;
        PointerByReference ref = new PointerByReference();
        ov.check(() -> ov.c.ov_compiled_model_create_infer_request(compiled, ref), "create infer request");
        request = ref.getValue();
        Pointer in = null;
        Pointer out = null;
        try {
            ov.check(() -> ov.c.ov_infer_request_get_input_tensor_by_index(request, 0, ref), "get input tensor");
            in = ref.getValue();
            ov.check(() -> ov.c.ov_infer_request_get_output_tensor_by_index(request, 0, ref), "get output tensor");
            out = ref.getValue();
            input = data(in, batchSize * imageBytes, "input");
            output = data(out, 4L * batchSize * numClasses, "output");
        } catch (RuntimeException e) {
            free(in, out, request);
            throw e;
        }
        inputTensor = in;
        outputTensor = out;
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

    /** Frees the request; only once nothing runs on it (see {@link BatchingInferQueue#close}). */
    @Override
    public void close() {
        free(inputTensor, outputTensor, request);
    }

    private void free(Pointer in, Pointer out, Pointer infer) {
        if (in != null) {
            ov.c.ov_tensor_free(in);
        }
        if (out != null) {
            ov.c.ov_tensor_free(out);
        }
        ov.c.ov_infer_request_free(infer);
    }
}
