package dev.flinkimageudfs.model;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A folder only this user can write to, and the verified files in it: what native libraries are
 * loaded from. A shared, predictable folder (under {@code /tmp}) can be made first by another
 * user, who could then put their own code where a library is expected. So every folder on the way
 * is created with mode 0700 or, when it exists, checked without following links: a directory, not
 * a symbolic link, owned by this user, and open to nobody else (a folder of this user that is
 * open to others is closed, with a warning). Every file is checked against the SHA-256 the build
 * recorded before it is used, and a file that is missing, not a regular file of this user, or has
 * other content is replaced by the jar's copy, with a warning. Unfinished extractions ({@code
 * .part} files) older than an hour are removed.
 */
final class PrivateFolder {

    private static final Logger LOG = LoggerFactory.getLogger(PrivateFolder.class);
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OTHERS =
            EnumSet.of(
                    PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
                    PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    private static final String PART = ".part";
    private static final Duration STALE_PART = Duration.ofHours(1);

    private final Path path;
    private final String hint; // how to choose another folder, for messages

    private PrivateFolder(Path path, String hint) {
        this.path = path;
        this.hint = hint;
    }

    /** {@code path}, created if missing (mode 0700) or checked, its stale parts removed. */
    static PrivateFolder open(Path path, String hint) {
        PrivateFolder folder = new PrivateFolder(path.toAbsolutePath().normalize(), hint);
        folder.createOrCheck();
        folder.removeStaleParts();
        return folder;
    }

    /** A folder inside this one, with the same guarantees. */
    PrivateFolder child(String name) {
        return open(path.resolve(name), hint);
    }

    Path path() {
        return path;
    }

    private void createOrCheck() {
        try {
            Files.createDirectories(path.getParent());
            Files.createDirectory(path, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        } catch (FileAlreadyExistsException e) {
            // checked below
        } catch (IOException e) {
            throw refused("cannot be created: " + e);
        }
        BasicFileAttributes attributes = attributes(path);
        if (attributes == null || attributes.isSymbolicLink() || !attributes.isDirectory()) {
            throw refused(attributes == null ? "vanished" : attributes.isSymbolicLink() ? "is a symbolic link" : "is not a folder");
        }
        int owner = owner(path);
        if (owner != currentUser()) {
            throw refused("is owned by uid " + owner + ", not by this user (uid " + currentUser() + ")");
        }
        try {
            Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS);
            if (permissions.stream().anyMatch(OTHERS::contains)) {
                LOG.warn("Native library folder {} was open to other users ({}); closing it to {} and checking every file in it",
                        path, PosixFilePermissions.toString(permissions), PosixFilePermissions.toString(OWNER_ONLY));
                Files.setPosixFilePermissions(path, OWNER_ONLY);
            }
        } catch (IOException e) {
            throw refused("cannot be checked: " + e);
        }
    }

    private IllegalStateException refused(String why) {
        return new IllegalStateException(
                "openvino provider: refusing to load native libraries from " + path + ": it " + why
                        + "; remove it, or " + hint);
    }

    private void removeStaleParts() {
        Instant cutoff = Instant.now().minus(STALE_PART);
        try (DirectoryStream<Path> parts = Files.newDirectoryStream(path, "*" + PART)) {
            for (Path part : parts) {
                BasicFileAttributes attributes = attributes(part);
                if (attributes != null && attributes.lastModifiedTime().toInstant().isBefore(cutoff)) {
                    Files.deleteIfExists(part); // another JVM's extraction that never finished
                    LOG.info("Removed an unfinished extraction {}", part);
                }
            }
        } catch (IOException e) {
            LOG.warn("Cannot clean {} of unfinished extractions", path, e);
        }
    }

    /**
     * The file {@code name} of this folder with content {@code sha256}: kept if it is a regular
     * file of this user with that content, else (re)written from {@code source} and checked.
     */
    Path verified(String name, String sha256, Supplier<InputStream> source) {
        Path target = path.resolve(name);
        String problem = problem(target, sha256);
        if (problem == null) {
            return target;
        }
        if (!"missing".equals(problem)) {
            LOG.warn("Replacing native library {}: {}", target, problem);
        }
        try {
            Path part = Files.createTempFile(path, "." + name + ".", PART); // mode 0600
            try {
                try (InputStream in = source.get();
                        OutputStream out = Files.newOutputStream(part)) {
                    in.transferTo(out);
                }
                Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(part);
            }
        } catch (IOException e) {
            throw refused("cannot take " + name + ": " + e);
        }
        String after = problem(target, sha256);
        if (after != null) {
            throw refused("holds " + name + " which still fails its check after being replaced (" + after + ")");
        }
        return target;
    }

    /** Why {@code file} is not the expected library, or null when it is. */
    private String problem(Path file, String sha256) {
        BasicFileAttributes attributes = attributes(file);
        if (attributes == null) {
            return "missing";
        }
        if (attributes.isSymbolicLink()) {
            return "a symbolic link";
        }
        if (!attributes.isRegularFile()) {
            return "not a regular file";
        }
        if (owner(file) != currentUser()) {
            return "owned by uid " + owner(file);
        }
        String actual = sha256(file);
        return sha256.equalsIgnoreCase(actual) ? null : "SHA-256 " + actual + ", expected " + sha256 + " (from the jar)";
    }

    /** SHA-256 of a file read without following links (O_NOFOLLOW). */
    private String sha256(Path file) {
        MessageDigest digest = digest();
        ByteBuffer buffer = ByteBuffer.allocate(1 << 16);
        try (SeekableByteChannel in = Files.newByteChannel(file, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            while (in.read(buffer) >= 0) {
                buffer.flip();
                digest.update(buffer);
                buffer.clear();
            }
        } catch (IOException e) {
            return "unreadable (" + e + ")";
        }
        return hex(digest.digest());
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static BasicFileAttributes attributes(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return null;
        }
    }

    private static int owner(Path file) {
        try {
            return (Integer) Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | UnsupportedOperationException e) {
            return -1;
        }
    }

    /** The effective uid of this process (Linux: /proc/self/status); the jar's libraries are Linux-only. */
    private static int currentUser() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.split("\\s+")[2]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // below
        }
        throw new IllegalStateException("openvino provider: cannot tell this process's user id from /proc/self/status");
    }

    private static String hex(byte[] bytes) {
        StringBuilder text = new StringBuilder(2 * bytes.length);
        for (byte b : bytes) {
            text.append(Character.forDigit((b >> 4) & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
        }
        return text.toString();
    }
}
