package dev.flinkimageudfs.format;

import java.io.Serializable;

/**
 * How the connector lists its folders: whether symbolic links to folders are followed ({@code
 * source.follow-directory-links}) and whether entries resolving outside the table's path are
 * skipped ({@code source.confine-to-path}).
 */
final class ListingPolicy implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The defaults: links to folders are not followed, links outside the path are read. */
    static final ListingPolicy DEFAULT = new ListingPolicy(false, false);

    final boolean followDirectoryLinks;
    final boolean confineToPath;

    ListingPolicy(boolean followDirectoryLinks, boolean confineToPath) {
        this.followDirectoryLinks = followDirectoryLinks;
        this.confineToPath = confineToPath;
    }
}
