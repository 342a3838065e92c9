package dev.flinkimageudfs.index;

import org.apache.flink.table.data.ArrayData;

/** Checks a vector and scales it to unit length: the index compares vectors by cosine. */
final class Vectors {

    /** Why a vector cannot be stored or searched for; the message completes "column 'x' ...". */
    static final class InvalidVectorException extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidVectorException(String reason) {
            super(reason, null, false, false);
        }
    }

    private Vectors() {}

    /** {@code array} as a new L2-normalised float[] of {@code dimension} elements. */
    static float[] normalised(ArrayData array, int dimension) throws InvalidVectorException {
        if (array == null) {
            throw new InvalidVectorException("is NULL");
        }
        if (array.size() != dimension) {
            throw new InvalidVectorException("has " + array.size() + " elements, expected " + dimension);
        }
        float[] vector = new float[dimension];
        double squares = 0;
        for (int i = 0; i < dimension; i++) {
            if (array.isNullAt(i)) {
                throw new InvalidVectorException("has a NULL element at index " + i);
            }
            float value = array.getFloat(i);
            if (!Float.isFinite(value)) {
                throw new InvalidVectorException("has a non-finite element (" + value + ") at index " + i);
            }
            vector[i] = value;
            squares += (double) value * value;
        }
        if (squares == 0) {
            throw new InvalidVectorException("is all zeros, which has no direction to compare");
        }
        float scale = (float) (1 / Math.sqrt(squares));
        for (int i = 0; i < dimension; i++) {
            vector[i] *= scale;
        }
        return vector;
    }

    static double dot(float[] a, float[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += (double) a[i] * b[i];
        }
        return sum;
    }
}
