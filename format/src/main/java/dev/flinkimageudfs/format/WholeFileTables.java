package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.WholeFileFormatOptions.OversizeHandling;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;

import static dev.flinkimageudfs.format.WholeFileFormatOptions.MAX_FILE_SIZE;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.OVERSIZE_HANDLING;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.UNREADABLE_HANDLING;

/**
 * Planning-time checks of a whole-file table, the same for the format and the connector: option
 * values and the physical columns. Messages name the options as the DDL spells them ({@code
 * keyOf}).
 */
final class WholeFileTables {

    /** Largest array the JVM reliably allocates. */
    private static final long MAX_ARRAY_SIZE = Integer.MAX_VALUE - 8;

    /**
     * Validates the options and the schema; returns the name of the content column.
     *
     * @param kind "format" or "connector", for messages
     */
    static String validate(
            DynamicTableFactory.Context context,
            ReadableConfig options,
            String kind,
            Function<ConfigOption<?>, String> keyOf) {
        MemorySize maxFileSize = options.get(MAX_FILE_SIZE);
        if (maxFileSize.getBytes() <= 0 || maxFileSize.getBytes() > MAX_ARRAY_SIZE) {
            throw new ValidationException(
                    String.format(
                            "Option '%s' must be between 1 b and %d b, but was '%s'.",
                            keyOf.apply(MAX_FILE_SIZE),
                            MAX_ARRAY_SIZE,
                            maxFileSize.toHumanReadableString()));
        }
        return validatePhysicalSchema(
                context, options.get(OVERSIZE_HANDLING), options.get(UNREADABLE_HANDLING), kind, keyOf);
    }

    /**
     * The physical schema, partition columns excluded (they come from the folder names), must be
     * exactly one BYTES/VARBINARY column.
     */
    private static String validatePhysicalSchema(
            DynamicTableFactory.Context context,
            OversizeHandling oversizeHandling,
            OversizeHandling unreadableHandling,
            String kind,
            Function<ConfigOption<?>, String> keyOf) {
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
                            "The '%s' %s expects exactly one physical column of type BYTES"
                                    + " (VARBINARY) besides partition and metadata columns, but"
                                    + " table %s has %d: %s.",
                            WholeFileFormatFactory.IDENTIFIER,
                            kind,
                            context.getObjectIdentifier().asSummaryString(),
                            fields.size(),
                            fields.stream()
                                    .map(RowType.RowField::asSummaryString)
                                    .collect(Collectors.toList())));
        }
        RowType.RowField content = fields.get(0);
        LogicalType type = content.getType();
        if (!type.isNullable() && oversizeHandling == OversizeHandling.NULL_ROW) {
            throw new ValidationException(
                    String.format(
                            "Column '%s' is declared %s, but '%s' = '%s' emits NULL for files"
                                    + " over '%s'. Declare the column nullable or choose '%s' or"
                                    + " '%s'.",
                            content.getName(),
                            type.asSummaryString(),
                            keyOf.apply(OVERSIZE_HANDLING),
                            oversizeHandling,
                            keyOf.apply(MAX_FILE_SIZE),
                            OversizeHandling.SKIP,
                            OversizeHandling.FAIL));
        }
        if (!type.isNullable() && unreadableHandling == OversizeHandling.NULL_ROW) {
            throw new ValidationException(
                    String.format(
                            "Column '%s' is declared %s, but '%s' = '%s' emits NULL for files that"
                                    + " vanish or change after they are listed. Declare the column"
                                    + " nullable or choose '%s' or '%s'.",
                            content.getName(),
                            type.asSummaryString(),
                            keyOf.apply(UNREADABLE_HANDLING),
                            unreadableHandling,
                            OversizeHandling.SKIP,
                            OversizeHandling.FAIL));
        }
        return content.getName();
    }

    private WholeFileTables() {}
}
