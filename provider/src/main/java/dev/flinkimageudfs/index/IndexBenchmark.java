package dev.flinkimageudfs.index;

import dev.flinkimageudfs.index.ImageIndexOptions.Precision;
import dev.flinkimageudfs.model.openvino.VectorSearchModel;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.RowData;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;

/**
 * The search side of the index measured in one JVM, as a VECTOR_SEARCH task runs it (the shared
 * {@link SearchIndex}: its loading, batching, OpenVINO scan and f32 rescoring), without Flink's
 * operator around it. {@code bench/index.py} runs it and prints the table:
 *
 * <pre>
 *   java -cp flink-openvino-model.jar:&lt;Flink jars&gt; dev.flinkimageudfs.index.IndexBenchmark \
 *       &lt;index folder&gt; &lt;dimension&gt; &lt;precision&gt; &lt;queries.f32&gt; &lt;k&gt; &lt;seconds&gt; &lt;concurrency&gt;...
 * </pre>
 *
 * Queries are little-endian float32 rows. Prints one JSON object per line: the load (time, RSS and
 * heap growth), then for each concurrency (queries kept in flight, like VECTOR_SEARCH's
 * 'max-concurrent-operations') queries per second and latency percentiles, then the best rows
 * (stored 'path' values) of every query at the first concurrency.
 */
public final class IndexBenchmark {

    private IndexBenchmark() {}

    public static void main(String[] args) throws Exception {
        String folder = args[0];
        int dimension = Integer.parseInt(args[1]);
        Precision precision = Precision.valueOf(args[2].toUpperCase(Locale.ROOT));
        float[][] queries = readQueries(args[3], dimension);
        int k = Integer.parseInt(args[4]);
        double seconds = Double.parseDouble(args[5]);
        int[] concurrencies = Arrays.stream(args, 6, args.length).mapToInt(Integer::parseInt).toArray();

        ResolvedSchema columns = ResolvedSchema.of(
                Column.physical("path", DataTypes.STRING()),
                Column.physical("embedding", DataTypes.ARRAY(DataTypes.FLOAT())));
        IndexSchema schema = IndexSchema.of("bench", columns, null, dimension);
        IndexSearchSettings settings = new IndexSearchSettings(schema, folder, precision, 0,
                ImageIndexOptions.SEARCH_MAX_BATCH_SIZE.defaultValue(), ImageIndexOptions.SEARCH_BLOCK_SIZE.defaultValue(), "");

        // OpenVINO's libraries and CPU plugin loaded first: the growth measured below is the index's
        VectorSearchModel.Builder warmUp = VectorSearchModel.builder("", dimension, 1, settings.storage());
        warmUp.add(queries[0]);
        warmUp.compile("CPU").close();
        settle();
        long rssBefore = rssBytes();
        long heapBefore = heapBytes();
        long started = System.nanoTime();
        SearchIndex index = SearchIndex.acquire(settings);
        try {
            double loadSeconds = (System.nanoTime() - started) / 1e9;
            settle();
            System.out.printf(Locale.ROOT,
                    "{\"event\": \"load\", \"vectors\": %d, \"blocks\": %d, \"seconds\": %.2f, \"rss_bytes\": %d, \"heap_bytes\": %d}%n",
                    index.vectors(), index.blocks(), loadSeconds, rssBytes() - rssBefore, heapBytes() - heapBefore);
            for (int i = 0; i < concurrencies.length; i++) {
                List<Collection<RowData>> results = run(index, queries, k, concurrencies[i], seconds, i == 0);
                if (i == 0) {
                    printResults(results);
                }
            }
        } finally {
            index.release();
        }
    }

    /** Keeps {@code concurrency} queries in flight for {@code seconds} (after a warm-up) and prints the rates. */
    private static List<Collection<RowData>> run(SearchIndex index, float[][] queries, int k, int concurrency,
                                                 double seconds, boolean keepResults) throws Exception {
        Semaphore inFlight = new Semaphore(concurrency);
        List<Collection<RowData>> results = new ArrayList<>();
        for (float[] query : queries) { // warm-up, and every query's rows once
            results.add(index.search(query, k).get());
            if (!keepResults && results.size() >= 16) {
                break;
            }
        }
        long[] latencies = new long[1 << 20];
        int[] count = {0};
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        long started = System.nanoTime();
        int submitted = 0;
        while (System.nanoTime() < deadline || submitted < 2 * concurrency) {
            inFlight.acquire();
            long sent = System.nanoTime();
            CompletableFuture<Collection<RowData>> result = index.search(queries[submitted % queries.length], k);
            submitted++;
            result.whenComplete((rows, error) -> {
                synchronized (latencies) {
                    if (count[0] < latencies.length) {
                        latencies[count[0]++] = System.nanoTime() - sent;
                    }
                }
                inFlight.release();
            });
        }
        inFlight.acquire(concurrency);
        double elapsed = (System.nanoTime() - started) / 1e9;
        long[] sorted = Arrays.copyOf(latencies, count[0]);
        Arrays.sort(sorted);
        System.out.printf(Locale.ROOT,
                "{\"event\": \"search\", \"concurrency\": %d, \"queries\": %d, \"seconds\": %.2f, \"qps\": %.1f, "
                        + "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, \"last_batch\": %d}%n",
                concurrency, submitted, elapsed, submitted / elapsed, percentile(sorted, 0.5), percentile(sorted, 0.99),
                sorted.length == 0 ? 0 : sorted[sorted.length - 1] / 1e6, index.lastBatchSize());
        return results;
    }

    private static double percentile(long[] sorted, double q) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))] / 1e6;
    }

    private static void printResults(List<Collection<RowData>> results) {
        StringBuilder text = new StringBuilder("{\"event\": \"results\", \"paths\": [");
        for (int i = 0; i < results.size(); i++) {
            text.append(i == 0 ? "[" : ", [");
            int j = 0;
            for (RowData row : results.get(i)) {
                text.append(j++ == 0 ? "" : ", ").append('"').append(row.getString(0)).append('"');
            }
            text.append(']');
        }
        System.out.println(text.append("]}"));
    }

    private static float[][] readQueries(String file, int dimension) throws IOException {
        ByteBuffer data = ByteBuffer.wrap(Files.readAllBytes(Paths.get(file))).order(ByteOrder.LITTLE_ENDIAN);
        float[][] queries = new float[data.remaining() / (4 * dimension)][dimension];
        for (float[] query : queries) {
            data.asFloatBuffer().get(query);
            data.position(data.position() + 4 * dimension);
            double norm = 0;
            for (float value : query) {
                norm += value * value;
            }
            for (int i = 0; i < dimension; i++) {
                query[i] /= (float) Math.sqrt(norm);
            }
        }
        return queries;
    }

    private static void settle() throws InterruptedException {
        System.gc();
        Thread.sleep(500);
    }

    private static long heapBytes() {
        Runtime runtime = Runtime.getRuntime();
        return runtime.totalMemory() - runtime.freeMemory();
    }

    /** Resident memory of this JVM (VmRSS), from /proc. */
    private static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }
}
