package dev.flinkimageudfs.model.openvino;

import dev.flinkimageudfs.model.preset.PresetCatalog;
import dev.flinkimageudfs.model.preset.Preprocessing;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;

/**
 * A compiled classification model taking u8 BGR crops and giving probabilities, the Java side of
 * {@code udfs/runtime.py}, step by step:
 *
 * <ol>
 *   <li>read the model (anything {@code ov_core_read_model} reads: IR, ONNX, TFLite, ...);
 *   <li>check it: one rank-4 input of the crop size, one output as wide as the label list (the
 *       scores), and maybe the preset's embedding output (a second output the conversion adds,
 *       {@code udfs/embedding_head.py}), found by name;
 *   <li>reshape the input to the batch size (automatic: 8 when the graph allows it, else 1);
 *   <li>embed preprocessing with the C API's PrePostProcessor: tensor side u8 NHWC BGR, model side
 *       the preset's layout and channel order, then element type, mean and scale;
 *   <li>compile with the precision, performance hint, streams and cache directory;
 *   <li>postprocess on the host (the C API has no custom postprocessing step): quantised scores are
 *       normalised to sum 1, logits go through a softmax. "auto" decides once, by inferring a grey
 *       image: a graph that already ends in a softmax gives non-negative scores summing to 1.
 *       The embedding is final as the graph gives it.
 * </ol>
 *
 * <p>A model file with the embedding output computes it in every inference (the C API cannot
 * remove an output; it is the last conv block's features pooled and L2-normalised); requests
 * read it only when built to ({@link #newRequest(boolean)}).
 *
 * <p>Every function of a job that asks for the same {@link ModelSpec} shares one compiled model
 * (reference-counted): parallel subtasks in one TaskManager would otherwise compile one model
 * each, every one sized by the performance hint for the whole machine.
 */
public final class ClassificationModel {

    private static final Logger LOG = LoggerFactory.getLogger(ClassificationModel.class);
    private static final Map<ModelSpec, ClassificationModel> SHARED = new HashMap<>();
    private static Pointer core; // created with the first model, freed with the last

    /** What the host does to a row of output scores. */
    enum Postprocessing {
        NONE,
        SOFTMAX,
        NORMALISE
    }

    private final ModelSpec spec;
    private final OpenVino ov;
    private final Pointer compiled;
    private final int batchSize;
    private final Outputs outputs;
    private final Postprocessing postprocessing;
    private int users;

    private ClassificationModel(
            ModelSpec spec, OpenVino ov, Pointer compiled, int batchSize, Outputs outputs, Postprocessing postprocessing) {
        this.spec = spec;
        this.ov = ov;
        this.compiled = compiled;
        this.batchSize = batchSize;
        this.outputs = outputs;
        this.postprocessing = postprocessing;
    }

    /** The shared compiled model for {@code spec}, compiling it on first use. */
    public static ClassificationModel acquire(ModelSpec spec) {
        synchronized (SHARED) { // compiling under the lock: a second subtask waits rather than compiles
            ClassificationModel model = SHARED.get(spec);
            if (model == null) {
                model = compile(spec);
                SHARED.put(spec, model);
            }
            model.users++;
            return model;
        }
    }

    /** Gives the model back; the last user frees it, and the core with the job's last model. */
    public void release() {
        synchronized (SHARED) {
            if (--users == 0) {
                SHARED.remove(spec);
                ov.c.ov_compiled_model_free(compiled);
                if (SHARED.isEmpty()) { // each job's class loader has its own: do not leak one per job
                    ov.c.ov_core_free(core);
                    core = null;
                }
            }
        }
    }

    public int batchSize() {
        return batchSize;
    }

    int cropSize() {
        return spec.preprocessing.cropSize;
    }

    /** Infer requests the device runs best with ({@code OPTIMAL_NUMBER_OF_INFER_REQUESTS}). */
    public int optimalInferRequests() {
        return Integer.parseInt(ov.property(compiled, "OPTIMAL_NUMBER_OF_INFER_REQUESTS").trim());
    }

