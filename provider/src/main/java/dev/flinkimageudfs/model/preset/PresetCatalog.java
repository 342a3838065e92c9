package dev.flinkimageudfs.model.preset;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model presets and the {@code classify.*} option schema of the Python package, read from
 * {@value #RESOURCE}, which the build generates with {@code python -m udfs.preset_data}: one
 * source of truth for both sides.
 */
public final class PresetCatalog {

    static final String RESOURCE = "/dev/flinkimageudfs/model/presets.json";

    private static final PresetCatalog INSTANCE = load();

    private final String defaultPreset;
    private final Map<String, JsonNode> presets;
    private final Map<String, JsonNode> options;
    private final JsonNode rules;

    private PresetCatalog(
            String defaultPreset, Map<String, JsonNode> presets, Map<String, JsonNode> options, JsonNode rules) {
        this.defaultPreset = defaultPreset;
        this.presets = presets;
        this.options = options;
        this.rules = rules;
    }

    public static PresetCatalog get() {
        return INSTANCE;
    }

    private static PresetCatalog load() {
        try (InputStream in = PresetCatalog.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("openvino provider: the jar lacks " + RESOURCE + " (rebuild it with provider/build.sh)");
            }
            JsonNode root = new ObjectMapper().readTree(in);
            Map<String, JsonNode> presets = new LinkedHashMap<>();
            JsonNode entries = root.get("presets");
            for (Iterator<String> names = entries.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                presets.put(name, entries.get(name));
            }
            Map<String, JsonNode> options = new LinkedHashMap<>();
            for (JsonNode option : root.get("options")) {
                options.put(option.get("key").asText(), option);
            }
            return new PresetCatalog(
                    root.get("default_preset").asText(),
                    Collections.unmodifiableMap(presets),
                    Collections.unmodifiableMap(options),
                    root.get("rules"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String defaultPreset() {
        return defaultPreset;
    }

    public List<String> presetNames() {
        return new ArrayList<>(presets.keySet());
    }

    /** Presets offering precision 'int8' (their INT8 accuracy was measured within a point of f32). */
    public List<String> int8PresetNames() {
        List<String> names = new ArrayList<>();
        presets.forEach((name, entry) -> {
            if (entry.path("offers_int8").asBoolean(false)) {
                names.add(name);
            }
        });
        return names;
    }

    /** The preset entry (fields of {@code udfs.presets.ModelEntry}), or null. */
    public JsonNode preset(String name) {
        return presets.get(name);
    }

    /**
     * A rule both paths follow ({@code udfs.rules}): {@code null_image_error}, {@code
     * label_line_break}, {@code softmax_probe}...
     */
    public JsonNode rule(String name) {
        JsonNode rule = rules == null ? null : rules.get(name);
        if (rule == null) {
            throw new IllegalStateException("openvino provider: " + RESOURCE + " has no rule " + name + " (rebuild the jar)");
        }
        return rule;
    }

    /**
     * The error text {@code kind} of {@code udfs.rules.ERRORS}, each {@code {name}} replaced by the
     * value following that name in {@code namesAndValues}.
     */
    public String error(String kind, Object... namesAndValues) {
        String text = rule("errors").get(kind).asText();
        for (int i = 0; i + 1 < namesAndValues.length; i += 2) {
            text = text.replace("{" + namesAndValues[i] + "}", String.valueOf(namesAndValues[i + 1]));
        }
        return text;
    }

    /** The schema entry of a {@code classify.*} option: type, default, description, range. */
    public JsonNode option(String classifyKey) {
        JsonNode option = options.get(classifyKey);
        if (option == null) {
            throw new IllegalStateException("openvino provider: " + RESOURCE + " has no option " + classifyKey);
        }
        return option;
    }
}
