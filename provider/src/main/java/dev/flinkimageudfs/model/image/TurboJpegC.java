package dev.flinkimageudfs.model.image;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/** The TurboJPEG 2.x decompression API ({@code turbojpeg.h} of libjpeg-turbo), mapped by JNA. */
interface TurboJpegC extends Library {

    int TJPF_BGR = 1;
    int TJPF_CMYK = 11;
    int TJCS_CMYK = 3;
    int TJCS_YCCK = 4;
    int TJFLAG_ACCURATEDCT = 4096;
    /** libjpeg-turbo 2.1+: refuse progressive JPEGs of more than 500 scans (older: ignored). */
    int TJFLAG_LIMITSCANS = 32768;
    int TJERR_WARNING = 0;

    Pointer tjInitDecompress();

    int tjDecompressHeader3(
            Pointer handle,
            Pointer jpeg,
            long jpegSize,
            IntByReference width,
            IntByReference height,
            IntByReference subsampling,
            IntByReference colorspace);

    int tjDecompress2(
            Pointer handle,
            Pointer jpeg,
            long jpegSize,
            Pointer destination,
            int width,
            int pitch,
            int height,
            int pixelFormat,
            int flags);

    String tjGetErrorStr2(Pointer handle);

    int tjGetErrorCode(Pointer handle);

    int tjDestroy(Pointer handle);
}
