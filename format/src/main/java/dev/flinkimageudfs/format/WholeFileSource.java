package dev.flinkimageudfs.format;

import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.connector.file.src.AbstractFileSource;
import org.apache.flink.connector.file.src.ContinuousEnumerationSettings;
import org.apache.flink.connector.file.src.PendingSplitsCheckpoint;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.assigners.SimpleSplitAssigner;
import org.apache.flink.connector.file.src.impl.StaticFileSplitEnumerator;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.util.FlinkRuntimeException;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.table.data.RowData;

import javax.annotation.Nullable;

import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;

/**
 * Flink's file source with {@link FileBatchSplit}s: many whole files per split.
 *
 * <p>Reading (Flink's {@code FileSourceReader} with a {@link FileBatchFormat}), checkpointed reader
 * positions and the bounded enumerator ({@code StaticFileSplitEnumerator}) are Flink's; the
 * enumeration is {@link FileBatchEnumerator} once, or {@link ContinuousFileBatchEnumerator} every
 * {@code monitorInterval}.
 */
final class WholeFileSource extends AbstractFileSource<RowData, FileBatchSplit> {

    private static final long serialVersionUID = 1L;

    /**
     * Enumerator metric: files found so far under the roots (all of them for a bounded source),
     * each counted once. With the readers' {@code numRecordsOut} it tells how far a job is; served
     * by the REST API under {@code /jobs/<job>/vertices/<vertex>/jm-operator-metrics}.
     */
    static final String FILES_FOUND_METRIC = "filesFound";

    private final Path[] roots;
    private final int maxFilesPerSplit;
    private final ListingPolicy policy;
    @Nullable private final Duration monitorInterval;

    WholeFileSource(
            Path[] roots,
            FileBatchFormat format,
            int maxFilesPerSplit,
            ListingPolicy policy,
            @Nullable Duration monitorInterval) {
        super(
                roots,
                () -> new FileBatchEnumerator(maxFilesPerSplit, policy, new SkippedEntries(new SimpleCounter())),
                SimpleSplitAssigner::new,
                format,
                monitorInterval == null ? null : new ContinuousEnumerationSettings(monitorInterval));
        this.roots = roots;
        this.maxFilesPerSplit = maxFilesPerSplit;
        this.policy = policy;
        this.monitorInterval = monitorInterval;
    }

    /** Flink's static enumerator over one listing, as the base class makes, with the skips counted. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private SplitEnumerator<FileBatchSplit, PendingSplitsCheckpoint<FileBatchSplit>> staticEnumerator(
            SplitEnumeratorContext<FileBatchSplit> context) {
        SkippedEntries skipped = new SkippedEntries(context.metricGroup().counter(SkippedEntries.METRIC));
        Collection<FileSourceSplit> splits;
        try {
            splits = new FileBatchEnumerator(maxFilesPerSplit, policy, skipped).enumerateSplits(roots, 1);
        } catch (IOException e) {
            throw new FlinkRuntimeException("Could not enumerate file splits", e);
        }
        long files = splits.stream().mapToLong(split -> ((FileBatchSplit) split).fileCount()).sum();
        Gauge<Long> filesFound = () -> files;
        context.metricGroup().gauge(FILES_FOUND_METRIC, filesFound);
        return (SplitEnumerator) new StaticFileSplitEnumerator((SplitEnumeratorContext) context, new SimpleSplitAssigner(splits));
    }

    @Override
    public SimpleVersionedSerializer<FileBatchSplit> getSplitSerializer() {
        return FileBatchSplitSerializer.INSTANCE;
    }

    @Override
    public SplitEnumerator<FileBatchSplit, PendingSplitsCheckpoint<FileBatchSplit>>
            createEnumerator(SplitEnumeratorContext<FileBatchSplit> context) {
        if (getBoundedness() == Boundedness.BOUNDED) {
            return staticEnumerator(context);
        }
        return new ContinuousFileBatchEnumerator(
                context,
                roots,
                maxFilesPerSplit,
                monitorInterval.toMillis(),
                policy,
                Collections.emptyList(),
                Collections.emptyList());
    }

    @Override
    public SplitEnumerator<FileBatchSplit, PendingSplitsCheckpoint<FileBatchSplit>>
            restoreEnumerator(
                    SplitEnumeratorContext<FileBatchSplit> context,
                    PendingSplitsCheckpoint<FileBatchSplit> checkpoint) {
        if (getBoundedness() == Boundedness.BOUNDED) {
            return super.restoreEnumerator(context, checkpoint);
        }
        return new ContinuousFileBatchEnumerator(
                context,
                roots,
                maxFilesPerSplit,
                monitorInterval.toMillis(),
                policy,
                checkpoint.getSplits(),
                checkpoint.getAlreadyProcessedPaths());
    }
}
