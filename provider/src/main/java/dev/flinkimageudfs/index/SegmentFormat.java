package dev.flinkimageudfs.index;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The files of an index folder. A segment file, little-endian:
 *
 * <pre>
 *   header   "FIIXSEG1" | int32 dimension | int32 n | n bytes UTF-8: the columns ({@link IndexSchema#layout})
 *   records  float32[dimension] unit-length vector | int32 m | m bytes: the other columns ({@link RowCodec})
 *   footer   int64 record count | "FIIXEND1"
 * </pre>
 *
 * A sink subtask writes {@code .segment-<millis>-<subtask>-<uuid>.fiix.inprogress} (hidden) and a
 * checkpoint's commit renames it to {@code segment-<millis>-<subtask>-<uuid>.fiix}: only committed
 * names are ever searched, and a committed file is never written again.
 */
final class SegmentFormat {

    static final byte[] MAGIC = "FIIXSEG1".getBytes(StandardCharsets.US_ASCII);
    static final byte[] FOOTER_MAGIC = "FIIXEND1".getBytes(StandardCharsets.US_ASCII);
    static final int FOOTER_BYTES = 16;
    private static final String PREFIX = "segment-";
    private static final String SUFFIX = ".fiix";
    private static final String IN_PROGRESS_SUFFIX = ".inprogress";

    private SegmentFormat() {}

    /** A new committed name, ordered by creation time. */
    static String newName(int subtask) {
        return String.format("%s%013d-%d-%s%s", PREFIX, System.currentTimeMillis(), subtask, UUID.randomUUID(), SUFFIX);
    }

    static Path inProgress(Path folder, String name) {
        return folder.resolve("." + name + IN_PROGRESS_SUFFIX);
    }

    static boolean isCommitted(String fileName) {
        return fileName.startsWith(PREFIX) && fileName.endsWith(SUFFIX);
    }

    /** The committed segment files of {@code folder}, by name (creation time); none if it is missing. */
    static List<Path> committed(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) {
            return Collections.emptyList();
        }
        List<Path> files = new ArrayList<>();
        try (Stream<Path> listing = Files.list(folder)) {
            listing.filter(file -> isCommitted(file.getFileName().toString())).forEach(files::add);
        } catch (NoSuchFileException e) {
            return Collections.emptyList();
        }
        Collections.sort(files);
        return files;
    }
}
