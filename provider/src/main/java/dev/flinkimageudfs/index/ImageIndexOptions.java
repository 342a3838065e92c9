package dev.flinkimageudfs.index;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;

import java.time.Duration;
import java.util.List;
import java.util.Locale;

/** Options of {@code CREATE TABLE ... WITH ('connector' = 'image-index', ...)}. */
public final class ImageIndexOptions {

    /** What the sink does with a row whose vector is NULL, of the wrong length, zero or not finite. */
    public enum InvalidVectorHandling {
        SKIP,
        FAIL;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** How the searching task keeps the stored vectors (see {@code VectorSearchModel.Storage}). */
    public enum Precision {
        F32,
        BF16,
        INT8;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public static final ConfigOption<String> PATH =
            ConfigOptions.key("path")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Folder of the index's segment files, on a local or shared (e.g. NFS) file system; "
                                    + "the first INSERT creates it. Searching an empty or missing folder finds nothing.");

    public static final ConfigOption<Integer> DIMENSION =
            ConfigOptions.key("dimension")
                    .intType()
                    .noDefaultValue()
                    .withDescription(
                            "Length of every vector (2048 for ResNet-50 embeddings). Stored and query vectors "
                                    + "of another length are invalid input.");

    public static final ConfigOption<String> VECTOR_COLUMN =
            ConfigOptions.key("vector-column")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "The ARRAY<FLOAT> column holding the vectors. Default: the table's only ARRAY<FLOAT> column.");

    public static final ConfigOption<InvalidVectorHandling> SINK_INVALID_VECTOR =
            ConfigOptions.key("sink.invalid-vector")
                    .enumType(InvalidVectorHandling.class)
                    .defaultValue(InvalidVectorHandling.SKIP)
                    .withDescription(
                            "A row whose vector is NULL, has the wrong length, a NULL, NaN or infinite element, "
                                    + "or is all zeros: 'skip' stores nothing for it and logs a WARN naming the "
                                    + "column and the reason (metric index.invalidVectors); 'fail' fails the job "
                                    + "with that message.");

    public static final ConfigOption<Integer> SINK_SEGMENT_MAX_VECTORS =
            ConfigOptions.key("sink.segment.max-vectors")
                    .intType()
                    .defaultValue(65536)
                    .withDescription(
                            "A sink subtask starts a new segment file after this many vectors; every checkpoint "
                                    + "(and the end of a batch job) also closes and commits the open one.");

    public static final ConfigOption<Duration> SEARCH_REFRESH_INTERVAL =
            ConfigOptions.key("search.refresh-interval")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription(
                            "How often a searching task looks for newly committed segment files and adds them "
                                    + "to its index. 0 loads the segments once, when the search starts.");

    public static final ConfigOption<Precision> SEARCH_PRECISION =
            ConfigOptions.key("search.precision")
                    .enumType(Precision.class)
                    .defaultValue(Precision.INT8)
                    .withDescription(
                            "How the searching task keeps the vectors in memory for the scan: 'int8' (1 byte per "
                                    + "element plus one scale per vector), 'bf16' (2 bytes) or 'f32' (4 bytes, "
                                    + "computed in f32). int8 and bf16 are computed in the CPU's default precision "
                                    + "(bf16 where it has AVX-512 BF16/AMX) and their best candidates are rescored "
                                    + "in f32 from the segment files, so scores are exact f32 cosines in every mode.");

    public static final ConfigOption<Integer> SEARCH_MAX_BATCH_SIZE =
            ConfigOptions.key("search.max-batch-size")
                    .intType()
                    .defaultValue(64)
                    .withDescription(
                            "Most queries scanned together: queries waiting while a scan runs are batched into "
                                    + "the next one (raise 'max-concurrent-operations' of VECTOR_SEARCH to keep "
                                    + "more in flight).");

    public static final ConfigOption<Integer> SEARCH_BLOCK_SIZE =
            ConfigOptions.key("search.block-size")
                    .intType()
                    .defaultValue(65536)
                    .withDescription(
                            "Vectors per compiled block: new segments are compiled as blocks of up to this "
                                    + "many vectors; blocks smaller than this are merged four of a size at a time "
                                    + "(so one merge may reach four times this size), so adding vectors never "
                                    + "recompiles the whole index.");

    public static final ConfigOption<String> LIBRARY_PATH =
            ConfigOptions.key("library-path")
                    .stringType()
                    .defaultValue("")
                    .withDescription(
                            "Folder of an installed OpenVINO's libraries instead of the copy inside the jar "
                                    + "(as the openvino model provider's option of the same name).");

    private ImageIndexOptions() {}

    public static List<ConfigOption<?>> required() {
        return List.of(PATH, DIMENSION);
    }

    public static List<ConfigOption<?>> optional() {
        return List.of(VECTOR_COLUMN, SINK_INVALID_VECTOR, SINK_SEGMENT_MAX_VECTORS, SEARCH_REFRESH_INTERVAL,
                SEARCH_PRECISION, SEARCH_MAX_BATCH_SIZE, SEARCH_BLOCK_SIZE, LIBRARY_PATH);
    }

    /** Ranges Flink's type check does not cover; the message names the option. */
    static void validate(ReadableConfig options) {
        atLeast(options, DIMENSION, 1);
        atLeast(options, SINK_SEGMENT_MAX_VECTORS, 1);
        atLeast(options, SEARCH_MAX_BATCH_SIZE, 1);
        atLeast(options, SEARCH_BLOCK_SIZE, 1);
        if (options.get(SEARCH_REFRESH_INTERVAL).isNegative()) {
            throw invalid(SEARCH_REFRESH_INTERVAL, "expected a duration >= 0", options.get(SEARCH_REFRESH_INTERVAL).toString());
        }
        if (options.get(PATH).isBlank()) {
            throw invalid(PATH, "expected a folder", options.get(PATH));
        }
    }

    private static void atLeast(ReadableConfig options, ConfigOption<Integer> option, int minimum) {
        int value = options.get(option);
        if (value < minimum) {
            throw invalid(option, "expected an integer >= " + minimum, Integer.toString(value));
        }
    }

    static ValidationException invalid(ConfigOption<?> option, String expected, String got) {
        return new ValidationException(
                String.format(
                        "Invalid value for option '%s' of connector '%s': %s, got '%s'",
                        option.key(), ImageIndexTableFactory.IDENTIFIER, expected, got));
    }
}
