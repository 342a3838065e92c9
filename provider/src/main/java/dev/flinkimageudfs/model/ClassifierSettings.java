package dev.flinkimageudfs.model;

import dev.flinkimageudfs.model.openvino.AutoPrecision;
import dev.flinkimageudfs.model.openvino.ModelSpec;
import dev.flinkimageudfs.model.preset.Preprocessing;
import dev.flinkimageudfs.model.preset.PresetCatalog;

import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.api.ValidationException;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiFunction;

import static dev.flinkimageudfs.model.OpenVinoOptions.BATCH_SIZE;
import static dev.flinkimageudfs.model.OpenVinoOptions.CACHE_DIR;
import static dev.flinkimageudfs.model.OpenVinoOptions.CHANNEL_ORDER;
import static dev.flinkimageudfs.model.OpenVinoOptions.CROP_SIZE;
import static dev.flinkimageudfs.model.OpenVinoOptions.DEVICE;
import static dev.flinkimageudfs.model.OpenVinoOptions.INFER_REQUESTS;
import static dev.flinkimageudfs.model.OpenVinoOptions.LABELS_PATH;
import static dev.flinkimageudfs.model.OpenVinoOptions.LAYOUT;
import static dev.flinkimageudfs.model.OpenVinoOptions.LIBRARY_PATH;
import static dev.flinkimageudfs.model.OpenVinoOptions.MAX_IMAGE_BYTES;
import static dev.flinkimageudfs.model.OpenVinoOptions.MAX_JPEG_SCANS;
import static dev.flinkimageudfs.model.OpenVinoOptions.MAX_PIXELS;
import static dev.flinkimageudfs.model.OpenVinoOptions.MEAN_VALUES;
import static dev.flinkimageudfs.model.OpenVinoOptions.MODEL;
import static dev.flinkimageudfs.model.OpenVinoOptions.MODEL_PATH;
import static dev.flinkimageudfs.model.OpenVinoOptions.PERFORMANCE_HINT;
import static dev.flinkimageudfs.model.OpenVinoOptions.PRECISION;
import static dev.flinkimageudfs.model.OpenVinoOptions.REDUCED_JPEG_DECODE;
import static dev.flinkimageudfs.model.OpenVinoOptions.RESIZE_POLICY;
import static dev.flinkimageudfs.model.OpenVinoOptions.RESIZE_SIZE;
import static dev.flinkimageudfs.model.OpenVinoOptions.REVERSE_INPUT_CHANNELS;
import static dev.flinkimageudfs.model.OpenVinoOptions.SCALE_VALUES;
import static dev.flinkimageudfs.model.OpenVinoOptions.STREAMS;
import static dev.flinkimageudfs.model.OpenVinoOptions.TOP_K;
import static dev.flinkimageudfs.model.OpenVinoOptions.choice;

/**
 * The resolved, checked settings of one model, the Java side of {@code udfs.config.load_config}:
 * built on the client when the query is planned (a bad value fails there, naming the option),
 * shipped with the function to the TaskManagers. Paths that depend on the machine (the model
 * cache, the compiled-model cache) are resolved where the model is opened.
 */
