package dev.flinkimageudfs.format;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.table.data.RowData;

/**
 * What the format's and the connector's readers share: files are read whole (never split), with
 * {@link FileLoader} applying the size limit, into rows of the type the planner asked for.
 */
abstract class WholeFileReaderFormat<SplitT extends FileSourceSplit>
        implements BulkFormat<RowData, SplitT> {

    private static final long serialVersionUID = 1L;

    private final TypeInformation<RowData> producedType;
    protected final FileLoader loader;

    WholeFileReaderFormat(TypeInformation<RowData> producedType, FileLoader loader) {
        this.producedType = producedType;
        this.loader = loader;
    }

    @Override
    public boolean isSplittable() {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
