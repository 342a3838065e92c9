package dev.flinkimageudfs.format;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.connector.file.table.FileSystemConnectorOptions;

import java.time.Duration;

/**
 * Options of the {@code whole-file} connector. {@code path}, {@code source.monitor-interval} and
 * {@code partition.default-name} are the filesystem connector's; {@code max-file-size}, {@code
 * oversize-handling} and {@code unreadable-handling} are the format's ({@link
 * WholeFileFormatOptions}), unprefixed.
 */
public final class WholeFileConnectorOptions {

    public static final ConfigOption<String> PATH = FileSystemConnectorOptions.PATH;

    public static final ConfigOption<Duration> SOURCE_MONITOR_INTERVAL =
            FileSystemConnectorOptions.SOURCE_MONITOR_INTERVAL;

    public static final ConfigOption<String> PARTITION_DEFAULT_NAME =
            FileSystemConnectorOptions.PARTITION_DEFAULT_NAME;

    public static final ConfigOption<Integer> SOURCE_SPLIT_MAX_FILES =
            ConfigOptions.key("source.split.max-files")
                    .intType()
                    .defaultValue(1000)
                    .withDescription(
                            "Most files in one split (default: 1000). A listing is spread over"
                                    + " about 4 splits per reader, each of at most this many"
                                    + " files; each split costs one request to the enumerator,"
                                    + " so small files read much faster many to a split.");

    public static final ConfigOption<Boolean> SOURCE_FOLLOW_DIRECTORY_LINKS =
            ConfigOptions.key("source.follow-directory-links")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Whether symbolic links to folders are listed (default: false: such"
                                    + " an entry is skipped with a warning). Links to files are"
                                    + " always read; a folder reached twice is listed once.");

    public static final ConfigOption<Boolean> SOURCE_CONFINE_TO_PATH =
            ConfigOptions.key("source.confine-to-path")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Whether entries that resolve outside 'path' (symbolic links to"
                                    + " files or folders elsewhere) are skipped with a warning"
                                    + " (default: false: they are read).");

    private WholeFileConnectorOptions() {}
}