    /** The precision the device infers in, e.g. {@code bf16} or {@code f32}. */
    public String precision() {
        return ov.property(compiled, "INFERENCE_PRECISION_HINT").trim();
    }

    /** Whether the model gives the embedding output the preset names. */
    public boolean hasEmbedding() {
        return outputs.embedding >= 0;
    }

    /** A request reading the scores only. */
    public InferRequest newRequest() {
        return newRequest(false);
    }

    /** A request reading the scores, and the embedding when {@code embedding} (needs {@link #hasEmbedding}). */
    public InferRequest newRequest(boolean embedding) {
        if (embedding && !hasEmbedding()) {
            throw new IllegalStateException("the model has no embedding output");
        }
        return new InferRequest(this, ov, compiled, batchSize, spec.preprocessing.cropSize, spec.numClasses,
                outputs.scores, embedding ? outputs.embedding : -1, outputs.embeddingSize);
    }

    /** Turns one row of output scores into probabilities, in place. */
    void postprocess(float[] scores) {
        switch (postprocessing) {
            case SOFTMAX:
                float max = Float.NEGATIVE_INFINITY;
                for (float score : scores) {
                    max = Math.max(max, score);
                }
                double sum = 0;
                for (int i = 0; i < scores.length; i++) {
                    scores[i] = (float) Math.exp(scores[i] - max);
                    sum += scores[i];
                }
                divide(scores, sum);
                break;
            case NORMALISE:
                double total = 0;
                for (float score : scores) {
                    total += score;
                }
                divide(scores, total);
                break;
            default:
                break;
        }
    }

    private static void divide(float[] scores, double sum) {
        if (sum > 0) {
            for (int i = 0; i < scores.length; i++) {
                scores[i] = (float) (scores[i] / sum);
            }
        }
    }

    // --- compiling -------------------------------------------------------------------------

    /**
     * Reads, checks, prepares and compiles the model (under the {@code SHARED} lock). Everything
     * made on the way is freed if a later step fails: the compiled model, and the core when no
     * other model uses it (a failing first compile would otherwise leak a core per restart).
     */
    private static ClassificationModel compile(ModelSpec spec) {
        OpenVino ov = OpenVino.get(spec.libraryPath);
        if (core == null) {
            PointerByReference created = new PointerByReference();
            ov.check(() -> ov.c.ov_core_create(created), "create OpenVINO core");
            core = created.getValue();
        }
        try {
            return compileWithCore(ov, spec);
        } catch (RuntimeException | Error e) {
            if (SHARED.isEmpty()) {
                ov.c.ov_core_free(core);
                core = null;
            }
            throw e;
        }
    }

    private static ClassificationModel compileWithCore(OpenVino ov, ModelSpec spec) {
        Pointer model = read(ov, spec);
        try {
            Outputs outputs = Outputs.of(ov, model, spec);
            int[] elementTypes = check(ov, model, spec, outputs);
            int batchSize = setBatchSize(ov, model, spec, outputs);
            Pointer prepared = embedPreprocessing(ov, model, spec.preprocessing, elementTypes[0], outputs);
            Pointer compiled;
            try {
                compiled = compileModel(ov, prepared, spec);
            } finally {
                ov.c.ov_model_free(prepared);
            }
            try {
                return created(ov, spec, compiled, batchSize, outputs,
                        postprocessing(ov, spec, compiled, batchSize, outputs, elementTypes[1]));
            } catch (RuntimeException | Error e) {
                ov.c.ov_compiled_model_free(compiled);
                throw e;
            }
        } finally {
            ov.c.ov_model_free(model);
        }
    }

    private static Postprocessing postprocessing(
            OpenVino ov, ModelSpec spec, Pointer compiled, int batchSize, Outputs outputs, int outputType) {
        if (!isReal(outputType)) {
            return Postprocessing.NORMALISE; // quantised scores, e.g. a u8 softmax
        } else if ("softmax".equals(spec.outputActivation)) {
            return Postprocessing.SOFTMAX;
        } else if ("none".equals(spec.outputActivation)) {
            return Postprocessing.NONE;
        }
        return endsInSoftmax(ov, compiled, batchSize, spec, outputs) ? Postprocessing.NONE : Postprocessing.SOFTMAX;
    }

