package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.table.factories.BulkReaderFormatFactory;
import org.apache.flink.connector.file.table.format.BulkDecodingFormat;
import org.apache.flink.core.fs.Path;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.format.FileBasedStatisticsReportableInputFormat;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.plan.stats.TableStats;
import org.apache.flink.table.types.DataType;

import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static dev.flinkimageudfs.format.WholeFileFormatOptions.MAX_FILE_SIZE;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.OVERSIZE_HANDLING;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.UNREADABLE_HANDLING;

/**
 * Factory for the {@code whole-file} format of the filesystem connector: every file becomes one
 * row whose single physical column holds the file's bytes. File path, name, size and modification
 * time are available through the connector's {@code file.*} metadata columns; partition columns
 * are filled in by the connector too.
 */
public class WholeFileFormatFactory implements BulkReaderFormatFactory {

    public static final String IDENTIFIER = "whole-file";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.emptySet();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(MAX_FILE_SIZE);
        options.add(OVERSIZE_HANDLING);
        options.add(UNREADABLE_HANDLING);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> forwardOptions() {
        return optionalOptions();
    }

    @Override
    public BulkDecodingFormat<RowData> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        WholeFileTables.validate(
                context, formatOptions, "format", WholeFileFormatOptions::qualifiedKey);
        return new WholeFileDecodingFormat(
                formatOptions.get(MAX_FILE_SIZE).getBytes(),
                formatOptions.get(OVERSIZE_HANDLING),
                formatOptions.get(UNREADABLE_HANDLING));
    }

    /**
     * Decoding format that builds the {@link WholeFileBulkFormat} once the projection is known: if
     * the query does not select the content column, files are not read at all.
     */
    private static final class WholeFileDecodingFormat
            implements BulkDecodingFormat<RowData>,
                    ProjectableDecodingFormat<BulkFormat<RowData, FileSourceSplit>>,
                    FileBasedStatisticsReportableInputFormat {

        private final long maxFileSize;
        private final OversizeHandling oversizeHandling;
        private final OversizeHandling unreadableHandling;

        WholeFileDecodingFormat(
                long maxFileSize, OversizeHandling oversizeHandling, OversizeHandling unreadableHandling) {
            this.maxFileSize = maxFileSize;
            this.oversizeHandling = oversizeHandling;
            this.unreadableHandling = unreadableHandling;
        }

        @Override
        public BulkFormat<RowData, FileSourceSplit> createRuntimeDecoder(
                DynamicTableSource.Context context,
                DataType physicalDataType,
                int[][] projections) {
            DataType producedDataType = Projection.of(projections).project(physicalDataType);
            return new WholeFileBulkFormat(
                    context.createTypeInformation(producedDataType),
                    projections.length > 0,
                    maxFileSize,
                    oversizeHandling,
                    unreadableHandling);
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return ChangelogMode.insertOnly();
        }

        /** One row per file (an estimate under {@code oversize-handling = skip}). */
        @Override
        public TableStats reportStatistics(List<Path> files, DataType producedDataType) {
            return new TableStats(files.size());
        }
    }
}
