package dev.flinkimageudfs.model.openvino;

import dev.flinkimageudfs.model.preset.Preprocessing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Everything that decides a compiled model: the file (and its version, so a replaced file is
 * compiled afresh), preprocessing, postprocessing, batch size, device and compile properties. Two
 * functions with equal specs in one job share one compiled model.
 */
public final class ModelSpec {

    /**
     * Images per infer request when the batch size is 0 (automatic) and the graph allows it, as
     * {@code udfs.runtime.AUTO_BATCH_SIZE}: light ResNet-50, bf16, 2 cores: 193 (batch 1), 215 (4),
     * 227 (8) images/s on pre-decoded crops.
     */
    public static final int AUTO_BATCH_SIZE = 8;

    final Path modelPath;
    final Preprocessing preprocessing;
    final int numClasses;
    final String outputActivation; // softmax, none or auto
    final int batchSize; // 0 = autoBatchSize when the graph allows it, else 1
    final int autoBatchSize;
    final String device;
    final Map<String, String> properties;
    final String libraryPath;
    final String embeddingOutput; // the model output holding the embedding, or null
    private final long[] fileVersion;
    private final String precision; // f32, bf16, f16, int8 (the INT8 IR at the device default) or auto
    private final String precisionReason; // why: the option, or what 'auto' chose and why

    public ModelSpec(
            Path modelPath,
            Preprocessing preprocessing,
            int numClasses,
            String outputActivation,
            int batchSize,
            int autoBatchSize,
            String device,
            String precision,
            String precisionReason,
            String performanceHint,
            int streams,
            String cacheDir,
            String libraryPath,
            String embeddingOutput) {
        this.modelPath = modelPath;
        this.preprocessing = preprocessing;
        this.numClasses = numClasses;
        this.outputActivation = outputActivation;
        this.batchSize = batchSize;
        this.autoBatchSize = autoBatchSize;
        this.device = device;
        this.libraryPath = libraryPath;
        this.embeddingOutput = embeddingOutput;
        this.precision = precision;
        this.precisionReason = precisionReason;
        Map<String, String> properties = new LinkedHashMap<>();
        properties.put("PERFORMANCE_HINT", performanceHint);
        if (!"auto".equals(precision) && !"int8".equals(precision)) {
            properties.put("INFERENCE_PRECISION_HINT", precision);
        }
        if (streams > 0) {
            properties.put("NUM_STREAMS", Integer.toString(streams));
        }
        if (cacheDir != null && !cacheDir.isEmpty()) {
            properties.put("CACHE_DIR", cacheDir);
        }
        this.properties = Collections.unmodifiableMap(properties);
        this.fileVersion = fileVersion(modelPath);
    }

    /** The precision resolved from the option: f32, bf16, f16, int8, or auto on a non-CPU device. */
    public String precision() {
        return precision;
    }

    /** Why this precision: the option as set, or what 'auto' measured (also logged). */
    public String precisionReason() {
        return precisionReason;
    }

    public Path modelPath() {
        return modelPath;
    }

    private static long[] fileVersion(Path path) {
        try {
            return new long[] {Files.getLastModifiedTime(path).toMillis(), Files.size(path)};
        } catch (Exception e) {
            return new long[] {0, 0}; // reading the model reports the missing file
        }
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof ModelSpec)) {
            return false;
        }
        ModelSpec that = (ModelSpec) other;
        return modelPath.equals(that.modelPath)
                && Arrays.equals(fileVersion, that.fileVersion)
                && preprocessing.equals(that.preprocessing)
                && numClasses == that.numClasses
                && outputActivation.equals(that.outputActivation)
                && batchSize == that.batchSize
                && autoBatchSize == that.autoBatchSize
                && device.equals(that.device)
                && properties.equals(that.properties)
                && Objects.equals(libraryPath, that.libraryPath)
                && Objects.equals(embeddingOutput, that.embeddingOutput);
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelPath, preprocessing, numClasses, batchSize, device, properties)
                + 31 * Arrays.hashCode(fileVersion);
    }
}