    private static ClassificationModel created(
            OpenVino ov, ModelSpec spec, Pointer compiled, int batchSize, Outputs outputs, Postprocessing postprocessing) {
        ClassificationModel result = new ClassificationModel(spec, ov, compiled, batchSize, outputs, postprocessing);
        LOG.info(
                "Compiled '{}' for {}: batch {}, precision {}, {} streams, postprocessing {}, embedding {}, {}",
                spec.modelPath,
                spec.device,
                batchSize,
                result.precision(),
                ov.property(compiled, "NUM_STREAMS").trim(),
                postprocessing,
                result.hasEmbedding() ? outputs.embeddingSize + " floats" : "none",
                spec.preprocessing);
        return result;
    }

    /** Fails naming 'model-path' before anything reads or measures a model that is not there. */
    static void requireModelFile(Path modelPath) {
        if (!Files.isRegularFile(modelPath)) {
            throw new IllegalArgumentException("model-path: model file not found: '" + modelPath + "'");
        }
    }

    private static Pointer read(OpenVino ov, ModelSpec spec) {
        requireModelFile(spec.modelPath);
        PointerByReference model = new PointerByReference();
        String problem = ov.failure(() -> ov.c.ov_core_read_model(core, spec.modelPath.toString(), null, model));
        if (problem != null) {
            throw new IllegalArgumentException("model-path: cannot read model '" + spec.modelPath + "': " + problem);
        }
        return model.getValue();
    }

    /**
     * Which output is which: the scores are the one output not named {@code spec.embeddingOutput};
     * the embedding (index -1: none) is the output of that name. The C API gives a port one of its
     * tensor names ({@code ov_port_get_any_name}); the conversion gives the embedding exactly one.
     */
    private static final class Outputs {
        final int scores;
        final int embedding;
        final int embeddingSize;

        private Outputs(int scores, int embedding, int embeddingSize) {
            this.scores = scores;
            this.embedding = embedding;
            this.embeddingSize = embeddingSize;
        }

        static Outputs of(OpenVino ov, Pointer model, ModelSpec spec) {
            LongByReference inputs = new LongByReference();
            LongByReference count = new LongByReference();
            ov.check(() -> ov.c.ov_model_inputs_size(model, inputs), "count inputs");
            ov.check(() -> ov.c.ov_model_outputs_size(model, count), "count outputs");
            List<Integer> scores = new ArrayList<>();
            int embedding = -1;
            for (int i = 0; i < count.getValue(); i++) {
                if (spec.embeddingOutput != null && spec.embeddingOutput.equals(Port.output(ov, model, i).name)) {
                    embedding = i;
                } else {
                    scores.add(i);
                }
            }
            if (inputs.getValue() != 1 || scores.size() != 1) {
                String extra = spec.embeddingOutput == null ? "" : " (plus the embedding output '" + spec.embeddingOutput + "')";
                throw new IllegalArgumentException(
                        String.format(
                                "model-path: expected a model with 1 input and 1 output%s, got %d inputs and %d outputs",
                                extra, inputs.getValue(), count.getValue()));
            }
            int size = 0;
            if (embedding >= 0) {
                long[][] shape = Port.output(ov, model, embedding).shape;
                long[] width = shape == null || shape.length != 2 ? null : shape[1];
                if (width == null || !OpenVino.isStatic(width)) {
                    throw new IllegalArgumentException(
                            "model-path: the embedding output '" + spec.embeddingOutput + "' has shape "
                                    + OpenVino.describe(shape) + ", expected [batch, width]");
                }
                size = (int) width[0];
            }
            return new Outputs(scores.get(0), embedding, size);
        }
    }

