package dev.flinkimageudfs.model.openvino;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.stream.Collectors;

/**
 * Precision 'auto' for the provider: the rule of {@code udfs/precision.py}, implemented again so a
 * cluster needs no Python, and sharing its cache file, so whichever path runs first on a machine
 * measures and the other reads the result.
 *
 * <ol>
 *   <li>candidates: f32; bf16 when OpenVINO lists BF16 in the CPU's OPTIMIZATION_CAPABILITIES;
 *       int8 when the preset offers it, its INT8 IR exists and /proc/cpuinfo shows VNNI;
 *   <li>each candidate compiled as the function compiles it and timed on grey crops, two
 *       interleaved rounds, best round counts; the fastest wins unless a more precise candidate is
 *       within {@link #TIE_MARGIN};
 *   <li>cached in {@code <cache-dir>/precision-<key>.json}, the key hashed from the same text as
 *       Python's ({@link #cacheKey});
 *   <li>no cache directory: no measurement; int8 if a candidate, else bf16 if a candidate, else
 *       f32.
 * </ol>
 */
public final class AutoPrecision {

    private static final Logger LOG = LoggerFactory.getLogger(AutoPrecision.class);
    static final String CACHE_VERSION = "flink-image-udfs precision choice 1";
    static final List<String> CPU_FLAGS =
            List.of("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8");
    private static final List<String> VNNI_FLAGS = List.of("avx512_vnni", "avx_vnni", "amx_int8");
    private static final List<String> AMX_FLAGS = List.of("amx_bf16", "amx_int8");
    static final List<String> PRECISION_ORDER = List.of("f32", "bf16", "int8");
    static final double TIE_MARGIN = 0.05;
    private static final long MEASURE_NANOS = 250_000_000L; // as udfs.precision.MEASURE_SECONDS
    private static final Object MEASURING = new Object(); // file locks are per process: threads take this first

    /** What to compile: {@code modelPath} at {@code precision}; {@code reason} says why. */
    public static final class Choice {
        public final String precision;
        public final Path modelPath;
        public final String reason;

        Choice(String precision, Path modelPath, String reason) {
            this.precision = precision;
            this.modelPath = modelPath;
            this.reason = reason;
        }
    }

    /** The CPU's model name, the {@link #CPU_FLAGS} it has and OpenVINO's capabilities for it. */
    static final class Cpu {
        final String model;
        final List<String> flags;
        final Set<String> capabilities;

        Cpu(String model, List<String> flags, Set<String> capabilities) {
            this.model = model;
            this.flags = flags;
            this.capabilities = capabilities;
        }

        boolean hasAmx() {
            return flags.stream().anyMatch(AMX_FLAGS::contains);
        }

        boolean hasVnni() {
            return flags.stream().anyMatch(VNNI_FLAGS::contains);
        }

        String describe() {
            String present = flags.isEmpty() ? "none of " + String.join(", ", CPU_FLAGS) : String.join(", ", flags);
            return model + " (" + present + (hasAmx() ? "" : "; no AMX") + ")";
        }

        static Cpu read(OpenVino ov) {
            String model = "unknown";
            Set<String> present = new HashSet<>();
            try {
                for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                    if (line.startsWith("model name") && "unknown".equals(model)) {
                        model = line.substring(line.indexOf(':') + 1).trim();
                    } else if (line.startsWith("flags") && present.isEmpty()) {
                        present.addAll(Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
                    }
                }
            } catch (IOException e) {
                LOG.info("Cannot read /proc/cpuinfo ({}): choosing the precision without CPU flags", e.toString());
            }
            List<String> flags = CPU_FLAGS.stream().filter(present::contains).collect(Collectors.toList());
            Set<String> capabilities =
                    new HashSet<>(Arrays.asList(ov.deviceProperty("CPU", "OPTIMIZATION_CAPABILITIES").trim().split("\\s+")));
            return new Cpu(model, flags, capabilities);
        }
    }

    private AutoPrecision() {}

