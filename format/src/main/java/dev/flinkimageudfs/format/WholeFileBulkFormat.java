package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.src.util.CheckpointedPosition;
import org.apache.flink.connector.file.src.util.SingletonResultIterator;
import org.apache.flink.core.fs.Path;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;

import javax.annotation.Nullable;

import java.io.IOException;


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
public class WholeFileBulkFormat extends WholeFileReaderFormat<FileSourceSplit> {

    private static final long serialVersionUID = 1L;

    private final boolean readContent;

    /** As below, with {@code unreadable-handling} = {@code null-row}. */
    public WholeFileBulkFormat(
            TypeInformation<RowData> producedType,
            boolean readContent,
            long maxFileSize,
            OversizeHandling oversizeHandling) {
        this(producedType, readContent, maxFileSize, oversizeHandling, OversizeHandling.NULL_ROW);
    }

    /**
     * @param producedType one BYTES field, or no field when the content is not read
     * @param readContent whether files are opened; false when the query selects no content
     */
    public WholeFileBulkFormat(
            TypeInformation<RowData> producedType,
            boolean readContent,
            long maxFileSize,
            OversizeHandling oversizeHandling,
            OversizeHandling unreadableHandling) {
        super(
                producedType,
                new FileLoader(
                        maxFileSize,
                        oversizeHandling,
                        unreadableHandling,
                        WholeFileFormatOptions::qualifiedKey));
        this.readContent = readContent;
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
            if (!readContent) {
                return loader.isOversize(path, size) && loader.skipsOversize()
                        ? null
                        : new GenericRowData(0);
            }
            if (loader.isOversize(path, size)) {
                return loader.skipsOversize() ? null : GenericRowData.of((Object) null);
            }
            FileLoader.Content content = loader.read(path, size); // null: skipped
            return content == null ? null : GenericRowData.of((Object) content.bytes);
        }

        @Override
        public void close() {}
    }
}
