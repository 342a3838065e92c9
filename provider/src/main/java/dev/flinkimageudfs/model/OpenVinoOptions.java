package dev.flinkimageudfs.model;

import dev.flinkimageudfs.model.nativelib.NativeLibraries;
import dev.flinkimageudfs.model.preset.PresetCatalog;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.api.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * {@code classify.*} option of the pandas UDF under its key without the prefix; type, default,
 * description, choices and range come from the same schema ({@code udfs.config}, via {@link
 * PresetCatalog}). {@code library-path} is the provider's own. {@code preset}, the old name of
 * {@code model}, still works (a deprecated key: Flink reads it, {@link #warnDeprecatedKeys} logs
 * what to write instead).
 */
public final class OpenVinoOptions {

    private static final Logger LOG = LoggerFactory.getLogger(OpenVinoOptions.class);

    /** classify.* key -> the provider's option read as text, for every option of the shared schema. */
    private static final Map<String, ConfigOption<String>> SHARED_AS_TEXT = new LinkedHashMap<>();
    private static final Pattern CLASSIFY_KEY = Pattern.compile("classify\\.([a-z-]+)");

    public static final ConfigOption<String> MODEL = string("model", "classify.model", "preset");
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
        return List.of(MODEL, MODEL_PATH, LABELS_PATH, DEVICE, PRECISION, PERFORMANCE_HINT, INFER_REQUESTS,
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
        for (Map.Entry<String, ConfigOption<String>> entry : SHARED_AS_TEXT.entrySet()) {
            JsonNode schema = PresetCatalog.get().option(entry.getKey());
            String key = entry.getValue().key();
            Optional<String> text = options.getOptional(entry.getValue());
            if (text.isEmpty()) {
                continue;
            }
            String value = text.get().trim();
            JsonNode choices = schema.get("choices");
            if (choices != null && !choices.isNull() && choiceOf(choices, value) == null) {
                List<String> names = new ArrayList<>();
                choices.forEach(choice -> names.add(choice.asText()));
                throw invalid(key, "expected one of " + String.join(", ", names), value);
            }
            if (!"int".equals(schema.get("type").asText())) {
                continue;
            }
            long number = Long.parseLong(value); // FactoryHelper.validate() checked the type
            if (schema.hasNonNull("minimum") && number < schema.get("minimum").asLong()) {
                throw invalid(key, "expected an integer >= " + schema.get("minimum").asLong(), value);
            }
            if (schema.hasNonNull("maximum") && number > schema.get("maximum").asLong()) {
                throw invalid(key, "expected an integer <= " + schema.get("maximum").asLong(), value);
            }
        }
    }

    /**
     * The schema's spelling of a value of {@code classifyKey} (choices match case-insensitively),
     * once {@link #validate} accepted it: the one check of the choices is there.
     */
    static String choice(String value, String classifyKey) {
        String match = choiceOf(PresetCatalog.get().option(classifyKey).get("choices"), value);
        if (match == null) {
            throw new IllegalStateException(classifyKey + " = '" + value + "' was not validated");
        }
        return match;
    }

    /** The schema's spelling of {@code value} among {@code choices} (case-insensitive), or null. */
    private static String choiceOf(JsonNode choices, String value) {
        for (JsonNode choice : choices) {
            if (choice.asText().equalsIgnoreCase(value.trim())) {
                return choice.asText();
            }
        }
        return null;
    }

    /**
     * Logs a warning for every deprecated key among a model's WITH options, naming the key to use
     * instead ({@code modelName}: the model's name, for the log reader).
     */
    static void warnDeprecatedKeys(String modelName, Map<String, String> given) {
        for (ConfigOption<?> option : all()) {
            for (FallbackKey fallback : option.fallbackKeys()) {
                if (fallback.isDeprecated() && given.containsKey(fallback.getKey())) {
                    LOG.warn(
                            "Model {}: option '{}' of model provider '{}' is deprecated, write '{}' instead",
                            modelName, fallback.getKey(), OpenVinoModelProviderFactory.IDENTIFIER, option.key());
                }
            }
        }
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
            matcher.appendReplacement(text, matcher.group(1));
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

    /**
     * An option declared by the shared schema: its default (if any) and description; {@code
     * deprecatedKeys} are its old names.
     */
    private static <T> ConfigOption<T> shared(
            String key,
            String classifyKey,
            Function<ConfigOptions.OptionBuilder, ConfigOptions.TypedConfigOptionBuilder<T>> type,
            Function<JsonNode, T> value,
            String... deprecatedKeys) {
        SHARED_AS_TEXT.put(classifyKey, ConfigOptions.key(key).stringType().noDefaultValue().withDeprecatedKeys(deprecatedKeys));
        JsonNode schema = PresetCatalog.get().option(classifyKey);
        JsonNode fallback = schema.get("default");
        ConfigOptions.TypedConfigOptionBuilder<T> builder = type.apply(ConfigOptions.key(key));
        return (fallback == null || fallback.isNull() ? builder.noDefaultValue() : builder.defaultValue(value.apply(fallback)))
                .withDescription(description(schema))
                .withDeprecatedKeys(deprecatedKeys);
    }

    private static ConfigOption<String> string(String key, String classifyKey, String... deprecatedKeys) {
        return shared(key, classifyKey, ConfigOptions.OptionBuilder::stringType, JsonNode::asText, deprecatedKeys);
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
