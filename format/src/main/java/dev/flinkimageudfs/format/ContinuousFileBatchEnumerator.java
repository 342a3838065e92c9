package dev.flinkimageudfs.format;

import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.connector.file.src.PendingSplitsCheckpoint;
import org.apache.flink.core.fs.Path;
import org.apache.flink.metrics.Gauge;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The enumerator of a {@link WholeFileSource} that monitors its folders: every discovery interval
 * it lists them, keeps the files it has not seen before and packs those into {@link
 * FileBatchSplit}s.
 *
 * <p>Like Flink's {@code ContinuousFileSplitEnumerator}, it remembers every file path it has
 * handed out (in its checkpoint too), so a file is read once even across failures; unlike it, it
 * de-duplicates files rather than splits, since one split holds many files.
 */
final class ContinuousFileBatchEnumerator
        implements SplitEnumerator<FileBatchSplit, PendingSplitsCheckpoint<FileBatchSplit>> {

    private static final Logger LOG = LoggerFactory.getLogger(ContinuousFileBatchEnumerator.class);

    private final SplitEnumeratorContext<FileBatchSplit> context;
    private final Path[] roots;
    private final int maxFilesPerSplit;
    private final long discoveryIntervalMillis;
    private final Set<Path> filesSeen;
    private final ArrayDeque<FileBatchSplit> pendingSplits;
    private final Set<Integer> readersAwaitingSplit = new LinkedHashSet<>();
    private final SplitIds splitIds = new SplitIds();
    private final ListingPolicy policy;
    private final SkippedEntries skipped;
    private volatile long filesFound; // filesSeen.size(), for the metric reporter's thread

    ContinuousFileBatchEnumerator(
            SplitEnumeratorContext<FileBatchSplit> context,
            Path[] roots,
            int maxFilesPerSplit,
            long discoveryIntervalMillis,
            ListingPolicy policy,
            Collection<FileBatchSplit> pendingSplits,
            Collection<Path> filesSeen) {
        this.context = context;
        this.policy = policy;
        this.skipped = new SkippedEntries(context.metricGroup().counter(SkippedEntries.METRIC));
        this.roots = roots;
        this.maxFilesPerSplit = maxFilesPerSplit;
        this.discoveryIntervalMillis = discoveryIntervalMillis;
        this.pendingSplits = new ArrayDeque<>(pendingSplits);
        this.filesSeen = new HashSet<>(filesSeen);
        this.filesFound = this.filesSeen.size();
        Gauge<Long> found = () -> filesFound;
        context.metricGroup().gauge(WholeFileSource.FILES_FOUND_METRIC, found);
    }

    @Override
    public void start() {
        context.callAsync(this::listRoots, this::addNewFiles, 0, discoveryIntervalMillis);
    }

    /**
     * Runs in the coordinator's worker thread. Entries that cannot be listed are skipped (see
     * {@link ListedFiles}); only a root that cannot be listed fails this round.
     */
    private List<ListedFiles> listRoots() throws Exception {
        List<ListedFiles> listings = new ArrayList<>(roots.length);
        List<String[]> skips = new ArrayList<>();
        try {
            for (Path root : roots) {
                listings.add(ListedFiles.list(root, true, policy, (path, reason) -> skips.add(new String[] {path, reason})));
            }
        } finally {
            context.runInCoordinatorThread(() -> skips.forEach(skip -> skipped.skipped(skip[0], skip[1])));
        }
        return listings;
    }

    /** Runs in the coordinator thread, like every other method here. */
    private void addNewFiles(@Nullable List<ListedFiles> listings, @Nullable Throwable error) {
        if (error != null) {
            LOG.error(
                    "Failed to list {}; trying again in {} ms",
                    Arrays.toString(roots),
                    discoveryIntervalMillis,
                    error);
            return;
        }
        for (ListedFiles listing : listings) {
            pendingSplits.addAll(
                    listing.filter(filesSeen::add)
                            .toSplits(context.currentParallelism(), maxFilesPerSplit, splitIds));
        }
        filesFound = filesSeen.size();
        assignSplits();
    }

    @Override
    public void handleSplitRequest(int subtaskId, @Nullable String requesterHostname) {
        readersAwaitingSplit.add(subtaskId);
        assignSplits();
    }

    private void assignSplits() {
        Iterator<Integer> awaiting = readersAwaitingSplit.iterator();
        while (awaiting.hasNext() && !pendingSplits.isEmpty()) {
            int subtask = awaiting.next();
            awaiting.remove();
            if (context.registeredReaders().containsKey(subtask)) { // not failed meanwhile
                context.assignSplit(pendingSplits.poll(), subtask);
            }
        }
    }

    @Override
    public void addSplitsBack(List<FileBatchSplit> splits, int subtaskId) {
        pendingSplits.addAll(splits);
    }

    @Override
    public void addReader(int subtaskId) {
        // readers ask for splits
    }

    @Override
    public PendingSplitsCheckpoint<FileBatchSplit> snapshotState(long checkpointId) {
        return PendingSplitsCheckpoint.fromCollectionSnapshot(pendingSplits, filesSeen);
    }

    @Override
    public void close() {}
}