    /**
     * Resolves 'auto' for a model: {@code int8Model} is its INT8 IR when the preset offers INT8
     * (null otherwise; a missing file is no candidate), {@code cacheDir} empty = no cache,
     * {@code specOf} gives the spec the function compiles for a precision and file.
     */
    public static Choice choose(
            Path floatModel, Path int8Model, String device, String cacheDir, String libraryPath,
            BiFunction<String, Path, ModelSpec> specOf) {
        ClassificationModel.requireModelFile(floatModel);
        if (!"CPU".equalsIgnoreCase(device)) {
            return new Choice("auto", floatModel, "precision 'auto' on device " + device + ": the device's default");
        }
        Cpu cpu = Cpu.read(OpenVino.get(libraryPath));
        Map<String, Path> models = new LinkedHashMap<>();
        for (String precision : candidates(cpu, int8Model != null && Files.isRegularFile(int8Model))) {
            models.put(precision, "int8".equals(precision) ? int8Model : floatModel);
        }
        String choice;
        String why;
        if (models.size() == 1) {
            choice = "f32";
            why = "the only candidate";
        } else if (cacheDir == null || cacheDir.isEmpty()) {
            choice = preferredUnmeasured(models.keySet());
            why = "by CPU features alone (candidates " + String.join(", ", models.keySet())
                    + "; 'cache-dir' is empty, so nothing is measured)";
        } else {
            String[] measured = measuredChoice(Paths.get(cacheDir), device, cpu, models, specOf);
            choice = measured[0];
            why = measured[1];
        }
        String reason = "precision 'auto' chose " + choice + " on " + cpu.describe() + ": " + why;
        LOG.info(reason);
        return new Choice(choice, models.get(choice), reason);
    }

    static List<String> candidates(Cpu cpu, boolean int8Available) {
        List<String> candidates = new ArrayList<>(List.of("f32"));
        if (cpu.capabilities.contains("BF16")) {
            candidates.add("bf16");
        }
        if (int8Available && cpu.hasVnni()) {
            candidates.add("int8");
        }
        return candidates;
    }

    static String preferredUnmeasured(Set<String> candidates) {
        if (candidates.contains("int8")) {
            return "int8";
        }
        return candidates.contains("bf16") ? "bf16" : "f32";
    }

    /** The fastest precision, unless a more precise one is within {@link #TIE_MARGIN} of it. */
    static String fastest(Map<String, Double> rates) {
        String best = null;
        for (String precision : PRECISION_ORDER) {
            if (rates.containsKey(precision) && (best == null || rates.get(precision) > rates.get(best) * (1 + TIE_MARGIN))) {
                best = precision;
            }
        }
        return best;
    }

    // --- the cached measurement ------------------------------------------------------------------

