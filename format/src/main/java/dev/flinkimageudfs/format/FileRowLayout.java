package dev.flinkimageudfs.format;

import org.apache.flink.core.fs.Path;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.utils.PartitionPathUtils;

import javax.annotation.Nullable;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The fields of the row the connector produces for a file, in the order the planner asked for
 * them: the content, partition columns (from {@code key=value} folder names) and metadata columns
 * ({@code file.path}, {@code file.name}, {@code file.size}, {@code file.modification-time}, the
 * keys and values of the filesystem connector, and {@code file.read-error}, the connector's own).
 */
final class FileRowLayout implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The readable metadata: key -> type, as the filesystem connector declares them. */
    static final Map<String, DataType> METADATA;

    static {
        Map<String, DataType> metadata = new LinkedHashMap<>();
        metadata.put(Field.PATH.metadataKey, DataTypes.STRING().notNull());
        metadata.put(Field.NAME.metadataKey, DataTypes.STRING().notNull());
        metadata.put(Field.SIZE.metadataKey, DataTypes.BIGINT().notNull());
        metadata.put(
                Field.MODIFICATION_TIME.metadataKey, DataTypes.TIMESTAMP_LTZ(3).notNull());
        metadata.put(Field.READ_ERROR.metadataKey, DataTypes.STRING());
        METADATA = Collections.unmodifiableMap(metadata);
    }

    enum Field {
        CONTENT(null),
        PARTITION(null),
        PATH("file.path"),
        NAME("file.name"),
        SIZE("file.size"),
        MODIFICATION_TIME("file.modification-time"),
        /** Why the content is NULL for a file that could not be read as listed; else NULL. */
        READ_ERROR("file.read-error");

        @Nullable final String metadataKey;

        Field(@Nullable String metadataKey) {
            this.metadataKey = metadataKey;
        }

        static Field ofMetadataKey(String key) {
            for (Field field : values()) {
                if (key.equals(field.metadataKey)) {
                    return field;
                }
            }
            throw new IllegalArgumentException("Unknown metadata key: " + key);
        }
    }

    private final Field[] fields;
    private final String[] partitionKeys; // per field; null unless PARTITION
    private final DataType[] partitionTypes; // per field; null unless PARTITION
    private final String defaultPartitionName;
    private final boolean readsContent;
    private final boolean hasPartitions;

    /**
     * @param partitionKeys the column name of each {@link Field#PARTITION} field, else null
     * @param partitionTypes the type of each {@link Field#PARTITION} field, else null
     * @param defaultPartitionName the folder value that stands for NULL
     */
    FileRowLayout(
            Field[] fields,
            String[] partitionKeys,
            DataType[] partitionTypes,
            String defaultPartitionName) {
        this.fields = fields;
        this.partitionKeys = partitionKeys;
        this.partitionTypes = partitionTypes;
        this.defaultPartitionName = defaultPartitionName;
        this.readsContent = Arrays.asList(fields).contains(Field.CONTENT);
        this.hasPartitions = Arrays.asList(fields).contains(Field.PARTITION);
    }

    /** Whether the content is selected; if not, files are never opened. */
    boolean readsContent() {
        return readsContent;
    }

    RowData row(
            Path path, long size, long modificationTime, @Nullable byte[] content, @Nullable String readError) {
        Map<String, String> partitions =
                hasPartitions ? PartitionPathUtils.extractPartitionSpecFromPath(path) : null;
        GenericRowData row = new GenericRowData(fields.length);
        for (int i = 0; i < fields.length; i++) {
            switch (fields[i]) {
                case CONTENT:
                    row.setField(i, content);
                    break;
                case PARTITION:
                    String value = partitions.get(partitionKeys[i]);
                    row.setField(
                            i,
                            value == null || value.equals(defaultPartitionName)
                                    ? null
                                    : PartitionPathUtils.convertStringToInternalValue(
                                            value, partitionTypes[i]));
                    break;
                case PATH:
                    row.setField(i, StringData.fromString(path.getPath()));
                    break;
                case NAME:
                    row.setField(i, StringData.fromString(path.getName()));
                    break;
                case SIZE:
                    row.setField(i, size);
                    break;
                case MODIFICATION_TIME:
                    row.setField(i, TimestampData.fromEpochMillis(modificationTime));
                    break;
                case READ_ERROR:
                    row.setField(i, readError == null ? null : StringData.fromString(readError));
                    break;
                default:
                    throw new IllegalStateException("Unknown field " + fields[i]);
            }
        }
        return row;
    }
}
