package dev.flinkimageudfs.model;

import com.sun.jna.Library;
import com.sun.jna.Native;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Finds and loads the native libraries the provider calls through JNA, the way ONNX Runtime's and
 * DJL's jars do: the build packs OpenVINO's CPU libraries (from the installed wheel) and
 * libturbojpeg under {@value #RESOURCE_FOLDER} with a manifest; they are extracted once into a
 * folder named after the manifest's fingerprint under {@code java.io.tmpdir} (reused by every job
 * and JVM of the same user, so a second job in one JVM extracts nothing) and loaded by absolute
 * path. libopenvino_c finds libopenvino, TBB, the CPU plugin and the frontends beside itself.
 *
 * <p>{@value #LIBRARY_PATH_VARIABLE} or the model option {@code library-path} names the folder of
 * an installed OpenVINO instead (e.g. {@code /opt/intel/openvino/runtime/lib/intel64}).
 *
 * <p>JNA's own native part: Flink loads every job's classes through a new class loader, and a
 * JVM binds a library loaded with {@code System.loadLibrary} to the first class loader that loaded
 * it, so a second job fails to link JNA if JNA took the system copy (Debian's {@code jna.jar}
 * prefers {@code /usr/lib/jni/libjnidispatch.system.so}). {@code jna.nosys=true} makes JNA unpack
 * the {@code libjnidispatch.so} the jar carries into a fresh file per class loader instead.
 */
public final class NativeLibraries {

    public static final String LIBRARY_PATH_VARIABLE = "OPENVINO_LIBRARY_PATH";
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
            manifest.extractAll();
            library = manifest.folder().resolve(name);
            source = "the jar (extracted to " + manifest.folder() + ")";
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

    /** The packed libraries: file names plus a fingerprint of their content (from the build). */
    private static final class Manifest {
        private final String fingerprint;
        private final List<String> files;

        private Manifest(String fingerprint, List<String> files) {
            this.fingerprint = fingerprint;
            this.files = files;
        }

        static Manifest read() {
            try (InputStream in = NativeLibraries.class.getResourceAsStream(MANIFEST)) {
                if (in == null) {
                    return new Manifest("none", new ArrayList<>());
                }
                List<String> lines =
                        new ArrayList<>(
                                Arrays.asList(
                                        new String(in.readAllBytes(), StandardCharsets.UTF_8)
                                                .split("\n")));
                lines.removeIf(String::isBlank);
                return new Manifest(lines.get(0).trim(), lines.subList(1, lines.size()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        Optional<String> find(String prefix) {
            return files.stream().filter(name -> name.startsWith(prefix)).findFirst();
        }

        Path folder() {
            String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9_.-]", "_");
            return Paths.get(System.getProperty("java.io.tmpdir"))
                    .resolve("flink-image-udfs-" + user + "-native-" + fingerprint);
        }

        void extractAll() {
            files.forEach(this::extract);
        }

        /** The file in {@link #folder()}, written there first if missing (atomically). */
        Path extract(String name) {
            Path target = folder().resolve(name);
            if (Files.isRegularFile(target)) {
                return target;
            }
            try (InputStream in = NativeLibraries.class.getResourceAsStream(RESOURCE_FOLDER + name)) {
                if (in == null) {
                    throw new IllegalStateException("openvino provider: the jar lacks " + RESOURCE_FOLDER + name);
                }
                Files.createDirectories(target.getParent());
                Path part = Files.createTempFile(target.getParent(), "." + name, ".part");
                try {
                    Files.copy(in, part, StandardCopyOption.REPLACE_EXISTING);
                    moveIntoPlace(part, target);
                } finally {
                    Files.deleteIfExists(part);
                }
                return target;
            } catch (IOException e) {
                throw new UncheckedIOException(
                        "openvino provider: cannot extract " + name + " to " + target.getParent(), e);
            }
        }

        private static void moveIntoPlace(Path part, Path target) throws IOException {
            try {
                Files.move(part, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException e) {
                // another JVM extracted the same file meanwhile: same fingerprint, same bytes
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
