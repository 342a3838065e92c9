package dev.flinkimageudfs.index;

import dev.flinkimageudfs.model.openvino.VectorSearchModel;

import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.utils.JoinedRowData;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The searchable copy of one index folder in a TaskManager, shared by every search function of a
 * job that asks for the same settings (reference-counted). Two threads:
 *
 * <ul>
 *   <li>the refresher loads committed segment files it has not seen (at start, then every
 *       'search.refresh-interval'), compiles them into {@link Block}s, merges small blocks
 *       ({@link BlockPlanner}) and hands the new block list to the searcher;
 *   <li>the searcher takes the queries queued while it was busy (up to 'search.max-batch-size'),
 *       scans every block with the whole batch (one OpenVINO inference per block), rescores each
 *       query's candidates in f32 from the segment files, and completes the queries' futures.
 * </ul>
 *
 * Only the searcher touches compiled blocks after they are published: it installs each new block
 * list between batches and frees the blocks it replaced, so no search ever runs on a freed model.
 */
final class SearchIndex {

    private static final Logger LOG = LoggerFactory.getLogger(SearchIndex.class);
    private static final Map<IndexSearchSettings, SearchIndex> SHARED = new HashMap<>();
    private static final Object STOP = new Object();

    /** One query: a unit-length vector, how many rows it wants, and where the rows go. */
    private static final class Query {
        final float[] vector;
        final int k;
        final CompletableFuture<Collection<RowData>> result = new CompletableFuture<>();

        Query(float[] vector, int k) {
            this.vector = vector;
            this.k = k;
        }
    }

    /** A new block list from the refresher, and the blocks it replaces. */
    private static final class Swap {
        final List<Block> blocks;
        final List<Block> retired;

        Swap(List<Block> blocks, List<Block> retired) {
            this.blocks = blocks;
            this.retired = retired;
        }
    }

    private static final class Failure {
        final Throwable cause;

        Failure(Throwable cause) {
            this.cause = cause;
        }
    }

    private final IndexSearchSettings settings;
    private final RowCodec codec;
    private final BlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    private int users;

    // the refresher's state
    private final Set<Path> known = new HashSet<>();
    private List<Block> blocks = new ArrayList<>();
    private ScheduledExecutorService refresher;

    // the searcher's state
    private Thread searcher;
    private List<Block> serving = List.of();
    private Throwable failure;

    private volatile long vectors;
    private volatile int blockCount;
    private volatile long lastBatchSize;

    private SearchIndex(IndexSearchSettings settings) {
        this.settings = settings;
        this.codec = new RowCodec(settings.schema);
    }

    /** The shared index for {@code settings}, loading the committed segments on first use. */
    static SearchIndex acquire(IndexSearchSettings settings) throws IOException {
        synchronized (SHARED) {
            SearchIndex index = SHARED.get(settings);
            if (index == null) {
                index = new SearchIndex(settings);
                index.start();
                SHARED.put(settings, index);
            }
            index.users++;
            return index;
        }
    }

    /** Gives the index back; the last user stops its threads and frees its blocks. */
    void release() {
        synchronized (SHARED) {
            if (--users == 0) {
                SHARED.remove(settings);
                stop();
            }
        }
    }

    long vectors() {
        return vectors;
    }

    int blocks() {
        return blockCount;
    }

    long lastBatchSize() {
        return lastBatchSize;
    }

    /** The best {@code k} stored rows for a unit-length query vector, each followed by its score. */
    CompletableFuture<Collection<RowData>> search(float[] vector, int k) {
        Query query = new Query(vector, k);
        inbox.add(query);
        return query.result;
    }

