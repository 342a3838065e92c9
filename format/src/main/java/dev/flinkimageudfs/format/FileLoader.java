package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.function.Function;

/**
 * Loads a whole file into memory, up to {@code max-file-size}, and applies {@code
 * oversize-handling} to bigger files and {@code unreadable-handling} to files that cannot be read
 * as they were listed. Shared by the format and the connector; error messages name the options as
 * the table's DDL spells them. Public so that tests can drive it through the gateway.
 */
public final class FileLoader implements Serializable {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(FileLoader.class);

    private final long maxFileSize;
    private final OversizeHandling oversizeHandling;
    private final OversizeHandling unreadableHandling;
    private final String maxFileSizeKey;
    private final String oversizeHandlingKey;
    private final String unreadableHandlingKey;

    /** {@code keyOf} spells an option as the table's DDL does (with or without the format prefix). */
    public FileLoader(
            long maxFileSize,
            OversizeHandling oversizeHandling,
            OversizeHandling unreadableHandling,
            Function<ConfigOption<?>, String> keyOf) {
        this.maxFileSize = maxFileSize;
        this.oversizeHandling = oversizeHandling;
        this.unreadableHandling = unreadableHandling;
        this.maxFileSizeKey = keyOf.apply(WholeFileFormatOptions.MAX_FILE_SIZE);
        this.oversizeHandlingKey = keyOf.apply(WholeFileFormatOptions.OVERSIZE_HANDLING);
        this.unreadableHandlingKey = keyOf.apply(WholeFileFormatOptions.UNREADABLE_HANDLING);
    }

    /** A loader whose messages name the options as the {@code whole-file} connector spells them. */
    public static FileLoader forConnector(
            long maxFileSize, OversizeHandling oversizeHandling, OversizeHandling unreadableHandling) {
        return new FileLoader(maxFileSize, oversizeHandling, unreadableHandling, ConfigOption::key);
    }

    /**
     * Whether a file of {@code size} bytes is over the limit. Under {@code fail} this throws; under
     * {@code skip} and {@code null-row} it logs what happens to the file.
     */
    boolean isOversize(Path path, long size) throws IOException {
        if (size <= maxFileSize) {
            return false;
        }
        String limit = String.format("'%s' (%d bytes)", maxFileSizeKey, maxFileSize);
        switch (oversizeHandling) {
            case FAIL:
                throw new IOException(
                        String.format(
                                "File %s is %d bytes, larger than %s. Raise '%s' or set '%s' to"
                                        + " '%s' or '%s'.",
                                path,
                                size,
                                limit,
                                maxFileSizeKey,
                                oversizeHandlingKey,
                                OversizeHandling.NULL_ROW,
                                OversizeHandling.SKIP));
            case SKIP:
                LOG.warn("Skipping file {} of {} bytes: larger than {}.", path, size, limit);
                return true;
            case NULL_ROW:
            default:
                LOG.warn(
                        "Emitting NULL content for file {} of {} bytes: larger than {}.",
                        path,
                        size,
                        limit);
                return true;
        }
    }

    /** Whether an oversize file gets no row at all (rather than a row with NULL content). */
    boolean skipsOversize() {
        return oversizeHandling == OversizeHandling.SKIP;
    }

    /** A file's bytes as listed, or why there are none. */
    public static final class Content {
        @Nullable public final byte[] bytes;
        @Nullable public final String problem;

        private Content(@Nullable byte[] bytes, @Nullable String problem) {
            this.bytes = bytes;
            this.problem = problem;
        }
    }

    /**
     * Reads exactly {@code size} bytes, the size the file had when it was listed. A file that
     * vanished, changed size or is no longer a regular file (a FIFO would block the reader
     * forever: it is never opened) is handled by {@code unreadable-handling}: a {@link Content}
     * with the problem and no bytes ({@code null-row}), {@code null} ({@code skip}), or an
     * exception ({@code fail}).
     */
    @Nullable
    public Content read(Path path, long size) throws IOException {
        String problem;
        try {
            return new Content(readFully(path, size), null);
        } catch (Unreadable e) {
            problem = e.getMessage();
        }
        switch (unreadableHandling) {
            case FAIL:
                throw new IOException(
                        String.format(
                                "File %s %s. Set '%s' to '%s' or '%s' to go on without it.",
                                path, problem, unreadableHandlingKey, OversizeHandling.NULL_ROW, OversizeHandling.SKIP));
            case SKIP:
                LOG.warn("Skipping file {}: it {}.", path, problem);
                return null;
            case NULL_ROW:
            default:
                LOG.warn("Emitting NULL content for file {}: it {}.", path, problem);
                return new Content(null, "the file " + problem);
        }
    }

    /** The reason a listed file cannot be read as listed. */
    private static final class Unreadable extends IOException {
        private static final long serialVersionUID = 1L;

        Unreadable(String reason) {
            super(reason);
        }
    }

    private static byte[] readFully(Path path, long size) throws Unreadable {
        FileSystem fs;
        try {
            fs = path.getFileSystem();
        } catch (IOException e) {
            throw new Unreadable("cannot be read: " + e);
        }
        if (fs instanceof LocalFileSystem) {
            checkLocal(((LocalFileSystem) fs).pathToFile(path).toPath(), size);
        }
        byte[] content = new byte[(int) size];
        try (FSDataInputStream in = fs.open(path)) {
            int read = 0;
            while (read < size) {
                int n = in.read(content, read, (int) size - read);
                if (n < 0) {
                    throw new Unreadable(
                            String.format("ended after %d bytes while being read, but had %d when it was listed", read, size));
                }
                read += n;
            }
        } catch (FileNotFoundException | NoSuchFileException e) {
            throw new Unreadable("vanished after it was listed");
        } catch (Unreadable e) {
            throw e;
        } catch (IOException e) {
            throw new Unreadable("cannot be read: " + e);
        }
        return content;
    }

    /** A regular file (links followed) of the listed size, checked before it is opened. */
    private static void checkLocal(java.nio.file.Path file, long size) throws Unreadable {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new Unreadable("vanished after it was listed");
        } catch (IOException e) {
            throw new Unreadable("cannot be read: " + e);
        }
        if (!attributes.isRegularFile()) {
            throw new Unreadable("is no longer a regular file (a FIFO, socket or device is never opened)");
        }
        if (attributes.size() < size) {
            throw new Unreadable(String.format("shrank from %d to %d bytes after it was listed", size, attributes.size()));
        }
        if (attributes.size() > size) {
            throw new Unreadable(String.format(
                    "grew from %d to %d bytes after it was listed (was it still being written?)", size, attributes.size()));
        }
    }
}
