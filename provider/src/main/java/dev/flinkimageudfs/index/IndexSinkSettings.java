package dev.flinkimageudfs.index;

import dev.flinkimageudfs.index.ImageIndexOptions.InvalidVectorHandling;

import java.io.Serializable;
import java.nio.file.Path;
import java.nio.file.Paths;

/** What the sink needs at run time, from the table's schema and options. */
final class IndexSinkSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    final IndexSchema schema;
    final String path;
    final InvalidVectorHandling invalidVectors;
    final int segmentMaxVectors;

    IndexSinkSettings(IndexSchema schema, String path, InvalidVectorHandling invalidVectors, int segmentMaxVectors) {
        this.schema = schema;
        this.path = path;
        this.invalidVectors = invalidVectors;
        this.segmentMaxVectors = segmentMaxVectors;
    }

    Path folder() {
        return folderOf(path);
    }

    /** A folder path or a {@code file:} URI. */
    static Path folderOf(String path) {
        return path.startsWith("file:") ? Paths.get(java.net.URI.create(path)) : Paths.get(path);
    }
}
