package dev.flinkimageudfs.model.openvino;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Exact inner-product search over a fixed set of stored vectors, compiled by OpenVINO: the graph
 * is {@code TopK(MatMul(queries, vectors^T), k)} with the vectors as a constant, written as IR XML
 * (the C API has no graph builder) and read with {@code ov_core_read_model_from_memory_buffer}.
 * The CPU plugin turns a MatMul with constant weights into a fully connected layer whose weights
 * it repacks once, so each search streams the stored vectors through one GEMM for the whole batch
 * of queries.
 *
 * <p>Storage of the constant, chosen by {@link Storage}: f32 (computed in f32), bf16, or int8 with
 * one scale per vector (decompressed inside the layer; computed in the device's default precision,
 * bf16 on CPUs with AVX-512 BF16). The number of queries and {@code k} are inputs, so one compiled
 * model serves every batch size and every k.
 *
 * <p>The weights live in a tensor OpenVINO allocates; the model holds its own reference to it for
 * as long as it needs the data, so nothing here frees memory OpenVINO may still read. Not
 * thread-safe: one infer request, used by one thread at a time.
 */
public final class VectorSearchModel implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VectorSearchModel.class);
    private static Pointer core; // shared by every search model of this class loader
    private static int liveModels;

    /** How the stored vectors are kept in the compiled model. */
    public enum Storage {
        F32(4, "f32", "FP32"),
        BF16(2, "bf16", "BF16"),
        INT8(1, "i8", "I8");

        final int bytes;
        final String irType;
        final String irPrecision;

        Storage(int bytes, String irType, String irPrecision) {
            this.bytes = bytes;
            this.irType = irType;
            this.irPrecision = irPrecision;
        }

        /** Bytes per stored vector of {@code dimension} elements (int8 adds its scale). */
        public long bytesPerVector(int dimension) {
            return (long) bytes * dimension + (this == INT8 ? 4 : 0);
        }
    }

    /** The best {@code k} rows of each query, best first: row indexes and inner products. */
    public static final class Hits {
        public final int queries;
        public final int k;
        private final int[] rows;
        private final float[] scores;

        Hits(int queries, int k, int[] rows, float[] scores) {
            this.queries = queries;
            this.k = k;
            this.rows = rows;
            this.scores = scores;
        }

        public int row(int query, int rank) {
            return rows[query * k + rank];
        }

        public float score(int query, int rank) {
            return scores[query * k + rank];
        }
    }

    private final OpenVino ov;
    private final Pointer compiled;
    private final Pointer request;
    private final int dimension;
    private final int rows;
    private final Storage storage;
    private final Memory k = new Memory(8);
    private Memory queries;
    private boolean closed;

    private VectorSearchModel(OpenVino ov, Pointer compiled, int dimension, int rows, Storage storage) {
        this.ov = ov;
        this.compiled = compiled;
        this.dimension = dimension;
        this.rows = rows;
        this.storage = storage;
        PointerByReference ref = new PointerByReference();
        ov.check(() -> ov.c.ov_compiled_model_create_infer_request(compiled, ref), "create infer request");
        request = ref.getValue();
    }

    /** Starts a model of {@code rows} vectors of {@code dimension} floats; add them, then compile. */
    public static Builder builder(String libraryPath, int dimension, int rows, Storage storage) {
        return new Builder(OpenVino.get(libraryPath), dimension, rows, storage);
    }

    public int rows() {
        return rows;
    }

    /** The precision the device computes in, e.g. {@code bf16} or {@code f32}. */
    public String precision() {
        return ov.property(compiled, "INFERENCE_PRECISION_HINT").trim();
    }

    /**
     * The best {@code min(k, rows)} stored vectors for each of {@code count} queries, given as
     * {@code count * dimension} floats (row-major).
     */
    public Hits search(float[] queryData, int count, int wantedK) {
        if (closed) {
            throw new IllegalStateException("the search model is closed");
        }
        int kept = Math.min(wantedK, rows);
        long queryBytes = 4L * count * dimension;
        if (queries == null || queries.size() < queryBytes) {
            queries = new Memory(Math.max(queryBytes, 4L * dimension * 16));
        }
        queries.write(0, queryData, 0, count * dimension);
        k.setLong(0, kept);
        Pointer queryTensor = hostTensor(OpenVinoC.ELEMENT_F32, new long[] {count, dimension}, queries);
        Pointer kTensor = null;
        Pointer values = null;
        Pointer indices = null;
        try {
            kTensor = hostTensor(OpenVinoC.ELEMENT_I64, new long[0], k);
            ov.check(() -> ov.c.ov_infer_request_set_input_tensor_by_index(request, 0, queryTensor), "set queries");
            Pointer kInput = kTensor;
            ov.check(() -> ov.c.ov_infer_request_set_input_tensor_by_index(request, 1, kInput), "set k");
            ov.checkInference(ov.c.ov_infer_request_infer(request), "vector search"); // not under the error lock
            PointerByReference ref = new PointerByReference();
            ov.check(() -> ov.c.ov_infer_request_get_output_tensor_by_index(request, 0, ref), "get scores");
            values = ref.getValue();
            ov.check(() -> ov.c.ov_infer_request_get_output_tensor_by_index(request, 1, ref), "get rows");
            indices = ref.getValue();
            float[] scores = new float[count * kept];
            int[] rowIndexes = new int[count * kept];
            data(values, 4L * scores.length, "scores").read(0, scores, 0, scores.length);
            data(indices, 4L * rowIndexes.length, "rows").read(0, rowIndexes, 0, rowIndexes.length);
            return new Hits(count, kept, rowIndexes, scores);
        } finally {
            ov.c.ov_tensor_free(queryTensor);
            if (kTensor != null) {
                ov.c.ov_tensor_free(kTensor);
            }
            if (values != null) {
                ov.c.ov_tensor_free(values);
            }
            if (indices != null) {
                ov.c.ov_tensor_free(indices);
            }
        }
    }

    private Pointer data(Pointer tensor, long expectedBytes, String what) {
        LongByReference size = new LongByReference();
        ov.check(() -> ov.c.ov_tensor_get_byte_size(tensor, size), "get " + what + " size");
        if (size.getValue() != expectedBytes) {
            throw new IllegalStateException(
                    String.format("vector search: the %s tensor holds %d bytes, expected %d", what, size.getValue(), expectedBytes));
        }
        PointerByReference data = new PointerByReference();
        ov.check(() -> ov.c.ov_tensor_data(tensor, data), "get " + what);
        return data.getValue();
    }

    /** A tensor over {@code memory}, which must outlive every inference that reads it. */
    private Pointer hostTensor(int elementType, long[] dims, Memory memory) {
        PointerByReference tensor = new PointerByReference();
        ov.check(() -> ov.c.ov_tensor_create_from_host_ptr(elementType, shape(dims), memory, tensor), "create tensor");
        return tensor.getValue();
    }

    private static OpenVinoC.ShapeByValue shape(long[] dims) {
        OpenVinoC.ShapeByValue shape = new OpenVinoC.ShapeByValue();
        shape.rank = dims.length;
        if (dims.length > 0) {
            Memory memory = new Memory(8L * dims.length);
            memory.write(0, dims, 0, dims.length);
            shape.dims = memory;
        }
        return shape;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ov.c.ov_infer_request_free(request);
        ov.c.ov_compiled_model_free(compiled);
        releaseCore(ov);
    }

    private static synchronized Pointer acquireCore(OpenVino ov) {
        if (core == null) {
            PointerByReference created = new PointerByReference();
            ov.check(() -> ov.c.ov_core_create(created), "create OpenVINO core");
            core = created.getValue();
        }
        liveModels++;
        return core;
    }

    private static synchronized void releaseCore(OpenVino ov) {
        if (--liveModels == 0) { // each job's class loader has its own core: do not leak one per job
            ov.c.ov_core_free(core);
            core = null;
        }
    }

    /**
     * Collects the stored vectors straight into the weights tensor in the storage format, then
     * compiles. Close it if {@link #compile} is never reached.
     */
    public static final class Builder implements AutoCloseable {
        private final OpenVino ov;
        private final int dimension;
        private final int rows;
        private final Storage storage;
        private final long scalesOffset;
        private final Pointer weights;
        private final Pointer data;
        private final byte[] int8Row;
        private final short[] bf16Row;
        private int added;
        private boolean freed;

        private Builder(OpenVino ov, int dimension, int rows, Storage storage) {
            if (rows < 1) {
                throw new IllegalArgumentException("vector search: a model needs at least one vector");
            }
            this.ov = ov;
            this.dimension = dimension;
            this.rows = rows;
            this.storage = storage;
            this.scalesOffset = align((long) storage.bytes * rows * dimension);
            long total = scalesOffset + (storage == Storage.INT8 ? 4L * rows : 0);
            PointerByReference tensor = new PointerByReference();
            ov.check(() -> ov.c.ov_tensor_create(OpenVinoC.ELEMENT_U8, shape(new long[] {total}), tensor), "allocate weights");
            weights = tensor.getValue();
            PointerByReference pointer = new PointerByReference();
            try {
                ov.check(() -> ov.c.ov_tensor_data(weights, pointer), "get weights");
            } catch (RuntimeException e) {
                ov.c.ov_tensor_free(weights);
                throw e;
            }
            data = pointer.getValue();
            int8Row = storage == Storage.INT8 ? new byte[dimension] : null;
            bf16Row = storage == Storage.BF16 ? new short[dimension] : null;
        }

        private static long align(long offset) {
            return (offset + 63) & ~63L;
        }

        /** Appends the next vector ({@code dimension} floats). */
        public void add(float[] vector) {
            if (added == rows) {
                throw new IllegalStateException("vector search: more vectors than the " + rows + " announced");
            }
            long offset = (long) storage.bytes * added * dimension;
            switch (storage) {
                case F32:
                    data.write(offset, vector, 0, dimension);
                    break;
                case BF16:
                    for (int i = 0; i < dimension; i++) {
                        bf16Row[i] = toBf16(vector[i]);
                    }
                    data.write(offset, bf16Row, 0, dimension);
                    break;
                case INT8:
                    float max = 0;
                    for (float value : vector) {
                        max = Math.max(max, Math.abs(value));
                    }
                    float scale = max > 0 ? max / 127f : 1f;
                    for (int i = 0; i < dimension; i++) {
                        int quantised = Math.round(vector[i] / scale);
                        int8Row[i] = (byte) Math.max(-127, Math.min(127, quantised));
                    }
                    data.write(offset, int8Row, 0, dimension);
                    data.setFloat(scalesOffset + 4L * added, scale);
                    break;
                default:
                    throw new IllegalStateException(storage.toString());
            }
            added++;
        }

        /** Round to nearest even, as OpenVINO's own f32 -> bf16 conversion does. */
        static short toBf16(float value) {
            int bits = Float.floatToRawIntBits(value);
            if (Float.isNaN(value)) {
                return (short) ((bits >>> 16) | 0x40);
            }
            int rounding = 0x7FFF + ((bits >>> 16) & 1);
            return (short) ((bits + rounding) >>> 16);
        }

        /** Compiles the graph for {@code device}; the builder is spent afterwards. */
        public VectorSearchModel compile(String device) {
            if (added != rows) {
                throw new IllegalStateException("vector search: " + added + " of " + rows + " vectors added");
            }
            Pointer localCore = acquireCore(ov);
            boolean compiledOk = false;
            try {
                String xml = irXml();
                PointerByReference model = new PointerByReference();
                ov.check(
                        () -> ov.c.ov_core_read_model_from_memory_buffer(
                                localCore, xml, xml.getBytes(StandardCharsets.UTF_8).length, weights, model),
                        "read the vector search graph");
                Pointer compiled;
                try {
                    checkOutputs(model.getValue());
                    Object[] properties = storage == Storage.F32
                            ? new Object[] {"PERFORMANCE_HINT", "LATENCY", "INFERENCE_PRECISION_HINT", "f32"}
                            : new Object[] {"PERFORMANCE_HINT", "LATENCY"};
                    PointerByReference result = new PointerByReference();
                    ov.check(
                            () -> ov.c.ov_core_compile_model(localCore, model.getValue(), device, properties.length, result, properties),
                            "compile the vector search graph for '" + device + "'");
                    compiled = result.getValue();
                } finally {
                    ov.c.ov_model_free(model.getValue());
                }
                VectorSearchModel searchModel = new VectorSearchModel(ov, compiled, dimension, rows, storage);
                compiledOk = true;
                LOG.debug("Compiled vector search over {} vectors of {} ({} storage, {} compute)",
                        rows, dimension, storage, searchModel.precision());
                return searchModel;
            } finally {
                if (!compiledOk) {
                    releaseCore(ov);
                }
                close();
            }
        }

        /** Output 0 = scores (f32), output 1 = row indexes (i32): the order {@link #search} reads. */
        private void checkOutputs(Pointer model) {
            int[] expected = {OpenVinoC.ELEMENT_F32, OpenVinoC.ELEMENT_I32};
            for (int index = 0; index < expected.length; index++) {
                PointerByReference port = new PointerByReference();
                int output = index;
                ov.check(() -> ov.c.ov_model_const_output_by_index(model, output, port), "get output " + index);
                try {
                    IntByReference type = new IntByReference();
                    ov.check(() -> ov.c.ov_port_get_element_type(port.getValue(), type), "get output type");
                    if (type.getValue() != expected[index]) {
                        throw new IllegalStateException("vector search graph: output " + index + " has element type " + type.getValue());
                    }
                } finally {
                    ov.c.ov_output_const_port_free(port.getValue());
                }
            }
        }

        /** Frees the weights tensor handle (the compiled model keeps what it needs). */
        @Override
        public void close() {
            if (!freed) {
                freed = true;
                ov.c.ov_tensor_free(weights);
            }
        }

        // --- the graph as IR v11 text --------------------------------------------------------

        private String irXml() {
            Ir ir = new Ir();
            int queries = ir.layer("queries", "Parameter", "opset1",
                    String.format(Locale.ROOT, "shape=\"?,%d\" element_type=\"f32\"", dimension),
                    "", port(0, "FP32", "queries", -1, dimension));
            int k = ir.layer("k", "Parameter", "opset1", "shape=\"\" element_type=\"i64\"", "", port(0, "I64", "k"));
            int vectors = ir.layer("vectors", "Const", "opset1",
                    String.format(Locale.ROOT, "element_type=\"%s\" shape=\"%d, %d\" offset=\"0\" size=\"%d\"",
                            storage.irType, rows, dimension, (long) storage.bytes * rows * dimension),
                    "", port(0, storage.irPrecision, null, rows, dimension));
            int weightsLayer = vectors;
            if (storage != Storage.F32) {
                weightsLayer = ir.layer("vectors_f32", "Convert", "opset1", "destination_type=\"f32\"",
                        port(0, storage.irPrecision, null, rows, dimension), port(1, "FP32", null, rows, dimension));
                ir.edge(vectors, 0, weightsLayer, 0);
            }
            int weightsPort = 1;
            if (storage == Storage.INT8) {
                int scales = ir.layer("scales", "Const", "opset1",
                        String.format(Locale.ROOT, "element_type=\"f32\" shape=\"%d, 1\" offset=\"%d\" size=\"%d\"",
                                rows, scalesOffset, 4L * rows),
                        "", port(0, "FP32", null, rows, 1));
                int scaled = ir.layer("vectors_scaled", "Multiply", "opset1", "auto_broadcast=\"numpy\"",
                        port(0, "FP32", null, rows, dimension) + port(1, "FP32", null, rows, 1),
                        port(2, "FP32", null, rows, dimension));
                ir.edge(weightsLayer, 1, scaled, 0);
                ir.edge(scales, 0, scaled, 1);
                weightsLayer = scaled;
                weightsPort = 2;
            } else if (storage == Storage.F32) {
                weightsPort = 0;
            }
            int matmul = ir.layer("scores", "MatMul", "opset1", "transpose_a=\"false\" transpose_b=\"true\"",
                    port(0, "FP32", null, -1, dimension) + port(1, "FP32", null, rows, dimension),
                    port(2, "FP32", null, -1, rows));
            ir.edge(queries, 0, matmul, 0);
            ir.edge(weightsLayer, weightsPort, matmul, 1);
            int topK = ir.layer("top_k", "TopK", "opset11",
                    "axis=\"1\" mode=\"max\" sort=\"value\" index_element_type=\"i32\" stable=\"false\"",
                    port(0, "FP32", null, -1, rows) + port(1, "I64", null),
                    port(2, "FP32", "top_scores", -1, -1) + port(3, "I32", "top_rows", -1, -1));
            ir.edge(matmul, 2, topK, 0);
            ir.edge(k, 0, topK, 1);
            int scoresResult = ir.layer("top_scores", "Result", "opset1", null, port(0, "FP32", null, -1, -1), "");
            int rowsResult = ir.layer("top_rows", "Result", "opset1", null, port(0, "I32", null, -1, -1), "");
            ir.edge(topK, 2, scoresResult, 0);
            ir.edge(topK, 3, rowsResult, 0);
            return ir.toString();
        }

        private static String port(int id, String precision, String names, long... dims) {
            StringBuilder text = new StringBuilder("<port id=\"").append(id).append("\" precision=\"").append(precision).append('"');
            if (names != null) {
                text.append(" names=\"").append(names).append('"');
            }
            if (dims.length == 0) {
                return text.append("/>").toString();
            }
            text.append('>');
            for (long dim : dims) {
                text.append("<dim>").append(dim).append("</dim>");
            }
            return text.append("</port>").toString();
        }
    }

    /** Layers and edges of an IR v11 document. */
    private static final class Ir {
        private final StringBuilder layers = new StringBuilder();
        private final StringBuilder edges = new StringBuilder();
        private int next;

        int layer(String name, String type, String opset, String data, String inputs, String outputs) {
            int id = next++;
            layers.append(String.format("<layer id=\"%d\" name=\"%s\" type=\"%s\" version=\"%s\">", id, name, type, opset));
            if (data != null) {
                layers.append("<data ").append(data).append("/>");
            }
            if (!inputs.isEmpty()) {
                layers.append("<input>").append(inputs).append("</input>");
            }
            if (!outputs.isEmpty()) {
                layers.append("<output>").append(outputs).append("</output>");
            }
            layers.append("</layer>\n");
            return id;
        }

        void edge(int fromLayer, int fromPort, int toLayer, int toPort) {
            edges.append(String.format("<edge from-layer=\"%d\" from-port=\"%d\" to-layer=\"%d\" to-port=\"%d\"/>\n",
                    fromLayer, fromPort, toLayer, toPort));
        }

        @Override
        public String toString() {
            return "<?xml version=\"1.0\"?>\n<net name=\"vector_search\" version=\"11\">\n<layers>\n" + layers
                    + "</layers>\n<edges>\n" + edges + "</edges>\n</net>\n";
        }
    }
}