    /** Checks the input and the scores' shapes; returns the input and output element types. */
    private static int[] check(OpenVino ov, Pointer model, ModelSpec spec, Outputs outputs) {
        Port input = Port.input(ov, model);
        long[][] inputShape = input.shape;
        if (inputShape == null || inputShape.length != 4) {
            throw new IllegalArgumentException(
                    "model-path: expected a rank-4 image input, got shape " + OpenVino.describe(inputShape));
        }
        String layout = spec.preprocessing.layout;
        for (char axis : new char[] {'H', 'W'}) {
            long[] dimension = inputShape[layout.indexOf(axis)];
            if (OpenVino.isStatic(dimension) && dimension[0] != spec.preprocessing.cropSize) {
                throw new IllegalArgumentException(
                        String.format(
                                "crop-size: expected %d (model input shape %s, layout %s), got '%d'",
                                dimension[0], OpenVino.describe(inputShape), layout, spec.preprocessing.cropSize));
            }
        }
        Port output = Port.output(ov, model, outputs.scores);
        long[][] outputShape = output.shape;
        long[] width = outputShape == null || outputShape.length == 0 ? null : outputShape[outputShape.length - 1];
        if (width == null || !OpenVino.isStatic(width) || width[0] != spec.numClasses) {
            throw new IllegalArgumentException(
                    String.format(
                            "labels-path: the model outputs %s scores but the labels give %d (label count + background offset)",
                            width == null ? "?" : OpenVino.describe(new long[][] {width}), spec.numClasses));
        }
        return new int[] {input.elementType, output.elementType};
    }

    /** Shape, element type and tensor name of the model's (only) input or one of its outputs. */
    private static final class Port {
        final long[][] shape;
        final int elementType;
        final String name; // null: the tensor has no name

        private Port(long[][] shape, int elementType, String name) {
            this.shape = shape;
            this.elementType = elementType;
            this.name = name;
        }

        static Port input(OpenVino ov, Pointer model) {
            PointerByReference port = new PointerByReference();
            ov.check(() -> ov.c.ov_model_const_input(model, port), "get input");
            return of(ov, port.getValue());
        }

        static Port output(OpenVino ov, Pointer model, int index) {
            PointerByReference port = new PointerByReference();
            ov.check(() -> ov.c.ov_model_const_output_by_index(model, index, port), "get output " + index);
            return of(ov, port.getValue());
        }

        private static Port of(OpenVino ov, Pointer port) {
            try {
                IntByReference type = new IntByReference();
                ov.check(() -> ov.c.ov_port_get_element_type(port, type), "get element type");
                PointerByReference name = new PointerByReference();
                String tensorName = null;
                if (ov.failure(() -> ov.c.ov_port_get_any_name(port, name)) == null) { // a tensor may have no name
                    tensorName = name.getValue().getString(0, "UTF-8");
                    ov.c.ov_free(name.getValue());
                }
                return new Port(ov.partialShape(port), type.getValue(), tensorName);
            } finally {
                ov.c.ov_output_const_port_free(port);
            }
        }
    }

    private static boolean isReal(int elementType) {
        return elementType == OpenVinoC.ELEMENT_F32
                || elementType == OpenVinoC.ELEMENT_F16
                || elementType == OpenVinoC.ELEMENT_BF16
                || elementType == OpenVinoC.ELEMENT_F64;
    }

