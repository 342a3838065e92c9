package dev.flinkimageudfs.model;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.api.ValidationException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Options of {@code CREATE MODEL ... WITH ('provider' = 'openvino', ...)}. Each is a
 * {@code classify.*} option of the pandas UDF under its key without the prefix
 * ({@code classify.model} is {@code preset}); type, default, description, choices and range come
 * from the same schema ({@code udfs.config}, via {@link PresetCatalog}). {@code library-path} is
 * the provider's own.
 */
public final class OpenVinoOptions {

    /** provider key -> classify.* key, for every option taken from the shared schema. */
    private static final Map<String, String> SHARED_KEYS = new LinkedHashMap<>();
    private static final Pattern CLASSIFY_KEY = Pattern.compile("classify\\.([a-z-]+)");

    public static final ConfigOption<String> PRESET = string("preset", "classify.model");
    public static final ConfigOption<String> MODEL_PATH = string("model-path", "classify.model-path");
    public static final ConfigOption<String> LABELS_PATH = string("labels-path", "classify.labels-path");
    public static final ConfigOption<String> DEVICE = string("device", "classify.device");
    public static final ConfigOption<String> PRECISION = string("precision", "classify.precision");
    public static final ConfigOption<String> PERFORMANCE_HINT = string("performance-hint", "classify.performance-hint");
    public static final ConfigOption<Integer> INFER_REQUESTS = integer("infer-requests", "classify.infer-requests");
    public static final ConfigOption<Integer> BATCH_SIZE = integer("batch-size", "classify.batch-size");
    public static final ConfigOption<Boolean> REDUCED_JPEG_DECODE = bool("reduced-jpeg-decode", "classify.reduced-jpeg-decode");
    public static final ConfigOption<Integer> STREAMS = integer("streams", "classify.streams");
    public static final ConfigOption<Integer> TOP_K = integer("top-k", "classify.top-k");
    public static final ConfigOption<String> CHANNEL_ORDER = string("channel-order", "classify.channel-order");
    public static final ConfigOption<Boolean> REVERSE_INPUT_CHANNELS = bool("reverse-input-channels", "classify.reverse-input-channels");
    public static final ConfigOption<String> MEAN_VALUES = string("mean-values", "classify.mean-values");
    public static final ConfigOption<String> SCALE_VALUES = string("scale-values", "classify.scale-values");
    public static final ConfigOption<String> LAYOUT = string("layout", "classify.layout");
    public static final ConfigOption<Integer> RESIZE_SIZE = integer("resize-size", "classify.resize-size");
    public static final ConfigOption<Integer> CROP_SIZE = integer("crop-size", "classify.crop-size");
    public static final ConfigOption<String> RESIZE_POLICY = string("resize-policy", "classify.resize-policy");
    public static final ConfigOption<Long> MAX_PIXELS = longInteger("max-pixels", "classify.max-pixels");
    public static final ConfigOption<Long> MAX_IMAGE_BYTES = longInteger("max-image-bytes", "classify.max-image-bytes");
    public static final ConfigOption<Integer> MAX_JPEG_SCANS = integer("max-jpeg-scans", "classify.max-jpeg-scans");
    public static final ConfigOption<String> CACHE_DIR = string("cache-dir", "classify.cache-dir");

    public static final ConfigOption<String> LIBRARY_PATH =
            ConfigOptions.key("library-path")
                    .stringType()
                    .defaultValue("")
                    .withDescription(
                            "Folder of an installed OpenVINO's libraries (libopenvino_c.so*), used instead of the "
                                    + "copy inside the jar; the environment variable "
                                    + NativeLibraries.LIBRARY_PATH_VARIABLE
                                    + " does the same for every job. Empty: the jar's copy.");

    private OpenVinoOptions() {}

    /** Every option the factory accepts besides 'provider'. */
    public static List<ConfigOption<?>> all() {
        return List.of(PRESET, MODEL_PATH, LABELS_PATH, DEVICE, PRECISION, PERFORMANCE_HINT, INFER_REQUESTS,
                BATCH_SIZE, REDUCED_JPEG_DECODE, STREAMS, TOP_K, CHANNEL_ORDER, REVERSE_INPUT_CHANNELS, MEAN_VALUES,
                SCALE_VALUES, LAYOUT, RESIZE_SIZE, CROP_SIZE, RESIZE_POLICY, MAX_PIXELS, MAX_IMAGE_BYTES, MAX_JPEG_SCANS, CACHE_DIR,
                LIBRARY_PATH);
    }

