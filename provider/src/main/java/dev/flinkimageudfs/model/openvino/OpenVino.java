package dev.flinkimageudfs.model.openvino;

import dev.flinkimageudfs.model.nativelib.NativeLibraries;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;

import java.util.Objects;
import java.util.function.IntSupplier;

/** The loaded OpenVINO C API plus the few helpers every caller needs: status checks and shapes. */
final class OpenVino {

    private static OpenVino instance;

    final OpenVinoC c;
    private final String libraryPath;

    private OpenVino(OpenVinoC c, String libraryPath) {
        this.c = c;
        this.libraryPath = libraryPath;
    }

    /** The API, loaded on first use (see {@link NativeLibraries#openVino}). */
    static synchronized OpenVino get(String libraryPath) {
        String path = libraryPath == null ? "" : libraryPath;
        if (instance == null) {
            instance = new OpenVino(NativeLibraries.openVino(OpenVinoC.class, path), path);
        } else if (!Objects.equals(instance.libraryPath, path)) {
            throw new IllegalStateException(
                    "openvino provider: OpenVINO is already loaded in this job from '"
                            + (instance.libraryPath.isEmpty() ? "the jar" : instance.libraryPath)
                            + "'; every model of a job must use the same 'library-path'");
        }
        return instance;
    }

    /**
     * The lock around every C call whose error message is read. OpenVINO keeps one last-error
     * message for the whole process (not per thread), so the message must be copied right after
     * the failing call, before another thread's call can replace it. It is JVM-wide: every job
     * loads this class in its own class loader, while the library (and its message) is shared;
     * a string literal is one interned object for all of them.
     */
    private static final Object LAST_ERROR_LOCK = "dev.flinkimageudfs.model.openvino.last-error";

    /**
     * Runs {@code call} (a C call returning an {@code ov_status_e}); throws {@link
     * OpenVinoException} naming {@code what}, with OpenVINO's message, unless it succeeds.
     */
    void check(IntSupplier call, String what) {
        int status;
        String message;
        synchronized (LAST_ERROR_LOCK) {
            status = call.getAsInt();
            message = status == 0 ? null : lastErrorMessage();
        }
        if (status != 0) {
            throw new OpenVinoException(what + ": " + describe(status, message), status);
        }
    }

    /** Null if {@code call} succeeds, else the first line of OpenVINO's message. */
    String failure(IntSupplier call) {
        int status;
        String message;
        synchronized (LAST_ERROR_LOCK) {
            status = call.getAsInt();
            message = status == 0 ? null : lastErrorMessage();
        }
        return status == 0 ? null : describe(status, message);
    }

    private String describe(int status, String message) {
        return firstLine(message == null || message.isBlank() ? c.ov_get_error_info(status) : message);
    }

    /**
     * For the calls that wait for inference ({@code infer}, {@code wait}), which must not hold
     * the lock: the message comes from the status alone (a static string), never from another
     * thread's failure.
     */
    void checkInference(int status, String what) {
        if (status != 0) {
            throw new OpenVinoException(what + ": " + c.ov_get_error_info(status) + " (status " + status + ")", status);
        }
    }

    /** OpenVINO's copy of the last message, freed here ({@code ov_get_last_err_msg} allocates). */
    private String lastErrorMessage() {
        Pointer copy = c.ov_get_last_err_msg();
        if (copy == null) {
            return null;
        }
        try {
            return copy.getString(0, "UTF-8");
        } finally {
            c.ov_free(copy);
        }
    }

    /** A string property of a compiled model, e.g. {@code INFERENCE_PRECISION_HINT}. */
    String property(Pointer compiledModel, String key) {
        PointerByReference value = new PointerByReference();
        check(() -> c.ov_compiled_model_get_property(compiledModel, key, value), "get property " + key);
        try {
            return value.getValue().getString(0);
        } finally {
            c.ov_free(value.getValue());
        }
    }

    /** A device property, e.g. the CPU's {@code OPTIMIZATION_CAPABILITIES}, read through a core of its own. */
    String deviceProperty(String device, String key) {
        PointerByReference core = new PointerByReference();
        check(() -> c.ov_core_create(core), "create OpenVINO core");
        try {
            PointerByReference value = new PointerByReference();
            check(() -> c.ov_core_get_property(core.getValue(), device, key, value), "get property " + key + " of " + device);
            try {
                return value.getValue().getString(0);
            } finally {
                c.ov_free(value.getValue());
            }
        } finally {
            c.ov_core_free(core.getValue());
        }
    }

    /**
     * The partial shape of a port as {min, max} per dimension; {@code null} for a dynamic rank.
     * {@code ov_partial_shape_t} is {rank: {int64 min, int64 max}, ov_dimension_t* dims}.
     */
    long[][] partialShape(Pointer port) {
        Memory shape = new Memory(24);
        check(() -> c.ov_port_get_partial_shape(port, shape), "get partial shape");
        try {
            long rankMin = shape.getLong(0);
            long rankMax = shape.getLong(8);
            if (rankMin != rankMax || rankMin < 0) {
                return null;
            }
            Pointer dims = shape.getPointer(16);
            long[][] result = new long[(int) rankMin][];
            for (int i = 0; i < result.length; i++) {
                result[i] = new long[] {dims.getLong(16L * i), dims.getLong(16L * i + 8)};
            }
            return result;
        } finally {
            c.ov_partial_shape_free(shape);
        }
    }

    static boolean isStatic(long[] dimension) {
        return dimension[0] == dimension[1] && dimension[0] >= 0;
    }

    static String describe(long[][] shape) {
        if (shape == null) {
            return "[...]";
        }
        StringBuilder text = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                text.append(',');
            }
            text.append(isStatic(shape[i]) ? Long.toString(shape[i][0]) : "?");
        }
        return text.append(']').toString();
    }

    static String firstLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        for (String line : message.strip().split("\n")) {
            if (!line.isBlank()) {
                return line.strip();
            }
        }
        return message.strip();
    }
}
