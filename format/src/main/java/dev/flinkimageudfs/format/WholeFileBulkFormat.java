package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.src.util.CheckpointedPosition;
import org.apache.flink.connector.file.src.util.SingletonResultIterator;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import java.io.EOFException;
import java.io.IOException;

import static dev.flinkimageudfs.format.WholeFileFormatOptions.MAX_FILE_SIZE;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.OVERSIZE_HANDLING;

/**
 * A {@link BulkFormat} that turns each file into exactly one row holding the file's bytes.
 *
 * <p>Files are not splittable. The content is read through Flink's {@link
 * org.apache.flink.core.fs.FileSystem}, so any Flink file system works. The row reflects the file
 * as the enumerator saw it: exactly {@link FileSourceSplit#fileSize()} bytes are read.
 *
 * <p>The produced row has either one field (the content) or, when the query does not select the
 * content, no field; in the latter case the file is never opened.
 */
public class WholeFileBulkFormat implements BulkFormat<RowData, FileSourceSplit> {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(WholeFileBulkFormat.class);

    private final TypeInformation<RowData> producedType;
    private final boolean readContent;
    private final long maxFileSize;
    private final OversizeHandling oversizeHandling;

    public WholeFileBulkFormat(
            TypeInformation<RowData> producedType,
            boolean readContent,
            long maxFileSize,
            OversizeHandling oversizeHandling) {
        this.producedType = producedType;
        this.readContent = readContent;
        this.maxFileSize = maxFileSize;
        this.oversizeHandling = oversizeHandling;
    }

    @Override
    public BulkFormat.Reader<RowData> createReader(Configuration config, FileSourceSplit split) {
        return new Reader(split, 0);
    }

    @Override
    public BulkFormat.Reader<RowData> restoreReader(Configuration config, FileSourceSplit split) {
        long emitted =
                split.getReaderPosition()
                        .map(CheckpointedPosition::getRecordsAfterOffset)
                        .orElse(0L);
        return new Reader(split, emitted);
    }

    @Override
    public boolean isSplittable() {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }

    /** Emits the split's file as a single record, unless a restored position says it was. */
    private final class Reader implements BulkFormat.Reader<RowData> {

        private final FileSourceSplit split;
        private boolean finished;

        Reader(FileSourceSplit split, long recordsAlreadyEmitted) {
            this.split = split;
            this.finished = recordsAlreadyEmitted > 0;
        }

        @Nullable
        @Override
        public RecordIterator<RowData> readBatch() throws IOException {
            if (finished) {
                return null;
            }
            finished = true;
            RowData row = readRow();
            if (row == null) {
                return null;
            }
            SingletonResultIterator<RowData> iterator = new SingletonResultIterator<>();
            // The position points after the record: on restore, one record is skipped.
            iterator.set(row, CheckpointedPosition.NO_OFFSET, 1);
            return iterator;
        }

        /** Returns the row for this file, or {@code null} if the file is skipped. */
        @Nullable
        private RowData readRow() throws IOException {
            Path path = split.path();
            long size = split.fileSize();
            if (size > maxFileSize) {
                return oversized(path, size);
            }
            return readContent
                    ? GenericRowData.of((Object) readFully(path, (int) size))
                    : new GenericRowData(0);
        }

        @Nullable
        private RowData oversized(Path path, long size) throws IOException {
            String limit =
                    String.format(
                            "'%s.%s' = %s",
                            WholeFileFormatFactory.IDENTIFIER,
                            MAX_FILE_SIZE.key(),
                            new MemorySize(maxFileSize).toHumanReadableString());
            switch (oversizeHandling) {
                case FAIL:
                    throw new IOException(
                            String.format(
                                    "File %s is %d bytes, larger than %s. Raise '%s.%s' or set"
                                            + " '%s.%s' to '%s' or '%s'.",
                                    path,
                                    size,
                                    limit,
                                    WholeFileFormatFactory.IDENTIFIER,
                                    MAX_FILE_SIZE.key(),
                                    WholeFileFormatFactory.IDENTIFIER,
                                    OVERSIZE_HANDLING.key(),
                                    OversizeHandling.NULL_ROW,
                                    OversizeHandling.SKIP));
                case SKIP:
                    LOG.warn("Skipping file {} of {} bytes: larger than {}.", path, size, limit);
                    return null;
                case NULL_ROW:
                default:
                    LOG.warn(
                            "Emitting NULL content for file {} of {} bytes: larger than {}.",
                            path,
                            size,
                            limit);
                    return readContent ? GenericRowData.of((Object) null) : new GenericRowData(0);
            }
        }

        private byte[] readFully(Path path, int size) throws IOException {
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

        @Override
        public void close() {}
    }
}