    /**
     * Checks the choices and ranges of the schema for every option set in {@code options}
     * (already type-checked by Flink's factory helper); the message names the option, what it
     * expects and what it got, like {@code udfs.config}.
     */
    static void validate(ReadableConfig options) {
        for (Map.Entry<String, String> entry : SHARED_KEYS.entrySet()) {
            JsonNode schema = PresetCatalog.get().option(entry.getValue());
            Optional<String> text = options.getOptional(ConfigOptions.key(entry.getKey()).stringType().noDefaultValue());
            if (text.isEmpty()) {
                continue;
            }
            String value = text.get().trim();
            JsonNode choices = schema.get("choices");
            if (choices != null && !choices.isNull() && choiceOf(choices, value) == null) {
                List<String> names = new ArrayList<>();
                choices.forEach(choice -> names.add(choice.asText()));
                throw invalid(entry.getKey(), "expected one of " + String.join(", ", names), value);
            }
            if (!"int".equals(schema.get("type").asText())) {
                continue;
            }
            long number = Long.parseLong(value); // FactoryHelper.validate() checked the type
            if (schema.hasNonNull("minimum") && number < schema.get("minimum").asLong()) {
                throw invalid(entry.getKey(), "expected an integer >= " + schema.get("minimum").asLong(), value);
            }
            if (schema.hasNonNull("maximum") && number > schema.get("maximum").asLong()) {
                throw invalid(entry.getKey(), "expected an integer <= " + schema.get("maximum").asLong(), value);
            }
        }
    }

    /** The schema's spelling of {@code value} among {@code choices} (case-insensitive), or null. */
    static String choiceOf(JsonNode choices, String value) {
        for (JsonNode choice : choices) {
            if (choice.asText().equalsIgnoreCase(value.trim())) {
                return choice.asText();
            }
        }
        return null;
    }

    static ValidationException invalid(String key, String expected, String got) {
        return new ValidationException(
                String.format(
                        "Invalid value for option '%s' of model provider '%s': %s, got '%s'",
                        key, OpenVinoModelProviderFactory.IDENTIFIER, expected, got));
    }

    // --- building options from the shared schema ----------------------------------------------

    /** The schema's description, speaking of provider keys, with its choices and range. */
    private static String description(JsonNode schema) {
        Matcher matcher = CLASSIFY_KEY.matcher(schema.get("description").asText());
        StringBuffer text = new StringBuffer();
        while (matcher.find()) {
            matcher.appendReplacement(text, matcher.group(1).equals("model") ? "preset" : matcher.group(1));
        }
        matcher.appendTail(text);
        if (schema.hasNonNull("choices")) {
            List<String> names = new ArrayList<>();
            schema.get("choices").forEach(choice -> names.add(choice.asText()));
            text.append(" One of: ").append(String.join(", ", names)).append('.');
        }
        if (schema.hasNonNull("minimum")) {
            text.append(" Minimum: ").append(schema.get("minimum").asLong()).append('.');
        }
        if (schema.hasNonNull("maximum")) {
            text.append(" Maximum: ").append(schema.get("maximum").asLong()).append('.');
        }
        return text.toString();
    }

    /** An option declared by the shared schema: its default (if any) and description. */
    private static <T> ConfigOption<T> shared(
            String key,
            String classifyKey,
            Function<ConfigOptions.OptionBuilder, ConfigOptions.TypedConfigOptionBuilder<T>> type,
            Function<JsonNode, T> value) {
        SHARED_KEYS.put(key, classifyKey);
        JsonNode schema = PresetCatalog.get().option(classifyKey);
        JsonNode fallback = schema.get("default");
        ConfigOptions.TypedConfigOptionBuilder<T> builder = type.apply(ConfigOptions.key(key));
        return (fallback == null || fallback.isNull() ? builder.noDefaultValue() : builder.defaultValue(value.apply(fallback)))
                .withDescription(description(schema));
    }

    private static ConfigOption<String> string(String key, String classifyKey) {
        return shared(key, classifyKey, ConfigOptions.OptionBuilder::stringType, JsonNode::asText);
    }

    private static ConfigOption<Integer> integer(String key, String classifyKey) {
        return shared(key, classifyKey, ConfigOptions.OptionBuilder::intType, JsonNode::asInt);
    }

    private static ConfigOption<Long> longInteger(String key, String classifyKey) {
        return shared(key, classifyKey, ConfigOptions.OptionBuilder::longType, JsonNode::asLong);
    }

    private static ConfigOption<Boolean> bool(String key, String classifyKey) {
        return shared(key, classifyKey, ConfigOptions.OptionBuilder::booleanType, JsonNode::asBoolean);
    }
}
