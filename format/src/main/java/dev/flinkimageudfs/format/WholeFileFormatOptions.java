package dev.flinkimageudfs.format;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/**
 * Options for the {@code whole-file} format. In DDL they are prefixed with the format identifier,
 * e.g. {@code 'whole-file.max-file-size' = '1 mb'}.
 */
public final class WholeFileFormatOptions {

    public static final ConfigOption<MemorySize> MAX_FILE_SIZE =
            ConfigOptions.key("max-file-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("64 mb"))
                    .withDescription(
                            "Largest file that is loaded into memory as one row (default: 64 mb,"
                                    + " at most 2 gb). What happens to bigger files is decided by"
                                    + " 'oversize-handling'; they are never read.");

    public static final ConfigOption<OversizeHandling> OVERSIZE_HANDLING =
            ConfigOptions.key("oversize-handling")
                    .enumType(OversizeHandling.class)
                    .defaultValue(OversizeHandling.NULL_ROW)
                    .withDescription(
                            "What to do with a file bigger than 'max-file-size' (default:"
                                    + " 'null-row'). 'null-row' emits a row whose image is NULL"
                                    + " (metadata columns still carry path and size) and logs a"
                                    + " warning; 'skip' emits nothing and logs a warning; 'fail'"
                                    + " fails the job.");

    public static final ConfigOption<OversizeHandling> UNREADABLE_HANDLING =
            ConfigOptions.key("unreadable-handling")
                    .enumType(OversizeHandling.class)
                    .defaultValue(OversizeHandling.NULL_ROW)
                    .withDescription(
                            "What to do with a listed file that cannot be read as listed (default:"
                                    + " 'null-row'): it vanished, shrank or grew since it was"
                                    + " listed, is no longer a regular file (a FIFO is never"
                                    + " opened), or cannot be opened. 'null-row' emits a row whose"
                                    + " image is NULL (the connector's 'file.read-error' metadata"
                                    + " column says why) and logs a warning; 'skip' emits nothing"
                                    + " and logs a warning; 'fail' fails the job.");

    /** Closed value set of {@link #OVERSIZE_HANDLING} and {@link #UNREADABLE_HANDLING}. */
    public enum OversizeHandling {
        NULL_ROW("null-row"),
        SKIP("skip"),
        FAIL("fail");

        private final String value;

        OversizeHandling(String value) {
            this.value = value;
        }

        /** The option value as written in DDL; Flink parses enum options by their string form. */
        @Override
        public String toString() {
            return value;
        }
    }

    /** The option's key as written in DDL, e.g. {@code 'whole-file.max-file-size'}. */
    public static String qualifiedKey(ConfigOption<?> option) {
        return WholeFileFormatFactory.IDENTIFIER + "." + option.key();
    }

    private WholeFileFormatOptions() {}
}
