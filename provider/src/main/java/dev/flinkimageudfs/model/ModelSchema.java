package dev.flinkimageudfs.model;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The INPUT and OUTPUT of a model served by this provider. INPUT is one binary column (the encoded
 * image); OUTPUT lists any of the result's fields, in any order, with their types: the fields are
 * declared once, in {@code udfs.result.RESULT_FIELDS}, and tests/test_result_declaration.py holds
 * {@link Field} to them. Checked when the query is planned; at run time it turns a
 * {@link Prediction} into the output row.
 */
public final class ModelSchema implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The result fields, in the pandas UDF's order. */
    enum Field {
        LABEL("label", DataTypes.STRING()),
        CLASS_ID("class_id", DataTypes.INT()),
        PROBABILITY("probability", DataTypes.FLOAT()),
        TOP_LABELS("top_labels", DataTypes.ARRAY(DataTypes.STRING())),
        TOP_CLASS_IDS("top_class_ids", DataTypes.ARRAY(DataTypes.INT())),
        TOP_PROBABILITIES("top_probabilities", DataTypes.ARRAY(DataTypes.FLOAT())),
        EMBEDDING("embedding", DataTypes.ARRAY(DataTypes.FLOAT())),
        ERROR("error", DataTypes.STRING());

        final String column;
        final DataType type;

        Field(String column, DataType type) {
            this.column = column;
            this.type = type;
        }

        static Field named(String column) {
            for (Field field : values()) {
                if (field.column.equals(column)) {
                    return field;
                }
            }
            return null;
        }
    }

    private final Field[] outputs;

    private ModelSchema(Field[] outputs) {
        this.outputs = outputs;
    }

    static ModelSchema of(ResolvedSchema input, ResolvedSchema output) {
        List<Column> inputs = input.getColumns();
        if (inputs.size() != 1 || !inputs.get(0).getDataType().getLogicalType().is(LogicalTypeFamily.BINARY_STRING)) {
            throw new ValidationException(
                    "Model provider 'openvino' takes one INPUT column of type BYTES (the encoded image), got INPUT ("
                            + describe(inputs) + ")");
        }
        List<Field> fields = new ArrayList<>();
        for (Column column : output.getColumns()) {
            Field field = Field.named(column.getName());
            if (field == null) {
                throw new ValidationException(
                        "Model provider 'openvino' has no output column '" + column.getName()
                                + "'; OUTPUT takes any of: " + expected());
            }
            if (!column.getDataType().getLogicalType().equals(field.type.getLogicalType())) {
                throw new ValidationException(
                        "Model provider 'openvino': OUTPUT column '" + column.getName() + "' must be "
                                + field.type.getLogicalType().asSummaryString()
                                + " (nullable: a row whose image cannot be classified has only 'error'), got "
                                + column.getDataType().getLogicalType().asSummaryString());
            }
            fields.add(field);
        }
        return new ModelSchema(fields.toArray(new Field[0]));
    }

    private static String describe(List<Column> columns) {
        return columns.stream()
                .map(c -> c.getName() + " " + c.getDataType().getLogicalType().asSummaryString())
                .collect(Collectors.joining(", "));
    }

    private static String expected() {
        List<String> fields = new ArrayList<>();
        for (Field field : Field.values()) {
            fields.add(field.column + " " + field.type.getLogicalType().asSummaryString());
        }
        return String.join(", ", fields);
    }

    /** Whether OUTPUT lists the embedding: only then is it read from the model. */
    boolean wantsEmbedding() {
        for (Field field : outputs) {
            if (field == Field.EMBEDDING) {
                return true;
            }
        }
        return false;
    }

    /** The model's output row for {@code prediction}, in OUTPUT order. */
    RowData toRow(Prediction prediction) {
        GenericRowData row = new GenericRowData(outputs.length);
        boolean classified = prediction.error == null;
        for (int i = 0; i < outputs.length; i++) {
            switch (outputs[i]) {
                case LABEL:
                    row.setField(i, StringData.fromString(prediction.label));
                    break;
                case CLASS_ID:
                    row.setField(i, prediction.classId);
                    break;
                case PROBABILITY:
                    row.setField(i, prediction.probability);
                    break;
                case TOP_LABELS:
                    row.setField(i, classified ? new GenericArrayData(strings(prediction.topLabels)) : null);
                    break;
                case TOP_CLASS_IDS:
                    row.setField(i, classified ? new GenericArrayData(prediction.topClassIds) : null);
                    break;
                case TOP_PROBABILITIES:
                    row.setField(i, classified ? new GenericArrayData(prediction.topProbabilities) : null);
                    break;
                case EMBEDDING:
                    row.setField(i, classified ? new GenericArrayData(prediction.embedding) : null);
                    break;
                default:
                    row.setField(i, StringData.fromString(prediction.error));
                    break;
            }
        }
        return row;
    }

    private static StringData[] strings(String[] values) {
        StringData[] data = new StringData[values.length];
        for (int i = 0; i < values.length; i++) {
            data[i] = StringData.fromString(values[i]);
        }
        return data;
    }
}
