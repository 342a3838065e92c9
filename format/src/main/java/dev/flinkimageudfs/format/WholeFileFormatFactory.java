package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.table.factories.BulkReaderFormatFactory;
import org.apache.flink.connector.file.table.format.BulkDecodingFormat;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static dev.flinkimageudfs.format.WholeFileFormatOptions.MAX_FILE_SIZE;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.OVERSIZE_HANDLING;

/**
 * Factory for the {@code whole-file} format of the filesystem connector: every file becomes one
 * row whose single physical column holds the file's bytes. File path, name, size and modification
 * time are available through the connector's {@code file.*} metadata columns; partition columns
 * are filled in by the connector too.
 */
public class WholeFileFormatFactory implements BulkReaderFormatFactory {

    public static final String IDENTIFIER = "whole-file";

    /** Largest array the JVM reliably allocates. */
    private static final long MAX_ARRAY_SIZE = Integer.MAX_VALUE - 8;

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return new HashSet<>();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(MAX_FILE_SIZE);
        options.add(OVERSIZE_HANDLING);
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
        validateFormatOptions(formatOptions);
        validatePhysicalSchema(context, formatOptions.get(OVERSIZE_HANDLING));
        return new WholeFileDecodingFormat(
                formatOptions.get(MAX_FILE_SIZE).getBytes(),
                formatOptions.get(OVERSIZE_HANDLING));
    }

    private static void validateFormatOptions(ReadableConfig formatOptions) {
        MemorySize maxFileSize = formatOptions.get(MAX_FILE_SIZE);
        if (maxFileSize.getBytes() <= 0 || maxFileSize.getBytes() > MAX_ARRAY_SIZE) {
            throw new ValidationException(
                    String.format(
                            "Option '%s.%s' must be between 1 b and %d b, but was '%s'.",
                            IDENTIFIER,
                            MAX_FILE_SIZE.key(),
                            MAX_ARRAY_SIZE,
                            maxFileSize.toHumanReadableString()));
        }
    }

    /**
     * The physical schema, partition columns excluded (the connector fills those in), must be
     * exactly one BYTES/VARBINARY column.
     */
    private static void validatePhysicalSchema(
            DynamicTableFactory.Context context, OversizeHandling oversizeHandling) {
        List<String> partitionKeys = context.getCatalogTable().getPartitionKeys();
        List<RowType.RowField> fields =
                ((RowType) context.getPhysicalRowDataType().getLogicalType())
                        .getFields().stream()
                                .filter(f -> !partitionKeys.contains(f.getName()))
                                .collect(Collectors.toList());
        if (fields.size() != 1
                || fields.get(0).getType().getTypeRoot() != LogicalTypeRoot.VARBINARY) {
            throw new ValidationException(
                    String.format(
                            "The '%s' format expects exactly one physical column of type BYTES"
                                    + " (VARBINARY) besides partition and metadata columns, but"
                                    + " table %s has %d: %s.",
                            IDENTIFIER,
                            context.getObjectIdentifier().asSummaryString(),
                            fields.size(),
                            fields.stream()
                                    .map(RowType.RowField::asSummaryString)
                                    .collect(Collectors.toList())));
        }
        LogicalType type = fields.get(0).getType();
        if (!type.isNullable() && oversizeHandling == OversizeHandling.NULL_ROW) {
            throw new ValidationException(
                    String.format(
                            "Column '%s' is declared %s, but '%s.%s' = '%s' emits NULL for files"
                                    + " over '%s.%s'. Declare the column nullable or choose"
                                    + " '%s' or '%s'.",
                            fields.get(0).getName(),
                            type.asSummaryString(),
                            IDENTIFIER,
                            OVERSIZE_HANDLING.key(),
                            oversizeHandling,
                            IDENTIFIER,
                            MAX_FILE_SIZE.key(),
                            OversizeHandling.SKIP,
                            OversizeHandling.FAIL));
        }
    }

    /**
     * Decoding format that builds the {@link WholeFileBulkFormat} once the projection is known: if
     * the query does not select the content column, files are not read at all.
     */
    private static final class WholeFileDecodingFormat
            implements BulkDecodingFormat<RowData>,
                    ProjectableDecodingFormat<BulkFormat<RowData, FileSourceSplit>> {

        private final long maxFileSize;
        private final OversizeHandling oversizeHandling;

        WholeFileDecodingFormat(long maxFileSize, OversizeHandling oversizeHandling) {
            this.maxFileSize = maxFileSize;
            this.oversizeHandling = oversizeHandling;
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
                    oversizeHandling);
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return ChangelogMode.insertOnly();
        }
    }
}