public final class ClassifierSettings implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final String LABELS_RESOURCE = "/dev/flinkimageudfs/model/labels/";

    public final String preset;
    public final Preprocessing preprocessing;
    private final String modelPath; // null: the preset's file in the model cache
    private final String modelFileName;
    private final boolean downloadable;
    private final boolean offersInt8;
    private final String labelsPath; // null: the preset's packaged labels
    private final String labelsResource;
    public final int labelOffset;
    private final String outputActivation;
    /** The model output holding the preset's image embedding, or null: the preset has none. */
    public final String embeddingOutput;
    public final String device;
    public final String precision;
    public final String performanceHint;
    public final int inferRequests;
    public final int batchSize;
    public final int streams;
    public final int topK;
    public final long maxPixels;
    public final long maxImageBytes;
    public final int maxJpegScans;
    public final boolean reducedJpegDecode;
    private final String cacheDir; // null: the default folder; empty: no cache
    private final String libraryPath;

    private ClassifierSettings(ReadableConfig options) {
        PresetCatalog catalog = PresetCatalog.get();
        String name = choice(options.get(MODEL), "classify.model"); // the schema's choices are the presets
        JsonNode entry = catalog.preset(name);
        preset = name;
        preprocessing = resolvePreprocessing(entry.get("preprocessing"), options);
        modelPath = blankToNull(options.getOptional(MODEL_PATH).orElse(null));
        modelFileName = entry.get("file_name").asText();
        downloadable = entry.hasNonNull("url") || entry.hasNonNull("npm");
        offersInt8 = entry.path("offers_int8").asBoolean(false);
        labelsPath = blankToNull(options.getOptional(LABELS_PATH).orElse(null));
        labelsResource = entry.get("labels").asText();
        labelOffset = entry.get("label_offset").asInt();
        outputActivation = entry.get("output_activation").asText();
        embeddingOutput = entry.hasNonNull("embedding") ? entry.get("embedding").get("output").asText() : null;
        device = options.get(DEVICE).trim().isEmpty() ? "CPU" : options.get(DEVICE).trim();
        precision = choice(options.get(PRECISION), "classify.precision");
        if ("int8".equals(precision) && !offersInt8) {
            throw OpenVinoOptions.invalid(PRECISION.key(), "expected a precision offered for preset '" + name + "' (int8: "
                    + String.join(", ", catalog.int8PresetNames()) + ")", precision);
        }
        performanceHint = choice(options.get(PERFORMANCE_HINT), "classify.performance-hint");
        inferRequests = options.get(INFER_REQUESTS);
        batchSize = options.get(BATCH_SIZE);
        streams = options.get(STREAMS);
        topK = options.get(TOP_K);
        maxPixels = options.get(MAX_PIXELS);
        maxImageBytes = options.get(MAX_IMAGE_BYTES);
        maxJpegScans = options.get(MAX_JPEG_SCANS);
        reducedJpegDecode = options.get(REDUCED_JPEG_DECODE);
        cacheDir = options.getOptional(CACHE_DIR).map(String::trim).orElse(null);
        libraryPath = options.get(LIBRARY_PATH).trim();
    }

    /** Checks and resolves the model's options (already checked for unknown keys). */
    public static ClassifierSettings of(ReadableConfig options) {
        OpenVinoOptions.validate(options);
        return new ClassifierSettings(options);
    }

    // --- preprocessing: the preset's, with the options that override one field -------------

    private static Preprocessing resolvePreprocessing(JsonNode preset, ReadableConfig options) {
        String channelOrder =
                options.getOptional(CHANNEL_ORDER).map(v -> choice(v, "classify.channel-order"))
                        .orElse(preset.get("channel_order").asText());
        float[] mean = options.getOptional(MEAN_VALUES).map(v -> numbers(MEAN_VALUES.key(), v))
                .orElse(floats(preset.get("mean")));
        float[] scale = options.getOptional(SCALE_VALUES).map(v -> numbers(SCALE_VALUES.key(), v))
                .orElse(floats(preset.get("scale")));
        if (options.get(REVERSE_INPUT_CHANNELS)) { // mean and scale follow their channels
            channelOrder = "RGB".equals(channelOrder) ? "BGR" : "RGB";
            mean = reversed(mean);
            scale = reversed(scale);
        }
        Preprocessing preprocessing =
                new Preprocessing(
                        options.getOptional(RESIZE_SIZE).orElse(preset.get("resize_size").asInt()),
                        options.getOptional(CROP_SIZE).orElse(preset.get("crop_size").asInt()),
                        options.getOptional(RESIZE_POLICY).map(v -> choice(v, "classify.resize-policy"))
                                .orElse(preset.get("resize_policy").asText()),
                        preset.get("interpolation").asText(),
                        channelOrder,
                        options.getOptional(LAYOUT).map(v -> choice(v, "classify.layout"))
                                .orElse(preset.get("layout").asText()),
                        mean,
                        scale);
        if (preprocessing.scale != null) {
            for (float value : preprocessing.scale) {
                if (value == 0) {
                    throw OpenVinoOptions.invalid(SCALE_VALUES.key(), "expected non-zero numbers", Arrays.toString(preprocessing.scale));
                }
            }
        }
        if (Preprocessing.RESIZE_SHORTER_SIDE_THEN_CROP.equals(preprocessing.resizePolicy)
                && preprocessing.cropSize > preprocessing.resizeSize) {
            throw OpenVinoOptions.invalid(
                    CROP_SIZE.key(), "expected <= resize-size (" + preprocessing.resizeSize + ")",
                    Integer.toString(preprocessing.cropSize));
        }
        if (!"linear".equals(preprocessing.interpolation)) {
            throw new ValidationException(
                    "The preset's interpolation '" + preprocessing.interpolation
                            + "' is not implemented by the openvino provider (linear only)");
        }
        return preprocessing;
    }

    /** 1 or 3 comma-separated numbers; empty skips the step (null). */
    private static float[] numbers(String key, String text) {
        if (text.trim().isEmpty()) {
            return null;
        }
        String[] parts = text.split(",");
        float[] values = new float[parts.length];
        try {
            for (int i = 0; i < parts.length; i++) {
                values[i] = Float.parseFloat(parts[i].trim());
            }
        } catch (NumberFormatException e) {
            throw OpenVinoOptions.invalid(key, "expected 1 or 3 comma-separated numbers", text);
        }
        if (values.length != 1 && values.length != 3) {
            throw OpenVinoOptions.invalid(key, "expected 1 or 3 comma-separated numbers", text);
        }
        return values;
    }

    private static float[] reversed(float[] values) {
        if (values == null) {
            return null;
        }
        float[] result = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = values[values.length - 1 - i];
        }
        return result;
    }

    private static float[] floats(JsonNode array) {
        if (array == null || array.isNull()) {
            return null;
        }
        float[] values = new float[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) array.get(i).asDouble();
        }
        return values;
    }

    private static String blankToNull(String text) {
        return text == null || text.trim().isEmpty() ? null : text.trim();
    }

    // --- resolved where the model runs ----------------------------------------------------

    /** {@code ~/.cache/flink-image-udfs} (or under {@code $XDG_CACHE_HOME}), as {@code udfs.config}. */
    static Path cacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isEmpty() ? Paths.get(xdg) : Paths.get(System.getProperty("user.home"), ".cache");
        return base.resolve("flink-image-udfs");
    }

    /** 'model-path' if set, else the preset's file in the model cache ({@code udfs.models}). */
    public Path modelPath() {
        if (modelPath != null) {
            return Paths.get(expandHome(modelPath));
        }
        Path cached = cacheRoot().resolve("models").resolve(modelFileName);
        if (Files.isRegularFile(cached)) {
            return cached;
        }
        String hint = downloadable
                ? "run `python -m udfs.models fetch " + preset + "` or set 'model-path'"
                : "set 'model-path' to your copy of " + modelFileName;
        throw new IllegalArgumentException(
                "model-path: not set and no cached model for preset '" + preset + "' at " + cached + "; " + hint);
    }

    /** Class names, line i = class i, from 'labels-path' or the labels packaged in the jar. */
    public List<String> labels() {
        String text;
        try {
            if (labelsPath == null) {
                try (InputStream in = ClassifierSettings.class.getResourceAsStream(LABELS_RESOURCE + labelsResource)) {
                    if (in == null) {
                        throw new IllegalStateException("openvino provider: the jar lacks labels " + labelsResource);
                    }
                    text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            } else {
                text = Files.readString(Paths.get(expandHome(labelsPath)), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("labels-path: cannot read labels '" + labelsPath + "': " + e, e);
        }
        // split as udfs.rules.split_labels: a final line break ends the last line
        List<String> labels =
                new ArrayList<>(Arrays.asList(text.split(PresetCatalog.get().rule("label_line_break").asText(), -1)));
        if (!labels.isEmpty() && labels.get(labels.size() - 1).isEmpty()) {
            labels.remove(labels.size() - 1);
        }
        if (labels.isEmpty()) {
            throw new IllegalArgumentException("labels-path: no labels in '" + labelsPath + "'");
        }
        return labels;
    }

    /**
     * Where {@code python -m udfs.models quantize} writes the INT8 IR of a float model: beside it,
     * {@code <stem>-int8/model.xml} ({@code udfs.models.int8_model_path}).
     */
    static Path int8ModelPath(Path floatModel) {
        String name = floatModel.getFileName().toString();
        String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        return floatModel.resolveSibling(stem + "-int8").resolve("model.xml");
    }

    /** The INT8 IR of the model; the error names the command that makes it. */
    private Path int8ModelPath() {
        Path floatModel = modelPath();
        Path int8 = int8ModelPath(floatModel);
        if (!Files.isRegularFile(int8)) {
            throw new IllegalArgumentException(
                    "precision: 'int8' needs the INT8 model of " + floatModel + ", expected at " + int8
                            + "; make it with `python -m udfs.models quantize " + preset + " --calibration DIR"
                            + (modelPath != null ? " --model-path " + floatModel : "")
                            + "` (DIR: a few hundred of your images)");
        }
        return int8;
    }

    /**
     * What to compile, for {@code batchSize} images per request; 0 = {@code autoBatchSize} when
     * the graph allows a batch, else 1. 'precision' resolved as {@code udfs.precision} does:
     * int8 = the INT8 IR, auto = {@link AutoPrecision}.
     */
    public ModelSpec modelSpec(int numClasses, int batchSize, int autoBatchSize) {
        String cache = cacheDir == null ? cacheRoot().resolve("openvino").toString() : expandHome(cacheDir);
        BiFunction<String, Path, ModelSpec> specOf = (resolved, path) -> new ModelSpec(
                path, preprocessing, numClasses, outputActivation, batchSize, autoBatchSize, device, resolved,
                "precision '" + precision + "'", performanceHint, streams, cache, libraryPath, embeddingOutput);
        if ("int8".equals(precision)) {
            return specOf.apply("int8", int8ModelPath());
        }
        if (!"auto".equals(precision)) {
            return specOf.apply(precision, modelPath());
        }
        Path floatModel = modelPath();
        AutoPrecision.Choice choice = AutoPrecision.choose(
                floatModel, offersInt8 ? int8ModelPath(floatModel) : null, device, cache, libraryPath, specOf);
        return new ModelSpec(
                choice.modelPath, preprocessing, numClasses, outputActivation, batchSize, autoBatchSize, device,
                choice.precision, choice.reason, performanceHint, streams, cache, libraryPath, embeddingOutput);
    }

    /**
     * Why the preset gives no embedding and what to set instead (the provider's 'model' is the
     * UDF's classify.model), as {@code udfs.config.no_embedding_message}.
     */
    public String noEmbeddingMessage() {
        PresetCatalog catalog = PresetCatalog.get();
        List<String> having = new ArrayList<>();
        for (String name : catalog.presetNames()) {
            if (catalog.preset(name).hasNonNull("embedding")) {
                having.add(name);
            }
        }
        return "preset '" + preset + "' gives no embedding; set 'model' (classify.model) to a preset that does ("
                + String.join(", ", having) + ")";
    }

    private static String expandHome(String path) {
        return path.startsWith("~") ? System.getProperty("user.home") + path.substring(1) : path;
    }
}
