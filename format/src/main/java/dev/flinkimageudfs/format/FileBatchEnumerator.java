package dev.flinkimageudfs.format;

import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.enumerate.FileEnumerator;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Lists the files under the source's paths once and packs them into {@link FileBatchSplit}s: the
 * enumeration of a bounded {@link WholeFileSource}.
 */
final class FileBatchEnumerator implements FileEnumerator {

    private final int maxFilesPerSplit;
    private final ListingPolicy policy;
    private final ListedFiles.Skips skips;
    private final SplitIds splitIds = new SplitIds();

    FileBatchEnumerator(int maxFilesPerSplit, ListingPolicy policy, ListedFiles.Skips skips) {
        this.maxFilesPerSplit = maxFilesPerSplit;
        this.policy = policy;
        this.skips = skips;
    }

    @Override
    public Collection<FileSourceSplit> enumerateSplits(Path[] paths, int minDesiredSplits)
            throws IOException {
        List<FileSourceSplit> splits = new ArrayList<>();
        for (Path path : paths) {
            splits.addAll(
                    ListedFiles.list(path, false, policy, skips)
                            .toSplits(minDesiredSplits, maxFilesPerSplit, splitIds));
        }
        return splits;
    }
}