    /** sha256 (first 16 hex digits) of the same text as {@code udfs.precision.cache_key}. */
    static String cacheKey(String device, Cpu cpu, Map<String, Path> models) throws IOException {
        String text = String.join("\n",
                CACHE_VERSION,
                "device=" + device.toUpperCase(Locale.ROOT),
                "cpu=" + cpu.model,
                "flags=" + String.join(" ", cpu.flags),
                "float=" + identity(models.get("f32")),
                "int8=" + (models.containsKey("int8") ? identity(models.get("int8")) : "-"));
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < 8; i++) {
                hex.append(String.format("%02x", digest[i]));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String identity(Path path) throws IOException {
        return path.toRealPath() + ":" + Files.size(path) + ":" + Files.getLastModifiedTime(path).toMillis();
    }

    private static String[] measuredChoice(
            Path cacheDir, String device, Cpu cpu, Map<String, Path> models, BiFunction<String, Path, ModelSpec> specOf) {
        try {
            Files.createDirectories(cacheDir);
            String key = cacheKey(device, cpu, models);
            Path cacheFile = cacheDir.resolve("precision-" + key + ".json");
            synchronized (MEASURING) {
                try (FileChannel channel = FileChannel.open(cacheDir.resolve("precision-" + key + ".lock"),
                                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                        FileLock lock = lock(channel)) { // Python's fcntl.lockf: one measures, the others wait and read
                    Map<String, Double> cached = readRates(cacheFile, models);
                    if (cached != null) {
                        return new String[] {cachedChoice(cacheFile), ratesText(cached) + " (cached in " + cacheFile + ")"};
                    }
                    Map<String, Double> rates = measure(models, specOf);
                    String choice = fastest(rates);
                    writeChoice(cacheFile, choice, rates, cpu, device, models);
                    return new String[] {choice, ratesText(rates) + " (measured now, cached in " + cacheFile + ")"};
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cache-dir: cannot keep the precision measurement in '" + cacheDir + "': " + e, e);
        }
    }

    /** Waits for the lock; another job's class loader in this JVM holding it is waited for too. */
    private static FileLock lock(FileChannel channel) throws IOException {
        while (true) {
            try {
                return channel.lock();
            } catch (OverlappingFileLockException e) {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while waiting for another job's precision measurement", interrupted);
                }
            }
        }
    }

    private static String cachedChoice(Path cacheFile) throws IOException {
        return new ObjectMapper().readTree(cacheFile.toFile()).get("choice").asText();
    }

    /** The cached rates, or null when the file is missing, unreadable or chose a precision not among {@code models}. */
    private static Map<String, Double> readRates(Path cacheFile, Map<String, Path> models) {
        try {
            JsonNode cached = new ObjectMapper().readTree(cacheFile.toFile());
            JsonNode rates = cached.get("images_per_s");
            if (!cached.hasNonNull("choice") || !models.containsKey(cached.get("choice").asText()) || rates == null
                    || !rates.isObject()) {
                return null;
            }
            Map<String, Double> result = new LinkedHashMap<>();
            rates.properties().forEach(entry -> result.put(entry.getKey(), entry.getValue().asDouble()));
            return result;
        } catch (IOException e) {
            return null;
        }
    }

    private static void writeChoice(
            Path cacheFile, String choice, Map<String, Double> rates, Cpu cpu, String device, Map<String, Path> models)
            throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode document = mapper.createObjectNode();
        document.put("choice", choice);
        ObjectNode measured = document.putObject("images_per_s");
        rates.forEach(measured::put);
        document.put("cpu", cpu.model);
        cpu.flags.forEach(document.putArray("flags")::add);
        cpu.capabilities.stream().sorted().forEach(document.putArray("capabilities")::add);
        document.put("device", device.toUpperCase(Locale.ROOT));
        ObjectNode files = document.putObject("models");
        models.forEach((precision, path) -> files.put(precision, path.toString()));
        document.put("measured_by", "openvino model provider (Java)");
        document.put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        Path part = Files.createTempFile(cacheFile.getParent(), "." + cacheFile.getFileName(), ".part");
        try {
            Files.write(part, mapper.writerWithDefaultPrettyPrinter().writeValueAsBytes(document));
            Files.move(part, cacheFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(part);
        }
    }

    private static String ratesText(Map<String, Double> rates) {
        return "measured images/s " + rates.entrySet().stream()
                .sorted(Map.Entry.<String, Double>comparingByValue(Comparator.reverseOrder()))
                .map(entry -> String.format(Locale.ROOT, "%s %.1f", entry.getKey(), entry.getValue()))
                .collect(Collectors.joining(", "));
    }

    /** Images/s of each candidate on grey crops: two interleaved rounds, the better one counts. */
    static Map<String, Double> measure(Map<String, Path> models, BiFunction<String, Path, ModelSpec> specOf) {
        Map<String, ClassificationModel> compiled = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Path> model : models.entrySet()) {
                compiled.put(model.getKey(), ClassificationModel.acquire(specOf.apply(model.getKey(), model.getValue())));
            }
            Map<String, Double> rates = new LinkedHashMap<>();
            for (int round = 0; round < 2; round++) {
                compiled.forEach((precision, model) -> rates.merge(precision, imagesPerSecond(model), Math::max));
            }
            return rates;
        } finally {
            compiled.values().forEach(ClassificationModel::release);
        }
    }

    private static double imagesPerSecond(ClassificationModel model) {
        int side = model.cropSize();
        byte[] grey = new byte[side * side * 3];
        Arrays.fill(grey, (byte) 128);
        List<InferRequest> requests = new ArrayList<>();
        try {
            for (int i = 0; i < model.optimalInferRequests(); i++) {
                InferRequest request = model.newRequest();
                requests.add(request);
                for (int slot = 0; slot < request.batchSize(); slot++) {
                    request.putImage(slot, grey);
                }
            }
            long perRound = (long) requests.size() * model.batchSize();
            runAll(requests); // every request runs once before timing
            long images = 0;
            long started = System.nanoTime();
            long elapsed;
            while ((elapsed = System.nanoTime() - started) < MEASURE_NANOS || images < 2 * perRound) {
                runAll(requests);
                images += perRound;
            }
            return images / (elapsed / 1e9);
        } finally {
            requests.forEach(InferRequest::close);
        }
    }

    private static void runAll(List<InferRequest> requests) {
        requests.forEach(InferRequest::start);
        requests.forEach(InferRequest::await);
    }
}
