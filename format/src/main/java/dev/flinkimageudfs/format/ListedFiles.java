package dev.flinkimageudfs.format;

import org.apache.flink.connector.file.src.enumerate.DefaultFileFilter;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The files under one root folder, in listing order, kept compactly (relative path, size and
 * modification time) and packed into {@link FileBatchSplit}s.
 *
 * <p>Listing is recursive and skips hidden files and folders (names starting with '.' or '_') as
 * Flink's file source does, so a file written under a hidden name and renamed when complete is
 * read once, complete. On the local file system each directory entry is looked at on its own, so
 * one bad entry never stops the listing: a dangling symbolic link, a link loop, an entry deleted
 * while being listed, a FIFO, socket or device, a link to a folder (unless {@link
 * ListingPolicy#followDirectoryLinks}) and, with {@link ListingPolicy#confineToPath}, anything
 * that resolves outside the root are skipped and reported to the {@link Skips} given. Other file
 * systems are listed through Flink's {@link FileSystem}; a sub-folder that cannot be listed is
 * skipped the same way.
 */
final class ListedFiles {

    /** Splits per reader a listing is spread over, so that a reader finishing early finds work. */
    private static final int SPLITS_PER_READER = 4;

    private static final Predicate<Path> NOT_HIDDEN = new DefaultFileFilter();

    /** Receives each entry the listing leaves out, and why. */
    interface Skips {
        void skipped(String path, String reason);
    }

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
    static ListedFiles list(Path root, boolean keepPaths, ListingPolicy policy, Skips skips) throws IOException {
        FileSystem fs = root.getFileSystem();
        FileStatus status = fs.getFileStatus(root);
        if (!status.isDir()) {
            ListedFiles single = new ListedFiles(root.getParent(), keepPaths);
            single.add(status, root.getName());
            return single;
        }
        ListedFiles files = new ListedFiles(root, keepPaths);
        if (fs instanceof LocalFileSystem) {
            java.nio.file.Path folder = ((LocalFileSystem) fs).pathToFile(root).toPath();
            new LocalListing(files, root, policy, skips, folder.toRealPath()).addFolder(folder, "");
        } else {
            files.addFolder(fs, root, "", skips);
        }
        return files;
    }

    private void addFolder(FileSystem fs, Path folder, String prefix, Skips skips) {
        FileStatus[] statuses;
        try {
            statuses = fs.listStatus(folder);
        } catch (IOException e) {
            skips.skipped(folder.toString(), "cannot be listed: " + e);
            return;
        }
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
                addFolder(fs, path, relativePath + "/", skips);
            } else {
                add(status, relativePath);
            }
        }
    }

    /** A local folder tree, entry by entry, links and special files handled by the policy. */
    private static final class LocalListing {
        private final ListedFiles files;
        private final Path root;
        private final ListingPolicy policy;
        private final Skips skips;
        private final java.nio.file.Path realRoot;
        private final Set<Object> foldersSeen = new HashSet<>(); // a folder reached twice (links) is listed once

        LocalListing(ListedFiles files, Path root, ListingPolicy policy, Skips skips, java.nio.file.Path realRoot) {
            this.files = files;
            this.root = root;
            this.policy = policy;
            this.skips = skips;
            this.realRoot = realRoot;
        }

        void addFolder(java.nio.file.Path folder, String prefix) throws IOException {
            BasicFileAttributes attributes = Files.readAttributes(folder, BasicFileAttributes.class);
            if (attributes.fileKey() != null && !foldersSeen.add(attributes.fileKey())) {
                skips.skipped(folder.toString(), "a folder already listed through another link");
                return;
            }
            try (DirectoryStream<java.nio.file.Path> entries = Files.newDirectoryStream(folder)) {
                for (java.nio.file.Path entry : entries) {
                    String name = entry.getFileName().toString();
                    if (name.startsWith(".") || name.startsWith("_")) {
                        continue;
                    }
                    try {
                        addEntry(entry, prefix + name);
                    } catch (IOException | RuntimeException e) {
                        skips.skipped(entry.toString(), "cannot be looked at: " + e);
                    }
                }
            }
        }

        private void addEntry(java.nio.file.Path entry, String relativePath) throws IOException {
            BasicFileAttributes attributes;
            try {
                attributes = Files.readAttributes(entry, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                skips.skipped(entry.toString(), "vanished while the folder was listed");
                return;
            }
            if (attributes.isSymbolicLink()) {
                try {
                    attributes = Files.readAttributes(entry, BasicFileAttributes.class);
                } catch (NoSuchFileException e) {
                    skips.skipped(entry.toString(), "a dangling symbolic link (to " + target(entry) + ")");
                    return;
                } catch (FileSystemException e) {
                    skips.skipped(entry.toString(), "a symbolic link that cannot be followed: " + e.getMessage());
                    return;
                }
                if (policy.confineToPath && !entry.toRealPath().startsWith(realRoot)) {
                    skips.skipped(entry.toString(), "resolves outside the table's path (to " + entry.toRealPath()
                            + "; 'source.confine-to-path' is set)");
                    return;
                }
                if (attributes.isDirectory() && !policy.followDirectoryLinks) {
                    skips.skipped(entry.toString(), "a symbolic link to a folder, not followed"
                            + " (set 'source.follow-directory-links' to list it)");
                    return;
                }
            }
            if (attributes.isDirectory()) {
                addFolder(entry, relativePath + "/");
            } else if (attributes.isRegularFile()) {
                files.add(new Path(root, relativePath), relativePath, attributes.size(), attributes.lastModifiedTime().toMillis());
            } else {
                skips.skipped(entry.toString(), "not a regular file (a FIFO, socket or device is never read)");
            }
        }

        private static String target(java.nio.file.Path link) {
            try {
                return Files.readSymbolicLink(link).toString();
            } catch (IOException e) {
                return "?";
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
