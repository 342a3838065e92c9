package dev.flinkimageudfs.model.openvino;

/** An OpenVINO C API call failed; the message holds OpenVINO's own first line. */
public class OpenVinoException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;

    public OpenVinoException(String message, int status) {
        super(message);
        this.status = status;
    }

    /** The {@code ov_status_e} code, e.g. -1 for GENERAL_ERROR. */
    public int status() {
        return status;
    }
}
