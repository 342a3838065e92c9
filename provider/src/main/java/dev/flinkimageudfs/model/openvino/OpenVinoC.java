package dev.flinkimageudfs.model.openvino;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The part of OpenVINO's C API ({@code openvino/c/openvino.h}) the provider calls, mapped by JNA.
 * Every function returns an {@code ov_status_e} (0 = OK) unless it is declared {@code void};
 * {@link OpenVino#check} turns a failure into an exception carrying OpenVINO's message.
 *
 * <p>Structs passed by pointer ({@code ov_partial_shape_t}, {@code ov_shape_t}) are plain memory
 * read at fixed offsets by {@link OpenVino}; {@code size_t} is a Java {@code long} (64-bit Linux).
 */
public interface OpenVinoC extends Library {

    // ov_element_type_e
    int ELEMENT_BF16 = 2;
    int ELEMENT_F16 = 3;
    int ELEMENT_F32 = 4;
    int ELEMENT_F64 = 5;
    int ELEMENT_I8 = 7;
    int ELEMENT_I32 = 9;
    int ELEMENT_I64 = 10;
    int ELEMENT_U8 = 16;

    // ov_color_format_e
    int COLOR_RGB = 5;
    int COLOR_BGR = 6;

    /** A copy of the process-wide last error message (or null), to be freed with {@link #ov_free}. */
    Pointer ov_get_last_err_msg();

    String ov_get_error_info(int status);

    void ov_free(Pointer content);

    int ov_core_create(PointerByReference core);

    void ov_core_free(Pointer core);

    /** The value is a string the caller frees with {@link #ov_free}. */
    int ov_core_get_property(Pointer core, String deviceName, String propertyKey, PointerByReference value);

    int ov_core_read_model(Pointer core, String modelPath, String binPath, PointerByReference model);

    /** Variadic: {@code propertyArgsSize} strings follow, alternating key and value. */
    int ov_core_compile_model(
            Pointer core,
            Pointer model,
            String device,
            long propertyArgsSize,
            PointerByReference compiledModel,
            Object... keysAndValues);

    void ov_model_free(Pointer model);

    int ov_model_inputs_size(Pointer model, LongByReference size);

    int ov_model_outputs_size(Pointer model, LongByReference size);

    int ov_model_const_input(Pointer model, PointerByReference port);

    int ov_model_const_output(Pointer model, PointerByReference port);

    int ov_model_const_output_by_index(Pointer model, long index, PointerByReference port);

    /** The port's tensor name into {@code name}, a string the caller frees with {@link #ov_free}. */
    int ov_port_get_any_name(Pointer port, PointerByReference name);

    int ov_model_reshape_by_port_indexes(
            Pointer model, long[] portIndexes, Pointer partialShapes, long size);

    int ov_port_get_partial_shape(Pointer port, Pointer partialShape);

    int ov_port_get_element_type(Pointer port, IntByReference elementType);

    void ov_output_const_port_free(Pointer port);

    int ov_partial_shape_create_static(long rank, long[] dims, Pointer partialShape);

    void ov_partial_shape_free(Pointer partialShape);

    int ov_layout_create(String description, PointerByReference layout);

    void ov_layout_free(Pointer layout);

    int ov_preprocess_prepostprocessor_create(Pointer model, PointerByReference ppp);

    void ov_preprocess_prepostprocessor_free(Pointer ppp);

    int ov_preprocess_prepostprocessor_get_input_info(Pointer ppp, PointerByReference inputInfo);

    void ov_preprocess_input_info_free(Pointer inputInfo);

    int ov_preprocess_input_info_get_tensor_info(Pointer inputInfo, PointerByReference tensorInfo);

    void ov_preprocess_input_tensor_info_free(Pointer tensorInfo);

    int ov_preprocess_input_tensor_info_set_element_type(Pointer tensorInfo, int elementType);

    int ov_preprocess_input_tensor_info_set_layout(Pointer tensorInfo, Pointer layout);

    int ov_preprocess_input_tensor_info_set_color_format(Pointer tensorInfo, int colorFormat);

    int ov_preprocess_input_info_get_model_info(Pointer inputInfo, PointerByReference modelInfo);

    void ov_preprocess_input_model_info_free(Pointer modelInfo);

    int ov_preprocess_input_model_info_set_layout(Pointer modelInfo, Pointer layout);

    int ov_preprocess_input_info_get_preprocess_steps(Pointer inputInfo, PointerByReference steps);

    void ov_preprocess_preprocess_steps_free(Pointer steps);

    int ov_preprocess_preprocess_steps_convert_color(Pointer steps, int colorFormat);

    int ov_preprocess_preprocess_steps_convert_element_type(Pointer steps, int elementType);

    int ov_preprocess_preprocess_steps_mean_multi_channels(Pointer steps, float[] values, int count);

    int ov_preprocess_preprocess_steps_scale_multi_channels(Pointer steps, float[] values, int count);

    int ov_preprocess_prepostprocessor_get_output_info(Pointer ppp, PointerByReference outputInfo);

    int ov_preprocess_prepostprocessor_get_output_info_by_index(
            Pointer ppp, long index, PointerByReference outputInfo);

    void ov_preprocess_output_info_free(Pointer outputInfo);

    int ov_preprocess_output_info_get_tensor_info(Pointer outputInfo, PointerByReference tensorInfo);

    void ov_preprocess_output_tensor_info_free(Pointer tensorInfo);

    int ov_preprocess_output_set_element_type(Pointer tensorInfo, int elementType);

    int ov_preprocess_prepostprocessor_build(Pointer ppp, PointerByReference model);

    void ov_compiled_model_free(Pointer compiledModel);

    int ov_compiled_model_get_property(Pointer compiledModel, String key, PointerByReference value);

    int ov_compiled_model_create_infer_request(Pointer compiledModel, PointerByReference request);

    void ov_infer_request_free(Pointer request);

    int ov_infer_request_get_input_tensor_by_index(Pointer request, long index, PointerByReference tensor);

    int ov_infer_request_get_output_tensor_by_index(Pointer request, long index, PointerByReference tensor);

    int ov_infer_request_infer(Pointer request);

    int ov_infer_request_start_async(Pointer request);

    int ov_infer_request_wait(Pointer request);

    int ov_infer_request_cancel(Pointer request);

    int ov_tensor_data(Pointer tensor, PointerByReference data);

    int ov_tensor_get_byte_size(Pointer tensor, LongByReference byteSize);

    void ov_tensor_free(Pointer tensor);

    // --- graphs written as IR text, tensors on memory the caller or OpenVINO owns (vector search) ---

    /** {@code ov_shape_t} passed by value: {@code {int64_t rank; int64_t* dims}}. */
    @Structure.FieldOrder({"rank", "dims"})
    class ShapeByValue extends Structure implements Structure.ByValue {
        public long rank;
        public Pointer dims;
    }

    /** {@code model} is IR XML text of {@code length} bytes; {@code weights} the tensor its constants index into. */
    int ov_core_read_model_from_memory_buffer(
            Pointer core, String model, long length, Pointer weights, PointerByReference result);

    int ov_tensor_create(int elementType, ShapeByValue shape, PointerByReference tensor);

    int ov_tensor_create_from_host_ptr(int elementType, ShapeByValue shape, Pointer hostPointer, PointerByReference tensor);

    int ov_infer_request_set_input_tensor_by_index(Pointer request, long index, Pointer tensor);
}