    private void start() throws IOException {
        refresh(); // the committed segments are searchable before the first query
        searcher = new Thread(this::serve, "image-index-search " + settings.path);
        searcher.setDaemon(true);
        searcher.start();
        if (settings.refreshIntervalMillis > 0) {
            refresher = Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread thread = new Thread(runnable, "image-index-refresh " + settings.path);
                thread.setDaemon(true);
                return thread;
            });
            refresher.scheduleWithFixedDelay(this::refreshOrReport, settings.refreshIntervalMillis,
                    settings.refreshIntervalMillis, TimeUnit.MILLISECONDS);
        }
    }

    private void stop() {
        if (refresher != null) {
            refresher.shutdownNow();
            try {
                if (!refresher.awaitTermination(5, TimeUnit.MINUTES)) {
                    LOG.warn("image-index {}: the refresher did not stop", settings);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        inbox.add(STOP); // after every swap the refresher published
        try {
            searcher.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // --- the refresher ---------------------------------------------------------------------------

    private void refreshOrReport() {
        try {
            refresh();
        } catch (Throwable e) {
            if (Thread.currentThread().isInterrupted()) {
                return; // stopping
            }
            LOG.error("image-index {}: refreshing failed", settings, e);
            inbox.add(new Failure(e));
        }
    }

    private void refresh() throws IOException {
        List<Segment> added = new ArrayList<>();
        for (Path file : SegmentFormat.committed(settings.folder())) {
            if (!known.contains(file)) {
                added.add(Segment.load(file, settings.schema));
            }
        }
        if (added.isEmpty()) {
            return;
        }
        long started = System.nanoTime();
        List<Block> next = new ArrayList<>(blocks);
        List<Block> retired = new ArrayList<>();
        Set<Block> unpublished = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        try {
            for (List<Segment> group : BlockPlanner.group(added, settings.blockSize)) {
                Block block = Block.compile(group, settings);
                unpublished.add(block);
                next.add(block);
            }
            for (List<Integer> merge = BlockPlanner.nextMerge(next, settings.blockSize); !merge.isEmpty();
                    merge = BlockPlanner.nextMerge(next, settings.blockSize)) {
                List<Segment> segments = new ArrayList<>();
                merge.forEach(position -> segments.addAll(next.get(position).segments));
                Block merged = Block.compile(segments, settings);
                unpublished.add(merged);
                for (int i = merge.size() - 1; i >= 0; i--) {
                    Block old = next.remove((int) merge.get(i));
                    if (unpublished.remove(old)) {
                        old.close();
                    } else {
                        retired.add(old);
                    }
                }
                next.add(merge.get(0), merged);
            }
        } catch (IOException | RuntimeException e) {
            unpublished.forEach(Block::close);
            throw e;
        }
        added.forEach(segment -> known.add(segment.file));
        blocks = next;
        long total = next.stream().mapToLong(block -> block.rows).sum();
        LOG.info("image-index {}: {} new segments ({} vectors) in {} ms; {} vectors in {} blocks",
                settings, added.size(), added.stream().mapToLong(segment -> segment.rows).sum(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started), total, next.size());
        inbox.add(new Swap(List.copyOf(next), retired));
    }

    // --- the searcher --------------------------------------------------------------------------

    private void serve() {
        List<Query> batch = new ArrayList<>();
        boolean stopping = false;
        while (!stopping) {
            Object item;
            try {
                item = inbox.take();
            } catch (InterruptedException e) {
                continue; // only STOP ends the searcher: blocks must be freed here
            }
            do {
                if (item == STOP) {
                    stopping = true;
                } else if (item instanceof Swap) {
                    install((Swap) item);
                } else if (item instanceof Failure) {
                    failure = ((Failure) item).cause;
                } else {
                    batch.add((Query) item);
                }
            } while (batch.size() < settings.maxBatchSize && (item = inbox.poll()) != null);
            if (!batch.isEmpty()) {
                run(batch);
                batch.clear();
            }
        }
        serving.forEach(Block::close);
        serving = List.of();
    }

    private void install(Swap swap) {
        serving = swap.blocks;
        swap.retired.forEach(Block::close);
        vectors = serving.stream().mapToLong(block -> block.rows).sum();
        blockCount = serving.size();
    }

    private void run(List<Query> batch) {
        lastBatchSize = batch.size();
        if (failure != null) {
            Throwable cause = failure;
            batch.forEach(query -> query.result.completeExceptionally(
                    new IOException("image-index " + settings + ": the index could not be refreshed", cause)));
            return;
        }
        try {
            int dimension = settings.schema.dimension;
            float[] data = new float[batch.size() * dimension];
            int widest = 0;
            for (int i = 0; i < batch.size(); i++) {
                System.arraycopy(batch.get(i).vector, 0, data, i * dimension, dimension);
                widest = Math.max(widest, settings.candidates(batch.get(i).k));
            }
            List<List<Candidate>> candidates = new ArrayList<>();
            batch.forEach(query -> candidates.add(new ArrayList<>()));
            for (Block block : serving) {
                VectorSearchModel.Hits hits = block.model.search(data, batch.size(), widest);
                for (int i = 0; i < batch.size(); i++) {
                    int wanted = Math.min(settings.candidates(batch.get(i).k), hits.k);
                    for (int rank = 0; rank < wanted; rank++) {
                        candidates.get(i).add(new Candidate(block, hits.row(i, rank)));
                    }
                }
            }
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).result.complete(rank(batch.get(i), candidates.get(i)));
            }
        } catch (Throwable e) {
            LOG.error("image-index {}: search failed", settings, e);
            batch.forEach(query -> query.result.completeExceptionally(e));
        }
    }

    /** A stored vector the approximate scan found for a query; scored exactly by {@link #rank}. */
    private static final class Candidate {
        final Segment segment;
        final int record;
        float[] vector;
        double score;

        Candidate(Block block, int row) {
            int index = block.segmentIndex(row);
            this.segment = block.segments.get(index);
            this.record = block.record(row, index);
        }
    }

    /** The query's best k candidates by their exact cosine, as rows of the table plus the score. */
    private Collection<RowData> rank(Query query, List<Candidate> candidates) throws IOException {
        Map<Segment, List<Candidate>> bySegment = new IdentityHashMap<>();
        candidates.forEach(candidate -> bySegment.computeIfAbsent(candidate.segment, s -> new ArrayList<>()).add(candidate));
        for (Map.Entry<Segment, List<Candidate>> entry : bySegment.entrySet()) {
            List<Candidate> group = entry.getValue();
            float[][] vectors = entry.getKey().vectors(group.stream().mapToInt(candidate -> candidate.record).toArray());
            for (int i = 0; i < group.size(); i++) {
                group.get(i).vector = vectors[i];
                group.get(i).score = Vectors.dot(query.vector, vectors[i]);
            }
        }
        candidates.sort((a, b) -> Double.compare(b.score, a.score));
        List<RowData> rows = new ArrayList<>(Math.min(query.k, candidates.size()));
        for (Candidate candidate : candidates.subList(0, Math.min(query.k, candidates.size()))) {
            GenericRowData stored = candidate.segment.row(candidate.record, codec, candidate.vector);
            rows.add(new JoinedRowData(stored, GenericRowData.of(candidate.score)));
        }
        return rows;
    }
}
