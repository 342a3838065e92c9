package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.IOException;
import java.io.Serializable;

/**
 * Loads a whole file into memory, up to {@code max-file-size}, and applies {@code
 * oversize-handling} to bigger files. Shared by the format and the connector; error messages name
 * the options as the table's DDL spells them.
 */
final class FileLoader implements Serializable {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(FileLoader.class);

    private final long maxFileSize;
    private final OversizeHandling oversizeHandling;
    private final String maxFileSizeKey;
    private final String oversizeHandlingKey;

    FileLoader(
            long maxFileSize,
            OversizeHandling oversizeHandling,
            String maxFileSizeKey,
            String oversizeHandlingKey) {
        this.maxFileSize = maxFileSize;
        this.oversizeHandling = oversizeHandling;
        this.maxFileSizeKey = maxFileSizeKey;
        this.oversizeHandlingKey = oversizeHandlingKey;
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

    /**
     * Reads exactly {@code size} bytes, the size the file had when it was listed: a file that
     * shrank since is an error rather than a silently truncated row.
     */
    static byte[] readFully(Path path, int size) throws IOException {
        byte[] content = new byte[size];
        try (FSDataInputStream in = path.getFileSystem().open(path)) {
            int read = 0;
            while (read < size) {
                int n = in.read(content, read, size - read);
                if (n < 0) {
                    throw new EOFException(
                            String.format(
                                    "File %s ended after %d bytes, but had %d bytes when it"
                                            + " was listed; was it changed while being read?",
                                    path, read, size));
                }
                read += n;
            }
        }
        return content;
    }
}
