package dev.flinkimageudfs.format;

import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.util.CheckpointedPosition;
import org.apache.flink.core.fs.Path;

import javax.annotation.Nullable;

import java.util.Arrays;

/**
 * A split of several whole files under one root folder, read one after the other.
 *
 * <p>Flink's file source makes one split per file for formats that cannot split files, and every
 * split costs a request to the enumerator, a reader and a fetcher set-up; for small images that
 * overhead exceeds the read. A batch split carries many files, compactly (paths relative to the
 * root, sizes and modification times as listed), so the per-split cost is paid once per batch.
 *
 * <p>As a {@link FileSourceSplit} it describes its first file ({@link #path()}) and the batch's
 * total size ({@link #length()}); the reader position's offset is the index of the next file.
 */
public final class FileBatchSplit extends FileSourceSplit {

    private static final long serialVersionUID = 1L;

    private static final String[] NO_HOSTS = new String[0];

    private final Path root;
    private final String[] relativePaths;
    private final long[] sizes;
    private final long[] modificationTimes;

    public FileBatchSplit(
            String id,
            Path root,
            String[] relativePaths,
            long[] sizes,
            long[] modificationTimes,
            @Nullable CheckpointedPosition readerPosition) {
        super(
                id,
                new Path(root, relativePaths[0]),
                0,
                Arrays.stream(sizes).sum(),
                modificationTimes[0],
                Arrays.stream(sizes).sum(),
                NO_HOSTS,
                readerPosition);
        if (relativePaths.length != sizes.length || sizes.length != modificationTimes.length) {
            throw new IllegalArgumentException("one path, size and modification time per file");
        }
        this.root = root;
        this.relativePaths = relativePaths;
        this.sizes = sizes;
        this.modificationTimes = modificationTimes;
    }

    public int fileCount() {
        return relativePaths.length;
    }

    public Path root() {
        return root;
    }

    public String relativePath(int file) {
        return relativePaths[file];
    }

    public Path filePath(int file) {
        return new Path(root, relativePaths[file]);
    }

    public long fileSize(int file) {
        return sizes[file];
    }

    public long modificationTime(int file) {
        return modificationTimes[file];
    }

    @Override
    public FileBatchSplit updateWithCheckpointedPosition(@Nullable CheckpointedPosition position) {
        return new FileBatchSplit(
                splitId(), root, relativePaths, sizes, modificationTimes, position);
    }

    @Override
    public String toString() {
        return String.format(
                "FileBatchSplit{id=%s, root=%s, %d files (%s .. %s), %d bytes, position=%s}",
                splitId(),
                root,
                relativePaths.length,
                relativePaths[0],
                relativePaths[relativePaths.length - 1],
                length(),
                getReaderPosition().orElse(null));
    }
}
