package dev.flinkimageudfs.index;

import java.util.ArrayList;
import java.util.List;

/**
 * Which segments to compile together. New segments are grouped into blocks of up to
 * 'search.block-size' vectors; then, like a log-structured merge, four blocks of the same size
 * class (powers of four) below the block size are merged into one, repeatedly (a merged block may
 * reach four times the block size; it is never merged again). A vector is thus
 * recompiled about log4(block size / segment size) times in all, and a streaming index of many
 * small segments keeps few blocks (at most three per size class).
 */
final class BlockPlanner {

    static final int MERGE_FACTOR = 4;

    private BlockPlanner() {}

    /** {@code segments} (in order) cut into groups of at most {@code blockSize} vectors (a larger segment alone). */
    static List<List<Segment>> group(List<Segment> segments, int blockSize) {
        List<List<Segment>> groups = new ArrayList<>();
        List<Segment> group = new ArrayList<>();
        long rows = 0;
        for (Segment segment : segments) {
            if (segment.rows == 0) {
                continue;
            }
            if (!group.isEmpty() && rows + segment.rows > blockSize) {
                groups.add(group);
                group = new ArrayList<>();
                rows = 0;
            }
            group.add(segment);
            rows += segment.rows;
        }
        if (!group.isEmpty()) {
            groups.add(group);
        }
        return groups;
    }

    /** Size class of a block: floor(log4(rows)). */
    static int sizeClass(int rows) {
        int sizeClass = 0;
        for (long limit = MERGE_FACTOR; limit <= rows; limit *= MERGE_FACTOR) {
            sizeClass++;
        }
        return sizeClass;
    }

    /**
     * The positions in {@code blocks} of the next blocks to merge: the first {@link #MERGE_FACTOR}
     * blocks of the smallest size class that has that many, among blocks below {@code blockSize};
     * empty when nothing needs merging.
     */
    static List<Integer> nextMerge(List<Block> blocks, int blockSize) {
        int smallest = -1;
        List<Integer> chosen = new ArrayList<>();
        for (int candidateClass = 0; candidateClass <= sizeClass(blockSize); candidateClass++) {
            List<Integer> members = new ArrayList<>();
            for (int i = 0; i < blocks.size(); i++) {
                Block block = blocks.get(i);
                if (block.rows < blockSize && sizeClass(block.rows) == candidateClass) {
                    members.add(i);
                }
            }
            if (members.size() >= MERGE_FACTOR) {
                smallest = candidateClass;
                chosen = members.subList(0, MERGE_FACTOR);
                break;
            }
        }
        return smallest < 0 ? List.of() : new ArrayList<>(chosen);
    }
}