    /**
     * Reshapes the input to the batch size; 0 = the automatic size when the graph allows it,
     * else 1. Graphs that hard-code a batch of 1 in a Reshape (TFLite exports, for one)
     * either refuse the new shape or fold the batch away; both count as not batchable.
     */
    private static int setBatchSize(OpenVino ov, Pointer model, ModelSpec spec, Outputs outputs) {
        int wanted = spec.batchSize > 0 ? spec.batchSize : spec.autoBatchSize;
        String problem = reshape(ov, model, spec.preprocessing, wanted, outputs);
        if (problem == null) {
            return wanted;
        }
        if (spec.batchSize > 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "batch-size: the model cannot take batches of %d (%s); set 'batch-size' to 1, or 0 for automatic",
                            wanted, problem));
        }
        LOG.info("Model '{}' has a fixed batch size: inferring one image per request", spec.modelPath);
        String again = reshape(ov, model, spec.preprocessing, 1, outputs);
        if (again != null) {
            throw new IllegalArgumentException("model-path: cannot reshape the input to one image: " + again);
        }
        return 1;
    }

    /** Null when the model now takes {@code batch} images and gives {@code batch} rows. */
    private static String reshape(OpenVino ov, Pointer model, Preprocessing preprocessing, int batch, Outputs outputs) {
        String layout = preprocessing.layout;
        long[] dims = {1, 1, 1, 1};
        dims[layout.indexOf('N')] = batch;
        dims[layout.indexOf('C')] = 3;
        dims[layout.indexOf('H')] = preprocessing.cropSize;
        dims[layout.indexOf('W')] = preprocessing.cropSize;
        Memory shape = new Memory(24);
        ov.check(() -> ov.c.ov_partial_shape_create_static(4, dims, shape), "create shape");
        try {
            String problem = ov.failure(() -> ov.c.ov_model_reshape_by_port_indexes(model, new long[] {0}, shape, 1));
            if (problem != null) {
                return problem;
            }
        } finally {
            ov.c.ov_partial_shape_free(shape);
        }
        long[][] output = Port.output(ov, model, outputs.scores).shape;
        if (output == null || !OpenVino.isStatic(output[0]) || output[0][0] != batch) {
            return "a batch of " + batch + " images gives " + OpenVino.describe(output) + " scores";
        }
        return null;
    }

    private static Pointer embedPreprocessing(
            OpenVino ov, Pointer model, Preprocessing preprocessing, int inputType, Outputs outputs) {
        if ((preprocessing.mean != null || preprocessing.scale != null) && !isReal(inputType)) {
            throw new IllegalArgumentException(
                    "mean-values: the model takes integer input, so mean and scale must be empty");
        }
        try (Handles handles = new Handles(ov)) {
            Pointer ppp = handles.take("create PrePostProcessor", r -> ov.c.ov_preprocess_prepostprocessor_create(model, r),
                    ov.c::ov_preprocess_prepostprocessor_free);
            Pointer input = handles.take("input info", r -> ov.c.ov_preprocess_prepostprocessor_get_input_info(ppp, r),
                    ov.c::ov_preprocess_input_info_free);

            Pointer tensor = handles.take("input tensor info", r -> ov.c.ov_preprocess_input_info_get_tensor_info(input, r),
                    ov.c::ov_preprocess_input_tensor_info_free);
            ov.check(() -> ov.c.ov_preprocess_input_tensor_info_set_element_type(tensor, OpenVinoC.ELEMENT_U8), "tensor u8");
            Pointer nhwc = handles.layout("NHWC");
            ov.check(() -> ov.c.ov_preprocess_input_tensor_info_set_layout(tensor, nhwc), "tensor NHWC");
            ov.check(() -> ov.c.ov_preprocess_input_tensor_info_set_color_format(tensor, OpenVinoC.COLOR_BGR), "tensor BGR");

            Pointer modelInfo = handles.take("input model info", r -> ov.c.ov_preprocess_input_info_get_model_info(input, r),
                    ov.c::ov_preprocess_input_model_info_free);
            Pointer modelLayout = handles.layout(preprocessing.layout);
            ov.check(() -> ov.c.ov_preprocess_input_model_info_set_layout(modelInfo, modelLayout),
                    "model layout " + preprocessing.layout);

            Pointer steps = handles.take("preprocess steps", r -> ov.c.ov_preprocess_input_info_get_preprocess_steps(input, r),
                    ov.c::ov_preprocess_preprocess_steps_free);
            if ("RGB".equals(preprocessing.channelOrder)) {
                ov.check(() -> ov.c.ov_preprocess_preprocess_steps_convert_color(steps, OpenVinoC.COLOR_RGB), "BGR to RGB");
            }
            if (isReal(inputType)) {
                ov.check(() -> ov.c.ov_preprocess_preprocess_steps_convert_element_type(steps, OpenVinoC.ELEMENT_F32), "to f32");
            }
            if (preprocessing.mean != null) {
                ov.check(
                        () -> ov.c.ov_preprocess_preprocess_steps_mean_multi_channels(steps, preprocessing.mean, preprocessing.mean.length),
                        "mean");
            }
            if (preprocessing.scale != null) {
                ov.check(
                        () -> ov.c.ov_preprocess_preprocess_steps_scale_multi_channels(steps, preprocessing.scale, preprocessing.scale.length),
                        "scale");
            }

            for (int index : outputs.embedding >= 0 ? new int[] {outputs.scores, outputs.embedding} : new int[] {outputs.scores}) {
                Pointer output = handles.take("output info " + index,
                        r -> ov.c.ov_preprocess_prepostprocessor_get_output_info_by_index(ppp, index, r),
                        ov.c::ov_preprocess_output_info_free);
                Pointer outputTensor = handles.take("output tensor info", r -> ov.c.ov_preprocess_output_info_get_tensor_info(output, r),
                        ov.c::ov_preprocess_output_tensor_info_free);
                ov.check(() -> ov.c.ov_preprocess_output_set_element_type(outputTensor, OpenVinoC.ELEMENT_F32), "output f32");
            }

            PointerByReference built = new PointerByReference();
            ov.check(() -> ov.c.ov_preprocess_prepostprocessor_build(ppp, built), "build preprocessing");
            return built.getValue();
        }
    }

    /** The C objects made while building the preprocessing, freed in reverse order at the end. */
    private static final class Handles implements AutoCloseable {
        private final OpenVino ov;
        private final Deque<Runnable> frees = new ArrayDeque<>();

        Handles(OpenVino ov) {
            this.ov = ov;
        }

        /** Calls {@code make} with an out-pointer, checks it, and frees the result at the end. */
        Pointer take(String what, ToIntFunction<PointerByReference> make, Consumer<Pointer> free) {
            PointerByReference ref = new PointerByReference();
            ov.check(() -> make.applyAsInt(ref), what);
            Pointer made = ref.getValue();
            frees.push(() -> free.accept(made));
            return made;
        }

        Pointer layout(String description) {
            return take("layout " + description, r -> ov.c.ov_layout_create(description, r), ov.c::ov_layout_free);
        }

        @Override
        public void close() {
            frees.forEach(Runnable::run);
        }
    }

    private static Pointer compileModel(OpenVino ov, Pointer model, ModelSpec spec) {
        Object[] keysAndValues = new Object[spec.properties.size() * 2];
        int i = 0;
        for (Map.Entry<String, String> property : spec.properties.entrySet()) {
            keysAndValues[i++] = property.getKey();
            keysAndValues[i++] = property.getValue();
        }
        PointerByReference compiled = new PointerByReference();
        String problem =
                ov.failure(() -> ov.c.ov_core_compile_model(core, model, spec.device, keysAndValues.length, compiled, keysAndValues));
        if (problem != null) {
            throw new IllegalArgumentException(
                    "device: cannot compile '"
                            + spec.modelPath
                            + "' for '"
                            + spec.device
                            + "' with "
                            + spec.properties
                            + ": "
                            + problem);
        }
        return compiled.getValue();
    }

    /**
     * Infers a grey batch: a graph ending in a softmax gives non-negative scores summing to 1
     * (the grey value and tolerances: {@code udfs.rules.SOFTMAX_PROBE}).
     */
    private static boolean endsInSoftmax(OpenVino ov, Pointer compiled, int batchSize, ModelSpec spec, Outputs outputs) {
        JsonNode rule = PresetCatalog.get().rule("softmax_probe");
        ClassificationModel probe = new ClassificationModel(spec, ov, compiled, batchSize, outputs, Postprocessing.NONE);
        try (InferRequest request = probe.newRequest()) {
            byte[] grey = new byte[spec.preprocessing.cropSize * spec.preprocessing.cropSize * 3];
            Arrays.fill(grey, (byte) rule.get("grey").asInt());
            request.putImage(0, grey);
            request.infer();
            float[] scores = request.probabilities(0);
            double sum = 0;
            for (float score : scores) {
                if (score < rule.get("min_score").asDouble()) {
                    return false;
                }
                sum += score;
            }
            return Math.abs(sum - 1) < rule.get("sum_tolerance").asDouble();
        }
    }
}
