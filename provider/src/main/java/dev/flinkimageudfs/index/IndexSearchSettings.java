package dev.flinkimageudfs.index;

import dev.flinkimageudfs.index.ImageIndexOptions.Precision;
import dev.flinkimageudfs.model.openvino.VectorSearchModel;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.Objects;

/** What a searching task needs, from the table's schema and options; equal settings share one index per JVM. */
final class IndexSearchSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    final IndexSchema schema;
    final String path;
    final Precision precision;
    final long refreshIntervalMillis;
    final int maxBatchSize;
    final int blockSize;
    final String libraryPath;

    IndexSearchSettings(IndexSchema schema, String path, Precision precision, long refreshIntervalMillis,
                        int maxBatchSize, int blockSize, String libraryPath) {
        this.schema = schema;
        this.path = path;
        this.precision = precision;
        this.refreshIntervalMillis = refreshIntervalMillis;
        this.maxBatchSize = maxBatchSize;
        this.blockSize = blockSize;
        this.libraryPath = libraryPath;
    }

    Path folder() {
        return IndexSinkSettings.folderOf(path);
    }

    VectorSearchModel.Storage storage() {
        return VectorSearchModel.Storage.valueOf(precision.name());
    }

    /** Candidates each block returns for a query of {@code k}: more than k when scores are approximate. */
    int candidates(int k) {
        return precision == Precision.F32 ? k : 2 * k + 16;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof IndexSearchSettings)) {
            return false;
        }
        IndexSearchSettings that = (IndexSearchSettings) other;
        return path.equals(that.path) && schema.layout().equals(that.schema.layout())
                && schema.dimension == that.schema.dimension && precision == that.precision
                && refreshIntervalMillis == that.refreshIntervalMillis && maxBatchSize == that.maxBatchSize
                && blockSize == that.blockSize && libraryPath.equals(that.libraryPath);
    }

    @Override
    public int hashCode() {
        return Objects.hash(path, schema.layout(), precision, blockSize);
    }

    @Override
    public String toString() {
        return "'" + path + "' (" + precision + ")";
    }
}
