package dev.flinkimageudfs.model;

import com.sun.jna.Library;
import com.sun.jna.Native;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Finds and loads the native libraries the provider calls through JNA, the way ONNX Runtime's and
 * DJL's jars do: the build packs OpenVINO's CPU libraries (from the installed wheel) and
 * libturbojpeg under {@value #RESOURCE_FOLDER}, with a manifest of their SHA-256 sums; they are
 * extracted once into {@code <native folder>/<fingerprint>/} (reused by every job and JVM of the
 * same user and build) and loaded by absolute path. libopenvino_c finds libopenvino, TBB, the CPU
 * plugin and the frontends beside itself.
 *
 * <p>The native folder is {@code $java.io.tmpdir/flink-image-udfs-<user>}, or the one named by
 * the system property {@value #FOLDER_PROPERTY} or the environment variable {@value
 * #FOLDER_VARIABLE} (for a {@code /tmp} mounted {@code noexec}). It must be this user's alone: see
 * {@link PrivateFolder}, which also checks every file against the manifest before it is loaded.
 * JNA unpacks its own dispatch library there too ({@code jna.tmpdir}, unless already set).
 *
 * <p>{@value #LIBRARY_PATH_VARIABLE} or the model option {@code library-path} names the folder of
 * an installed OpenVINO instead (e.g. {@code /opt/intel/openvino/runtime/lib/intel64}), loaded as
 * it is: an administrator's installation.
 *
 * <p>JNA's own native part: Flink loads every job's classes through a new class loader, and a
 * JVM binds a library loaded with {@code System.loadLibrary} to the first class loader that loaded
 * it, so a second job fails to link JNA if JNA took the system copy (Debian's {@code jna.jar}
 * prefers {@code /usr/lib/jni/libjnidispatch.system.so}). {@code jna.nosys=true} makes JNA unpack
 * the {@code libjnidispatch.so} the jar carries into a fresh file per class loader instead.
 */
public final class NativeLibraries {

    public static final String LIBRARY_PATH_VARIABLE = "OPENVINO_LIBRARY_PATH";
    public static final String FOLDER_PROPERTY = "flink-image-udfs.native-dir";
    public static final String FOLDER_VARIABLE = "FLINK_IMAGE_UDFS_NATIVE_DIR";
    static final String RESOURCE_FOLDER = "/dev/flinkimageudfs/model/native/linux-x86-64/";
    private static final String MANIFEST = RESOURCE_FOLDER + "MANIFEST";
    private static final String OPENVINO_C = "libopenvino_c.so";
    private static final String TURBOJPEG = "libturbojpeg.so.0";

    private NativeLibraries() {}

    /**
     * The OpenVINO C API, from {@code libraryPath} (an installed OpenVINO's library folder), else
     * {@value #LIBRARY_PATH_VARIABLE}, else the copy inside the jar.
     */
    public static synchronized <T extends Library> T openVino(Class<T> api, String libraryPath) {
        String folder = libraryPath;
        String source = "option 'library-path'";
        if (folder == null || folder.isEmpty()) {
            folder = System.getenv(LIBRARY_PATH_VARIABLE);
            source = "environment variable " + LIBRARY_PATH_VARIABLE;
        }
        Path library;
        if (folder != null && !folder.isEmpty()) {
            library = findOpenVinoC(Paths.get(folder), source);
        } else {
            Manifest manifest = Manifest.read();
            String name =
                    manifest.find(OPENVINO_C)
                            .orElseThrow(
                                    () ->
                                            new IllegalStateException(
                                                    "openvino provider: this jar carries no OpenVINO libraries "
                                                            + "(built without them); set the model option "
                                                            + "'library-path' or "
                                                            + LIBRARY_PATH_VARIABLE
                                                            + " to the folder of an installed OpenVINO's "
                                                            + OPENVINO_C
                                                            + "*"));
            PrivateFolder extracted = manifest.extractAll();
            library = extracted.path().resolve(name);
            source = "the jar (extracted to " + extracted.path() + ")";
        }
        return load(library, api, "the OpenVINO C API from " + source);
    }

    /** libturbojpeg from the jar, else the system's ({@code apt-get install libturbojpeg0}). */
    public static synchronized <T extends Library> T turboJpeg(Class<T> api) {
        Manifest manifest = Manifest.read();
        if (manifest.find(TURBOJPEG).isPresent()) {
            return load(manifest.extract(TURBOJPEG), api, "libturbojpeg from the jar");
        }
        return load(Paths.get(TURBOJPEG), api, "the system's " + TURBOJPEG + " (Debian/Ubuntu: apt-get install libturbojpeg0)");
    }

    private static <T extends Library> T load(Path library, Class<T> api, String what) {
        nativeFolder(); // before JNA's first use: it unpacks its dispatch library into jna.tmpdir
        if (System.getProperty("jna.nosys") == null) {
            System.setProperty("jna.nosys", "true");
        }
        try {
            return Native.load(library.toString(), api);
        } catch (UnsatisfiedLinkError error) {
            throw new IllegalStateException(
                    "openvino provider: cannot load "
                            + what
                            + " at '"
                            + library
                            + "': "
                            + error.getMessage()
                            + " (JNA itself needs libffi.so.8; an installed OpenVINO is chosen with the model "
                            + "option 'library-path' or "
                            + LIBRARY_PATH_VARIABLE
                            + ")",
                    error);
        }
    }

    private static Path findOpenVinoC(Path folder, String source) {
        File[] candidates =
                folder.toFile().listFiles((dir, name) -> name.startsWith(OPENVINO_C));
        if (candidates == null || candidates.length == 0) {
            throw new IllegalStateException(
                    "openvino provider: "
                            + source
                            + " is '"
                            + folder
                            + "', which holds no "
                            + OPENVINO_C
                            + "*; name the folder of an OpenVINO installation's libraries "
                            + "(e.g. <openvino>/runtime/lib/intel64), or leave it unset to use the copy in the jar");
        }
        Arrays.sort(candidates); // libopenvino_c.so before libopenvino_c.so.<version>
        return candidates[0].toPath().toAbsolutePath();
    }

    /**
     * The native folder: {@value #FOLDER_PROPERTY}, else {@value #FOLDER_VARIABLE}, else a folder
     * of this user under {@code java.io.tmpdir}; checked (or created) by {@link PrivateFolder}.
     */
    static PrivateFolder nativeFolder() {
        String configured = System.getProperty(FOLDER_PROPERTY);
        if (configured == null || configured.isEmpty()) {
            configured = System.getenv(FOLDER_VARIABLE);
        }
        Path folder;
        if (configured != null && !configured.isEmpty()) {
            folder = Paths.get(configured);
        } else {
            String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9_.-]", "_");
            folder = Paths.get(System.getProperty("java.io.tmpdir")).resolve("flink-image-udfs-" + user);
        }
        PrivateFolder checked =
                PrivateFolder.open(
                        folder,
                        "choose another folder with the JVM option -D" + FOLDER_PROPERTY + "=<folder> or the environment "
                                + "variable " + FOLDER_VARIABLE + " (e.g. in env.java.opts.taskmanager)");
        if (System.getProperty("jna.tmpdir") == null) { // JNA's dispatch library: not in a shared folder either
            System.setProperty("jna.tmpdir", checked.path().toString());
        }
        return checked;
    }

    /** The packed libraries: their names and SHA-256 sums, plus a fingerprint of all (from the build). */
    private static final class Manifest {
        private final String fingerprint;
        private final Map<String, String> sha256; // file name -> hex digest, in build order

        private Manifest(String fingerprint, Map<String, String> sha256) {
            this.fingerprint = fingerprint;
            this.sha256 = sha256;
        }

        /** Line 1: the fingerprint; then one {@code <sha256>  <file name>} line per library. */
        static Manifest read() {
            try (InputStream in = NativeLibraries.class.getResourceAsStream(MANIFEST)) {
                Map<String, String> sums = new LinkedHashMap<>();
                if (in == null) {
                    return new Manifest("none", sums);
                }
                String[] lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n");
                for (int i = 1; i < lines.length; i++) {
                    String[] parts = lines[i].trim().split("\\s+", 2);
                    if (parts.length != 2) {
                        throw new IllegalStateException(
                                "openvino provider: " + MANIFEST + " line " + (i + 1) + " is not '<sha256>  <file>' "
                                        + "(rebuild the jar with provider/build.sh)");
                    }
                    sums.put(parts[1], parts[0]);
                }
                return new Manifest(lines[0].trim(), sums);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        Optional<String> find(String prefix) {
            return sha256.keySet().stream().filter(name -> name.startsWith(prefix)).findFirst();
        }

        /** Every library, verified, in this build's folder. */
        PrivateFolder extractAll() {
            PrivateFolder folder = nativeFolder().child(fingerprint);
            sha256.forEach((name, sum) -> folder.verified(name, sum, () -> resource(name)));
            return folder;
        }

        /** One library, verified. */
        Path extract(String name) {
            return nativeFolder().child(fingerprint).verified(name, sha256.get(name), () -> resource(name));
        }

        private static InputStream resource(String name) {
            InputStream in = NativeLibraries.class.getResourceAsStream(RESOURCE_FOLDER + name);
            if (in == null) {
                throw new IllegalStateException("openvino provider: the jar lacks " + RESOURCE_FOLDER + name);
            }
            return in;
        }
    }
}
