package dev.flinkimageudfs.format;

import org.apache.flink.connector.file.src.enumerate.DefaultFileFilter;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The files under one root folder, in listing order, kept compactly (relative path, size and
 * modification time) and packed into {@link FileBatchSplit}s.
 *
 * <p>Listing goes through Flink's {@link FileSystem}, recursively, and skips hidden files and
 * folders (names starting with '.' or '_') as Flink's file source does, so a file written under a
 * hidden name and renamed when complete is read once, complete.
 */
final class ListedFiles {

    /** Splits per reader a listing is spread over, so that a reader finishing early finds work. */
    private static final int SPLITS_PER_READER = 4;

    private static final Predicate<Path> NOT_HIDDEN = new DefaultFileFilter();

    private final Path root;
    private final List<Path> paths; // null unless kept for de-duplication
    private final List<String> relativePaths = new ArrayList<>();
    private long[] sizes = new long[16];
    private long[] modificationTimes = new long[16];

    private ListedFiles(Path root, boolean keepPaths) {
        this.root = root;
        this.paths = keepPaths ? new ArrayList<>() : null;
    }

    /**
     * Lists the files under {@code root}, which may also be a single file. Fails if it does not
     * exist. With {@code keepPaths}, each file's full {@link Path} is kept too (see {@link
     * #path(int)}); otherwise only the compact form.
     */
    static ListedFiles list(Path root, boolean keepPaths) throws IOException {
        FileSystem fs = root.getFileSystem();
        FileStatus status = fs.getFileStatus(root);
        if (!status.isDir()) {
            ListedFiles single = new ListedFiles(root.getParent(), keepPaths);
            single.add(status, root.getName());
            return single;
        }
        ListedFiles files = new ListedFiles(root, keepPaths);
        files.addFolder(fs, root, "");
        return files;
    }

    private void addFolder(FileSystem fs, Path folder, String prefix) throws IOException {
        FileStatus[] statuses = fs.listStatus(folder);
        if (statuses == null) {
            return; // deleted while being listed
        }
        for (FileStatus status : statuses) {
            Path path = status.getPath();
            if (!NOT_HIDDEN.test(path)) {
                continue;
            }
            String relativePath = prefix + path.getName();
            if (status.isDir()) {
                addFolder(fs, path, relativePath + "/");
            } else {
                add(status, relativePath);
            }
        }
    }

    private void add(FileStatus status, String relativePath) {
        add(status.getPath(), relativePath, status.getLen(), status.getModificationTime());
    }

    private void add(Path path, String relativePath, long size, long modificationTime) {
        int index = relativePaths.size();
        if (index == sizes.length) {
            sizes = Arrays.copyOf(sizes, 2 * index);
            modificationTimes = Arrays.copyOf(modificationTimes, 2 * index);
        }
        relativePaths.add(relativePath);
        sizes[index] = size;
        modificationTimes[index] = modificationTime;
        if (paths != null) {
            paths.add(path);
        }
    }

    int count() {
        return relativePaths.size();
    }

    /** The full path of a file; only for listings made with {@code keepPaths}. */
    Path path(int file) {
        return paths.get(file);
    }

    /** The files {@code keep} accepts (given their full path), without their full paths. */
    ListedFiles filter(Predicate<Path> keep) {
        ListedFiles kept = new ListedFiles(root, false);
        for (int i = 0; i < count(); i++) {
            if (keep.test(path(i))) {
                kept.add(null, relativePaths.get(i), sizes[i], modificationTimes[i]);
            }
        }
        return kept;
    }

    /**
     * Packs the files into splits of consecutive files: about {@link #SPLITS_PER_READER} splits
     * per reader, at most {@code maxFilesPerSplit} files each.
     */
    List<FileBatchSplit> toSplits(int readers, int maxFilesPerSplit, Supplier<String> splitIds) {
        int count = count();
        long wanted = Math.max(1, (long) readers * SPLITS_PER_READER);
        int perSplit = (int) Math.max(1, Math.min(maxFilesPerSplit, (count + wanted - 1) / wanted));
        List<FileBatchSplit> splits = new ArrayList<>((count + perSplit - 1) / perSplit);
        for (int from = 0; from < count; from += perSplit) {
            int to = Math.min(count, from + perSplit);
            splits.add(
                    new FileBatchSplit(
                            splitIds.get(),
                            root,
                            relativePaths.subList(from, to).toArray(new String[0]),
                            Arrays.copyOfRange(sizes, from, to),
                            Arrays.copyOfRange(modificationTimes, from, to),
                            null));
        }
        return splits;
    }
}
