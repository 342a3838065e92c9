package dev.flinkimageudfs.index;

import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The stored (non-vector) columns of a row as bytes, little-endian: a null bitmap (one bit per
 * column in table order, vector column included and always 0), then each non-null stored column:
 * strings and bytes as int32 length + bytes (UTF-8 for strings); BOOLEAN/TINYINT 1 byte; SMALLINT
 * 2; INT, DATE, TIME (days, milliseconds) 4; BIGINT 8; FLOAT 4; DOUBLE 8; TIMESTAMP and
 * TIMESTAMP_LTZ as int64 epoch milliseconds + int32 nanoseconds of the millisecond; ARRAY (of FLOAT,
 * INT or STRING) as int32 length + a null bitmap of its elements + each non-null element.
 */
final class RowCodec {

    private final IndexSchema schema;
    private final RowData.FieldGetter[] getters;
    private ByteBuffer buffer = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

    RowCodec(IndexSchema schema) {
        this.schema = schema;
        getters = new RowData.FieldGetter[schema.columnCount()];
        for (int i = 0; i < getters.length; i++) {
            getters[i] = RowData.createFieldGetter(schema.types.get(i), i);
        }
    }

    /** The stored columns of {@code row}; the returned array is a copy. */
    byte[] encode(RowData row) {
        buffer.clear();
        int bitmapBytes = bitmapBytes();
        ensure(bitmapBytes);
        byte[] bitmap = new byte[bitmapBytes];
        buffer.position(bitmapBytes);
        for (int i = 0; i < getters.length; i++) {
            if (i == schema.vectorIndex) {
                continue;
            }
            Object value = getters[i].getFieldOrNull(row);
            if (value == null) {
                bitmap[i / 8] |= (byte) (1 << (i % 8));
                continue;
            }
            write(schema.types.get(i), value);
        }
        for (int i = 0; i < bitmapBytes; i++) {
            buffer.put(i, bitmap[i]);
        }
        return Arrays.copyOf(buffer.array(), buffer.position());
    }

    /** A row of the table from stored columns and the vector. */
    GenericRowData decode(byte[] data, int offset, int length, float[] vector) {
        ByteBuffer in = ByteBuffer.wrap(data, offset, length).order(ByteOrder.LITTLE_ENDIAN);
        GenericRowData row = new GenericRowData(getters.length);
        int bitmapStart = offset;
        in.position(offset + bitmapBytes());
        for (int i = 0; i < getters.length; i++) {
            if (i == schema.vectorIndex) {
                row.setField(i, new GenericArrayData(vector));
            } else if ((data[bitmapStart + i / 8] & (1 << (i % 8))) == 0) {
                row.setField(i, read(schema.types.get(i), in));
            }
        }
        return row;
    }

    private int bitmapBytes() {
        return (getters.length + 7) / 8;
    }

    private void ensure(int bytes) {
        if (buffer.remaining() < bytes) {
            int position = buffer.position();
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(buffer.capacity() * 2, position + bytes)).order(ByteOrder.LITTLE_ENDIAN);
            buffer.flip();
            bigger.put(buffer);
            bigger.position(position);
            buffer = bigger;
        }
    }

    private void writeBytes(byte[] bytes) {
        ensure(4 + bytes.length);
        buffer.putInt(bytes.length).put(bytes);
    }

    private void write(LogicalType type, Object value) {
        ensure(12);
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                writeBytes(((StringData) value).toBytes());
                break;
            case BINARY:
            case VARBINARY:
                writeBytes((byte[]) value);
                break;
            case BOOLEAN:
                buffer.put((byte) ((Boolean) value ? 1 : 0));
                break;
            case TINYINT:
                buffer.put((Byte) value);
                break;
            case SMALLINT:
                buffer.putShort((Short) value);
                break;
            case INTEGER:
            case DATE:
            case TIME_WITHOUT_TIME_ZONE:
                buffer.putInt((Integer) value);
                break;
            case BIGINT:
                buffer.putLong((Long) value);
                break;
            case FLOAT:
                buffer.putFloat((Float) value);
                break;
            case DOUBLE:
                buffer.putDouble((Double) value);
                break;
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                TimestampData timestamp = (TimestampData) value;
                buffer.putLong(timestamp.getMillisecond()).putInt(timestamp.getNanoOfMillisecond());
                break;
            case ARRAY:
                writeArray(((ArrayType) type).getElementType(), (ArrayData) value);
                break;
            default:
                throw new IllegalStateException("image-index: cannot store " + type); // IndexSchema refuses it
        }
    }

    private static Object read(LogicalType type, ByteBuffer in) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return StringData.fromBytes(readBytes(in));
            case BINARY:
            case VARBINARY:
                return readBytes(in);
            case BOOLEAN:
                return in.get() != 0;
            case TINYINT:
                return in.get();
            case SMALLINT:
                return in.getShort();
            case INTEGER:
            case DATE:
            case TIME_WITHOUT_TIME_ZONE:
                return in.getInt();
            case BIGINT:
                return in.getLong();
            case FLOAT:
                return in.getFloat();
            case DOUBLE:
                return in.getDouble();
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return TimestampData.fromEpochMillis(in.getLong(), in.getInt());
            case ARRAY:
                return readArray(((ArrayType) type).getElementType(), in);
            default:
                throw new IllegalStateException("image-index: cannot read " + type);
        }
    }

    private void writeArray(LogicalType elementType, ArrayData array) {
        int size = array.size();
        byte[] nulls = new byte[(size + 7) / 8];
        for (int i = 0; i < size; i++) {
            if (array.isNullAt(i)) {
                nulls[i / 8] |= (byte) (1 << (i % 8));
            }
        }
        ensure(4 + nulls.length);
        buffer.putInt(size).put(nulls);
        ArrayData.ElementGetter getter = ArrayData.createElementGetter(elementType);
        for (int i = 0; i < size; i++) {
            if (!array.isNullAt(i)) {
                ensure(12);
                write(elementType, getter.getElementOrNull(array, i));
            }
        }
    }

    private static ArrayData readArray(LogicalType elementType, ByteBuffer in) {
        int size = in.getInt();
        byte[] nulls = new byte[(size + 7) / 8];
        in.get(nulls);
        Object[] elements = new Object[size];
        for (int i = 0; i < size; i++) {
            if ((nulls[i / 8] & (1 << (i % 8))) == 0) {
                elements[i] = read(elementType, in);
            }
        }
        return new GenericArrayData(elements);
    }

    private static byte[] readBytes(ByteBuffer in) {
        byte[] bytes = new byte[in.getInt()];
        in.get(bytes);
        return bytes;
    }
}
