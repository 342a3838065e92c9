package dev.flinkimageudfs.index;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The physical columns of an {@code image-index} table: one {@code ARRAY<FLOAT>} column holds the
 * vectors, every other column is stored beside them ({@link RowCodec}) and given back with each
 * search result. Checked when the table is planned, naming the column at fault.
 */
public final class IndexSchema implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Types {@link RowCodec} stores. */
    static final Set<LogicalTypeRoot> STORED_TYPES = EnumSet.of(
            LogicalTypeRoot.CHAR, LogicalTypeRoot.VARCHAR, LogicalTypeRoot.BOOLEAN, LogicalTypeRoot.TINYINT,
            LogicalTypeRoot.SMALLINT, LogicalTypeRoot.INTEGER, LogicalTypeRoot.BIGINT, LogicalTypeRoot.FLOAT,
            LogicalTypeRoot.DOUBLE, LogicalTypeRoot.DATE, LogicalTypeRoot.TIME_WITHOUT_TIME_ZONE,
            LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE, LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE,
            LogicalTypeRoot.BINARY, LogicalTypeRoot.VARBINARY);

    final String tableName;
    final List<String> names;
    final List<LogicalType> types;
    final int vectorIndex;
    final int dimension;

    private IndexSchema(String tableName, List<String> names, List<LogicalType> types, int vectorIndex, int dimension) {
        this.tableName = tableName;
        this.names = names;
        this.types = types;
        this.vectorIndex = vectorIndex;
        this.dimension = dimension;
    }

    /** The schema of table {@code tableName}; {@code vectorColumn} null = the only ARRAY<FLOAT> column. */
    static IndexSchema of(String tableName, ResolvedSchema schema, String vectorColumn, int dimension) {
        List<String> names = new ArrayList<>();
        List<LogicalType> types = new ArrayList<>();
        for (Column column : schema.getColumns()) {
            if (column.isPhysical()) {
                names.add(column.getName());
                types.add(column.getDataType().getLogicalType());
            }
        }
        int vectorIndex;
        if (vectorColumn != null) {
            vectorIndex = names.indexOf(vectorColumn);
            if (vectorIndex < 0) {
                throw new ValidationException(String.format(
                        "Invalid value for option '%s' of connector '%s': expected one of the physical columns %s, got '%s'",
                        ImageIndexOptions.VECTOR_COLUMN.key(), ImageIndexTableFactory.IDENTIFIER, names, vectorColumn));
            }
            if (!isFloatArray(types.get(vectorIndex))) {
                throw new ValidationException(String.format(
                        "image-index table %s: the vector column '%s' must be ARRAY<FLOAT>, got %s",
                        tableName, vectorColumn, types.get(vectorIndex)));
            }
        } else {
            List<Integer> candidates = new ArrayList<>();
            for (int i = 0; i < types.size(); i++) {
                if (isFloatArray(types.get(i))) {
                    candidates.add(i);
                }
            }
            if (candidates.size() != 1) {
                throw new ValidationException(String.format(
                        "image-index table %s: %s; name the vector column with option '%s'",
                        tableName,
                        candidates.isEmpty()
                                ? "needs an ARRAY<FLOAT> column for the vectors"
                                : "has several ARRAY<FLOAT> columns " + candidates.stream().map(names::get).collect(Collectors.toList()),
                        ImageIndexOptions.VECTOR_COLUMN.key()));
            }
            vectorIndex = candidates.get(0);
        }
        for (int i = 0; i < types.size(); i++) {
            if (i != vectorIndex && !isStored(types.get(i))) {
                throw new ValidationException(String.format(
                        "image-index table %s: column '%s' has type %s, which the index cannot store; "
                                + "supported: STRING/CHAR/VARCHAR, BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, "
                                + "DOUBLE, DATE, TIME, TIMESTAMP, TIMESTAMP_LTZ, BYTES/BINARY/VARBINARY, ARRAY<FLOAT|INT|STRING>",
                        tableName, names.get(i), types.get(i)));
            }
        }
        return new IndexSchema(tableName, names, types, vectorIndex, dimension);
    }

    private static boolean isStored(LogicalType type) {
        if (type instanceof ArrayType) {
            LogicalTypeRoot element = ((ArrayType) type).getElementType().getTypeRoot();
            return element == LogicalTypeRoot.FLOAT || element == LogicalTypeRoot.INTEGER
                    || element == LogicalTypeRoot.VARCHAR || element == LogicalTypeRoot.CHAR;
        }
        return STORED_TYPES.contains(type.getTypeRoot());
    }

    private static boolean isFloatArray(LogicalType type) {
        return type instanceof ArrayType
                && ((ArrayType) type).getElementType().getTypeRoot() == LogicalTypeRoot.FLOAT;
    }

    String vectorColumn() {
        return names.get(vectorIndex);
    }

    int columnCount() {
        return names.size();
    }

    /**
     * What a segment file records about its rows, compared on load: the stored columns' names and
     * types in order (nullability aside), and the vector column's name.
     */
    String layout() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            if (text.length() > 0) {
                text.append(", ");
            }
            text.append('`').append(names.get(i)).append("` ");
            text.append(i == vectorIndex ? "VECTOR" : types.get(i).copy(true).asSerializableString());
        }
        return text.toString();
    }
}
