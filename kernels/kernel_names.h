// kernel_names.h - the one list of the project's CUDA kernels, grouped by
// the file (op family) that defines them. Everything else is derived from
// it:
//   * the emulator's registry (internal/backend/cuda/emu_kernels.cc
//     includes this file with SIMCLR_KERNEL defined);
//   * the Go list the backend checks a loaded fatbin against
//     (internal/backend/cuda/kernel_names_gen.go, written by
//     `go generate ./internal/backend/cuda`);
//   * TestKernelListMatchesSources fails when a __global__ function in
//     kernels/*.cu is missing here, or a name here has no definition.
// Add a kernel: define it in its family's .cu file, add one line here, run
// `go generate ./internal/backend/cuda`.
// elementwise.cu
SIMCLR_KERNEL(add_f32)
SIMCLR_KERNEL(fill_f32)
SIMCLR_KERNEL(relu_fwd)
SIMCLR_KERNEL(relu_bwd)
// reduce.cu
SIMCLR_KERNEL(sumsq_partial)
SIMCLR_KERNEL(dot_partial)
// conv.cu
SIMCLR_KERNEL(conv2d_fwd)
SIMCLR_KERNEL(conv2d_fwd_tf32)
SIMCLR_KERNEL(conv2d_fwd_bf16)
SIMCLR_KERNEL(conv2d_bwd_data)
SIMCLR_KERNEL(conv2d_bwd_data_tf32)
SIMCLR_KERNEL(conv2d_bwd_data_bf16)
SIMCLR_KERNEL(conv2d_bwd_filter)
SIMCLR_KERNEL(conv2d_bwd_filter_tf32)
SIMCLR_KERNEL(conv2d_bwd_filter_bf16)
SIMCLR_KERNEL(splitk_reduce)
// linear.cu
SIMCLR_KERNEL(linear_fwd)
SIMCLR_KERNEL(linear_fwd_tf32)
SIMCLR_KERNEL(linear_fwd_bf16)
SIMCLR_KERNEL(linear_bwd_data)
SIMCLR_KERNEL(linear_bwd_data_tf32)
SIMCLR_KERNEL(linear_bwd_data_bf16)
SIMCLR_KERNEL(linear_bwd_weight)
SIMCLR_KERNEL(linear_bwd_weight_tf32)
SIMCLR_KERNEL(linear_bwd_weight_bf16)
SIMCLR_KERNEL(linear_bwd_bias)
// tc.cu
SIMCLR_KERNEL(convert_bf16)
SIMCLR_KERNEL(nchw_to_nhwc_bf16)
SIMCLR_KERNEL(convert_tf32)
SIMCLR_KERNEL(nchw_to_nhwc_tf32)
SIMCLR_KERNEL(gemm_nt_bf16_tc)
SIMCLR_KERNEL(gemm_nt_bf16_tc_s)
SIMCLR_KERNEL(conv2d_fwd_bf16_tc)
SIMCLR_KERNEL(conv2d_fwd_bf16_tc_s)
SIMCLR_KERNEL(conv2d_fwd_bf16_tc_tap)
SIMCLR_KERNEL(conv2d_fwd_bf16_tc_tap_s)
SIMCLR_KERNEL(conv2d_bwd_data_bf16_tc)
SIMCLR_KERNEL(conv2d_bwd_data_bf16_tc_s)
SIMCLR_KERNEL(conv2d_bwd_data_bf16_tc_tap)
SIMCLR_KERNEL(conv2d_bwd_data_bf16_tc_tap_s)
SIMCLR_KERNEL(conv2d_bwd_filter_bf16_tc)
SIMCLR_KERNEL(conv2d_bwd_filter_bf16_tc_s)
SIMCLR_KERNEL(conv2d_bwd_filter_bf16_tc_tap)
SIMCLR_KERNEL(conv2d_bwd_filter_bf16_tc_tap_s)
SIMCLR_KERNEL(gemm_nt_tf32_tc)
SIMCLR_KERNEL(gemm_nt_tf32_tc_s)
SIMCLR_KERNEL(conv2d_fwd_tf32_tc)
SIMCLR_KERNEL(conv2d_fwd_tf32_tc_s)
SIMCLR_KERNEL(conv2d_fwd_tf32_tc_tap)
SIMCLR_KERNEL(conv2d_fwd_tf32_tc_tap_s)
SIMCLR_KERNEL(conv2d_bwd_data_tf32_tc)
SIMCLR_KERNEL(conv2d_bwd_data_tf32_tc_s)
SIMCLR_KERNEL(conv2d_bwd_data_tf32_tc_tap)
SIMCLR_KERNEL(conv2d_bwd_data_tf32_tc_tap_s)
SIMCLR_KERNEL(conv2d_bwd_filter_tf32_tc)
SIMCLR_KERNEL(conv2d_bwd_filter_tf32_tc_s)
SIMCLR_KERNEL(conv2d_bwd_filter_tf32_tc_tap)
SIMCLR_KERNEL(conv2d_bwd_filter_tf32_tc_tap_s)
// similarity.cu
SIMCLR_KERNEL(similarity_fwd)
SIMCLR_KERNEL(similarity_bwd)
// batchnorm.cu
SIMCLR_KERNEL(bn_sum_partial)
SIMCLR_KERNEL(bn_sq_partial)
SIMCLR_KERNEL(bn_train_finish)
SIMCLR_KERNEL(bn_eval_scale)
SIMCLR_KERNEL(bn_apply_scale)
SIMCLR_KERNEL(bn_apply)
SIMCLR_KERNEL(bn_bwd_partial)
SIMCLR_KERNEL(bn_bwd_finish)
SIMCLR_KERNEL(bn_bwd_apply)
// pooling.cu
SIMCLR_KERNEL(maxpool_fwd)
SIMCLR_KERNEL(maxpool_bwd)
SIMCLR_KERNEL(gap_fwd)
SIMCLR_KERNEL(gap_bwd)
// l2norm.cu
SIMCLR_KERNEL(l2norm_fwd)
SIMCLR_KERNEL(l2norm_bwd)
// loss.cu
SIMCLR_KERNEL(ntxent_rows)
SIMCLR_KERNEL(softmax_ce_rows)
SIMCLR_KERNEL(mean_rows_f64)
// ntxent_fused.cu
SIMCLR_KERNEL(ntxent_fused_fwd)
SIMCLR_KERNEL(ntxent_fused_bwd)
// optim.cu
SIMCLR_KERNEL(momentum_step)
SIMCLR_KERNEL(adamw_step)
SIMCLR_KERNEL(lars_norms_partial)
SIMCLR_KERNEL(lars_trust)
SIMCLR_KERNEL(lars_apply)
SIMCLR_KERNEL(sumsq_multi)
SIMCLR_KERNEL(momentum_multi)
SIMCLR_KERNEL(adamw_multi)
