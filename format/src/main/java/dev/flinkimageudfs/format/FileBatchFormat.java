package dev.flinkimageudfs.format;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.src.reader.StreamFormat;
import org.apache.flink.connector.file.src.util.CheckpointedPosition;
import org.apache.flink.connector.file.src.util.MutableRecordAndPosition;
import org.apache.flink.connector.file.src.util.RecordAndPosition;
import org.apache.flink.core.fs.Path;
import org.apache.flink.table.data.RowData;

import javax.annotation.Nullable;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a {@link FileBatchSplit} file after file, one row per file (none for a file skipped by
 * {@code oversize-handling} or {@code unreadable-handling} = {@code skip}).
 *
 * <p>A batch handed to Flink holds consecutive files up to {@code source.reader.fetch-size} bytes
 * (the fetch size of Flink's stream formats), so small files travel many to a batch. A row's
 * position is the index of the file after it: a restored reader starts there.
 */
final class FileBatchFormat extends WholeFileReaderFormat<FileBatchSplit> {

    private static final long serialVersionUID = 1L;

    private final FileRowLayout layout;

    FileBatchFormat(TypeInformation<RowData> producedType, FileRowLayout layout, FileLoader loader) {
        super(producedType, loader);
        this.layout = layout;
    }

    @Override
    public BulkFormat.Reader<RowData> createReader(Configuration config, FileBatchSplit split) {
        return new Reader(split, 0, 0, config.get(StreamFormat.FETCH_IO_SIZE).getBytes());
    }

    @Override
    public BulkFormat.Reader<RowData> restoreReader(Configuration config, FileBatchSplit split) {
        CheckpointedPosition position =
                split.getReaderPosition()
                        .orElse(new CheckpointedPosition(CheckpointedPosition.NO_OFFSET, 0));
        return new Reader(
                split,
                (int) Math.max(0, position.getOffset()),
                position.getRecordsAfterOffset(),
                config.get(StreamFormat.FETCH_IO_SIZE).getBytes());
    }

    private final class Reader implements BulkFormat.Reader<RowData> {

        private final FileBatchSplit split;
        private final long fetchSize;
        private int nextFile;
        private long rowsToSkip;

        Reader(FileBatchSplit split, int nextFile, long rowsToSkip, long fetchSize) {
            this.split = split;
            this.nextFile = nextFile;
            this.rowsToSkip = rowsToSkip;
            this.fetchSize = fetchSize;
        }

        @Nullable
        @Override
        public RecordIterator<RowData> readBatch() throws IOException {
            List<RowData> rows = new ArrayList<>();
            List<Integer> filesAfter = new ArrayList<>();
            long bytes = 0;
            while (nextFile < split.fileCount() && bytes < fetchSize) {
                int file = nextFile++;
                Path path = split.filePath(file);
                long size = split.fileSize(file);
                boolean oversize = loader.isOversize(path, size);
                if (oversize && loader.skipsOversize()) {
                    continue;
                }
                if (rowsToSkip > 0) {
                    rowsToSkip--;
                    continue;
                }
                FileLoader.Content content = null;
                if (!oversize && layout.readsContent()) {
                    content = loader.read(path, size);
                    if (content == null) { // unreadable, skipped
                        continue;
                    }
                }
                byte[] image = content == null ? null : content.bytes;
                rows.add(layout.row(path, size, split.modificationTime(file), image, content == null ? null : content.problem));
                filesAfter.add(file + 1);
                bytes += image == null ? 0 : image.length;
            }
            return rows.isEmpty() ? null : new RowIterator(rows, filesAfter);
        }

        @Override
        public void close() {}
    }

    /** The rows of one batch, each positioned at the file after it. */
    private static final class RowIterator implements RecordIterator<RowData> {

        private final List<RowData> rows;
        private final List<Integer> filesAfter;
        private final MutableRecordAndPosition<RowData> current = new MutableRecordAndPosition<>();
        private int next;

        RowIterator(List<RowData> rows, List<Integer> filesAfter) {
            this.rows = rows;
            this.filesAfter = filesAfter;
        }

        @Nullable
        @Override
        public RecordAndPosition<RowData> next() {
            if (next == rows.size()) {
                return null;
            }
            current.set(rows.get(next), filesAfter.get(next), 0);
            next++;
            return current;
        }

        @Override
        public void releaseBatch() {}
    }
}
