/* Switchyard plugin C ABI, version 1.
 *
 * The one boundary between the host and a plugin library. Plugins are built by other
 * compilers with other flags, so nothing but C crosses it: no exception, no C++ type.
 *
 * A plugin library exports exactly one symbol, sy_plugin_init (see the end of this file).
 *
 * Versioning
 *   SY_ABI_MAJOR changes only when an existing struct or function changes meaning; the host
 *   refuses a plugin of another major version. SY_ABI_MINOR grows when something is appended;
 *   the host refuses a plugin built against a newer minor than its own. Every struct that
 *   may grow starts with `struct_size`: fields are only appended, never reordered or removed,
 *   and a reader checks struct_size before touching a field added in a later minor.
 *   1.0: routers. 1.1: quantized tensors, quantizers, experts. 1.2: batch schedulers.
 *   1.3: communication backends; placement schedulers (expert replicas per rank).
 *        Also 1.3: expert activations (gpt-oss's clamped SwiGLU) and expert biases, appended
 *        to sy_expert_weights and sy_experts_vtable.
 *   1.4: expert prefetch hints (experts kept in host memory behind a GPU cache), appended to
 *        sy_experts_vtable.
 *   1.5: peer memory (device memory every rank's kernels read and write), appended to
 *        sy_comm_vtable.
 *
 * Ownership
 *   Every function documents who owns each pointer afterwards. In short: descriptors and
 *   strings a plugin returns from sy_plugin_init are static and live as long as the library;
 *   an sy_error returned by any function belongs to the caller, who frees it with
 *   sy_host.error_free; tensors passed into a call are borrowed for the duration of the call.
 */
#ifndef SWITCHYARD_PLUGIN_ABI_H_
#define SWITCHYARD_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_ABI_MAJOR 1
#define SY_ABI_MINOR 5

#if defined(_WIN32)
#define SY_EXPORT __declspec(dllexport)
#else
#define SY_EXPORT __attribute__((visibility("default")))
#endif

/* ---- Errors ------------------------------------------------------------------------- */

typedef enum sy_status_code {
  SY_OK = 0,
  SY_INVALID_ARGUMENT = 1,
  SY_FAILED_PRECONDITION = 2,
  SY_OUT_OF_RANGE = 3,
  SY_RESOURCE_EXHAUSTED = 4,
  SY_UNAVAILABLE = 5,
  SY_UNIMPLEMENTED = 6,
  SY_INTERNAL = 7,
} sy_status_code;

/* Opaque. Created by sy_host.error_create, freed by sy_host.error_free. A function that
 * returns sy_error* returns NULL on success. */
typedef struct sy_error sy_error;

/* ---- Tensors ------------------------------------------------------------------------ */

typedef enum sy_dtype {
  SY_DTYPE_INVALID = 0,
  SY_DTYPE_F32 = 1,
  SY_DTYPE_BF16 = 2,
  SY_DTYPE_F16 = 3,
  SY_DTYPE_FP8_E4M3 = 4, /* e4m3fn: no infinities, max 448, NaN = 0x7f/0xff */
  SY_DTYPE_I8 = 5,
  SY_DTYPE_I4 = 6, /* signed 4-bit, two per byte, element 2i in the low nibble */
  SY_DTYPE_U4 = 7, /* unsigned 4-bit (zero-point formats), packed as SY_DTYPE_I4 */
  SY_DTYPE_I32 = 8,
  SY_DTYPE_I64 = 9,
  SY_DTYPE_U8 = 10,
} sy_dtype;

typedef enum sy_device_type {
  SY_DEVICE_CPU = 0,
  SY_DEVICE_CUDA = 1,
} sy_device_type;

typedef struct sy_device {
  int32_t type;  /* sy_device_type */
  int32_t index; /* CUDA ordinal; 0 on CPU */
} sy_device;

#define SY_MAX_DIMS 8

/* A borrowed view of a tensor. Strides are in elements. Packed 4-bit tensors must be
 * contiguous in their last dimension, which has even size. */
typedef struct sy_tensor {
  void* data;
  int32_t dtype; /* sy_dtype */
  sy_device device;
  int32_t ndim;
  int64_t shape[SY_MAX_DIMS];
  int64_t strides[SY_MAX_DIMS];
} sy_tensor;

/* ---- Cap'n Proto messages ------------------------------------------------------------ */

/* A Cap'n Proto message as its segment array. Borrowed by the callee for the call only;
 * rebuild it with capnp::SegmentArrayMessageReader. */
typedef struct sy_message {
  const uint64_t* const* segments; /* segment_count pointers to 8-byte aligned words */
  const size_t* segment_words;     /* length of each segment, in words */
  size_t segment_count;
} sy_message;

/* One schema node (capnp schema.capnp `Node`) in Cap'n Proto's standard serialization
 * (segment table, then segments), as capnp::messageToFlatArray writes it. */
typedef struct sy_schema_node {
  const uint64_t* words;
  size_t word_count;
} sy_schema_node;

/* The config schema of a component: the root struct's type id and every node it needs
 * (the root, its groups, nested structs and enums). Static; lives as long as the library. */
typedef struct sy_config_schema {
  uint64_t root_type_id;
  const sy_schema_node* nodes;
  size_t node_count;
} sy_config_schema;

/* ---- What the host gives a plugin ----------------------------------------------------- */

typedef enum sy_log_level {
  SY_LOG_DEBUG = 0,
  SY_LOG_INFO = 1,
  SY_LOG_WARNING = 2,
  SY_LOG_ERROR = 3,
} sy_log_level;

typedef struct sy_host {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  /* Returns a new error; the caller owns it (a plugin returns it to the host, which frees
   * it). `message` is copied. Never returns NULL. */
  sy_error* (*error_create)(sy_status_code code, const char* message);
  /* Frees an error; NULL is allowed. */
  void (*error_free)(sy_error* error);
  /* Borrowed views of an error's fields, valid until it is freed. */
  sy_status_code (*error_code)(const sy_error* error);
  const char* (*error_message)(const sy_error* error);
  /* Writes one log line. `source` and `message` are borrowed. */
  void (*log)(sy_log_level level, const char* source, const char* message);
  /* Number of devices of a type the host can use (0 when none; CPU is always 1). */
  int32_t (*device_count)(sy_device_type type);
} sy_host;

/* Scratch memory for one call. Allocations stay valid until the call returns; the host
 * frees them. Returns NULL when out of memory. */
typedef struct sy_allocator {
  void* self;
  void* (*allocate)(void* self, size_t bytes, size_t alignment);
} sy_allocator;

/* Where and how a call runs. Borrowed for the call. */
typedef struct sy_exec_context {
  uint32_t struct_size;
  sy_device device;
  void* stream;                  /* cudaStream_t on CUDA; NULL on CPU */
  const sy_allocator* workspace; /* scratch memory on `device` */
  int32_t num_threads;           /* CPU threads the call may use (>= 1) */
} sy_exec_context;

/* ---- Components --------------------------------------------------------------------- */

typedef enum sy_component_kind {
  SY_KIND_INVALID = 0,
  SY_KIND_ROUTER = 1,
  SY_KIND_EXPERTS = 2,
  SY_KIND_COMM = 3,
  SY_KIND_SCHEDULER = 4,
  SY_KIND_QUANTIZER = 5,
} sy_component_kind;

/* Router: per-token scores over experts -> top-k expert ids and weights.
 *
 * Inputs (borrowed):  logits         [tokens, experts] f32 or bf16
 *                     token_ids      [tokens] i32, or NULL (hash routing needs it)
 *                     correction_bias [experts] f32, or NULL (selection-only bias)
 * Outputs (borrowed, allocated by the host, shapes set by the host):
 *                     expert_ids     [tokens, top_k] i32; -1 marks a dropped slot
 *                     expert_weights [tokens, top_k] f32; 0 in dropped slots
 */
typedef struct sy_router_args {
  uint32_t struct_size;
  const sy_tensor* logits;
  const sy_tensor* token_ids;
  const sy_tensor* correction_bias;
  sy_tensor* expert_ids;
  sy_tensor* expert_weights;
} sy_router_args;

typedef struct sy_router_vtable {
  uint32_t struct_size;
  /* The number of slots per token this instance writes (its k). */
  int32_t (*top_k)(const void* self);
  /* Routes one batch. Returns NULL on success, else an error the caller owns. */
  sy_error* (*route)(void* self, const sy_exec_context* ctx, const sy_router_args* args);
} sy_router_vtable;

/* ---- Quantized matrices (1.1) --------------------------------------------------------- */

/* How a matrix [rows, cols] is stored. Every format is block quantization: element (r, c) is
 *   (values[r, c] - zeros[r / block_rows, c / block_cols]) * scales[r / block_rows, c / block_cols]
 * (zeros taken as 0 when absent). Per-tensor scaling is one block of the whole matrix,
 * per-channel blocks of (1, cols), DeepSeek's fp8 blocks (128, 128), int4 groups (1, 128).
 * Without scales, values hold the numbers themselves (f32, bf16 or f16). */
typedef struct sy_qlayout {
  uint32_t struct_size;
  int32_t dtype;      /* sy_dtype of values: fp8_e4m3, i8, u4, i4, or f32/bf16/f16 */
  int32_t block_rows; /* >= 1 */
  int32_t block_cols; /* >= 1 */
  int32_t has_scales; /* scales: f32 [ceil(rows / block_rows), ceil(cols / block_cols)] */
  int32_t has_zeros;  /* zero points: u8, the shape of scales (requires has_scales) */
} sy_qlayout;

/* A quantized matrix. Borrowed wherever it is passed; tensors without data (NULL) are absent. */
typedef struct sy_qtensor {
  sy_qlayout layout;
  sy_tensor values; /* [rows, cols] */
  sy_tensor scales;
  sy_tensor zeros;
} sy_qtensor;

/* Quantizer: weights at load time, activations at run time. Layout functions describe the
 * output so the caller can allocate it; quantize functions fill caller-allocated tensors. */
typedef struct sy_quantizer_vtable {
  uint32_t struct_size;
  /* The layout of a quantized weight [rows, cols]; an error if the shape is unsupported
   * (e.g. a group size that does not divide cols). */
  sy_error* (*weight_layout)(const void* self, int64_t rows, int64_t cols, sy_qlayout* out);
  /* Quantizes `weight` (f32 [rows, cols], borrowed) into `out` (allocated by the caller per
   * weight_layout; the quantizer writes the data of its tensors). */
  sy_error* (*quantize_weight)(void* self, const sy_exec_context* ctx, const sy_tensor* weight,
                               sy_qtensor* out);
  /* The layout of a quantized activation [rows, cols]; has_scales = 0 means activations stay
   * in full precision (weight-only quantization). */
  sy_error* (*activation_layout)(const void* self, int64_t rows, int64_t cols, sy_qlayout* out);
  /* Quantizes `x` (f32 [rows, cols], borrowed) into `out` (caller-allocated). */
  sy_error* (*quantize_activation)(void* self, const sy_exec_context* ctx, const sy_tensor* x,
                                   sy_qtensor* out);
} sy_quantizer_vtable;

/* A quantizer instance lent to another component for one call. */
typedef struct sy_quantizer_ref {
  const sy_quantizer_vtable* vtable;
  void* self;
} sy_quantizer_ref;

/* ---- Experts (1.1) ---------------------------------------------------------------------- */

/* One MoE layer's expert weights, borrowed for a call. Each routed expert e computes
 *   y = down_e . (silu(gate_e . x) * (up_e . x))
 * from gate_up_e = [gate_e; up_e] ([2I, H]: rows [0, I) gate, [I, 2I) up) and down_e [H, I].
 * The shared expert, when present, is the same function of its own weights, added to every
 * token's output, scaled by sigmoid(x . shared_gate) when shared_gate is given (Qwen2-MoE). */
typedef struct sy_expert_weights {
  uint32_t struct_size;
  int32_t num_experts;
  int64_t hidden;                   /* H */
  int64_t intermediate;             /* I of each routed expert */
  const sy_qtensor* gate_up;        /* num_experts matrices [2I, H] */
  const sy_qtensor* down;           /* num_experts matrices [H, I] */
  int64_t shared_intermediate;      /* 0: no shared expert */
  const sy_qtensor* shared_gate_up; /* [2 * shared_intermediate, H] or NULL */
  const sy_qtensor* shared_down;    /* [H, shared_intermediate] or NULL */
  const sy_tensor* shared_gate;     /* f32 [H] or NULL */
  /* 1.3 (read only when struct_size covers them; a smaller struct means SILU, no biases). The
   * activation applies to the routed and the shared experts; biases only to the routed ones. */
  int32_t activation;            /* sy_expert_activation */
  float swiglu_alpha;            /* SY_ACTIVATION_CLAMPED_SWIGLU only */
  float swiglu_limit;            /* SY_ACTIVATION_CLAMPED_SWIGLU only */
  const sy_tensor* gate_up_bias; /* f32 [num_experts, 2I] (gate, then up), or NULL */
  const sy_tensor* down_bias;    /* f32 [num_experts, H], or NULL */
} sy_expert_weights;

/* How an expert turns its gate_up projection g = [gate; up] (+ gate_up_bias) into the input of
 * down (whose output gets + down_bias, then the router weight). */
typedef enum sy_expert_activation {
  SY_ACTIVATION_SILU = 0, /* silu(gate) * up */
  /* gpt-oss: gate' = min(gate, limit), up' = clamp(up, -limit, limit),
   * (up' + 1) * gate' * sigmoid(alpha * gate') */
  SY_ACTIVATION_CLAMPED_SWIGLU = 1,
} sy_expert_activation;

/* Inputs and output of experts.forward, all borrowed for the call:
 *   hidden [tokens, H] f32; expert_ids / expert_weights [tokens, k] (as a router wrote them,
 *   -1 slots skipped); output [tokens, H] f32, overwritten with
 *   sum_j expert_weights[t, j] * expert(expert_ids[t, j], hidden[t]) (+ shared expert).
 * activation_quantizer, when not NULL, quantizes the input of every GEMM (w8a8 schemes). */
typedef struct sy_experts_args {
  uint32_t struct_size;
  const sy_tensor* hidden;
  const sy_tensor* expert_ids;
  const sy_tensor* expert_weights;
  const sy_expert_weights* weights;
  const sy_quantizer_ref* activation_quantizer;
  sy_tensor* output;
} sy_experts_args;

typedef struct sy_experts_vtable {
  uint32_t struct_size;
  /* Nonzero when forward() accepts weights stored in `layout`. */
  int32_t (*supports)(const void* self, const sy_qlayout* layout);
  sy_error* (*forward)(void* self, const sy_exec_context* ctx, const sy_experts_args* args);
  /* 1.3, may be absent (check struct_size): nonzero when forward() computes `activation`
   * (sy_expert_activation) and adds gate_up_bias / down_bias. Absent: SILU without biases only. */
  int32_t (*supports_activation)(const void* self, int32_t activation);
  /* 1.4, may be absent (check struct_size): nonzero when prefetch() does something (a component
   * that keeps experts away from where it computes, e.g. in host memory behind a GPU cache), so
   * the host only predicts routing for components that use the prediction. */
  int32_t (*wants_prefetch)(const void* self);
  /* 1.4: a hint that the next forward() with `weights` will likely route to `expert_ids`
   * (i32 [tokens, k] on the host, -1 slots skipped): the host's prediction (the next layer's
   * router applied to the current layer's input), which may be wrong. The component may start
   * moving those experts closer; it must not wait for the transfer, and forward() stays correct
   * whatever was prefetched. `weights` and `expert_ids` are borrowed for the call. */
  sy_error* (*prefetch)(void* self, const sy_exec_context* ctx, const sy_expert_weights* weights,
                        const sy_tensor* expert_ids);
} sy_experts_vtable;

/* Scheduler (batch): which sequences run in the next engine step, and how many tokens each.
 *
 * The host lists every live request: the running ones (admitted: they hold KV-cache blocks)
 * in admission order, then the waiting ones (new, or preempted) in arrival order. A sequence
 * has `pending` tokens to compute before it can sample its next token — its prompt, or after
 * a preemption its prompt and everything it had generated (recompute) — so a decoding
 * sequence has pending = 1. The scheduler fills the decision:
 *   scheduled: {index, tokens} — run `tokens` (1..pending) of sequence `index` this step; the
 *     step samples for it when tokens == pending (else it was a prefill chunk). At most one
 *     entry per sequence, in the order the batch should run.
 *   preempted: indices of running sequences to preempt before the step; they give back their
 *     blocks and wait to recompute. A preempted sequence is not also scheduled.
 * Running `tokens` of a sequence needs ceil((cached + tokens) / block_size) - blocks_held new
 * blocks; the decision must fit in free_blocks plus the blocks the preemptions return. The
 * host checks every decision and refuses one that breaks a rule, naming the component. */
typedef struct sy_sched_sequence {
  uint64_t id;         /* the request's id, stable over its life */
  int64_t arrival_ns;  /* arrival time, steady clock */
  int32_t running;     /* 1: admitted, holds blocks; 0: waiting */
  int32_t cached;      /* tokens in the KV cache */
  int32_t pending;     /* tokens to compute before the next sample (>= 1) */
  int32_t blocks_held; /* KV blocks it holds */
  int32_t generated;   /* tokens it has generated so far */
} sy_sched_sequence;

typedef struct sy_sched_state {
  uint32_t struct_size;
  const sy_sched_sequence* sequences; /* borrowed for the call */
  int64_t num_sequences;
  int32_t free_blocks;
  int32_t total_blocks;
  int32_t block_size;
  uint64_t step; /* the step being scheduled, from 0 */
} sy_sched_state;

typedef struct sy_sched_entry {
  int64_t index; /* into sy_sched_state.sequences */
  int32_t tokens;
} sy_sched_entry;

typedef struct sy_sched_decision {
  uint32_t struct_size;
  sy_sched_entry* scheduled; /* host-owned, room for num_sequences entries */
  int64_t num_scheduled;     /* written by the scheduler */
  int64_t* preempted;        /* host-owned, room for num_sequences entries */
  int64_t num_preempted;     /* written by the scheduler */
} sy_sched_decision;

/* Scheduler (placement, 1.3): which logical experts have a replica in which physical slot.
 *
 * Experts are sharded over ranks: every rank holds slots_per_rank physical experts per MoE
 * layer, so a layer has num_ranks * slots_per_rank slots, slot s on rank s / slots_per_rank.
 * When there are more slots than experts, the extra slots hold redundant replicas of busy
 * experts and the host spreads an expert's tokens over its replicas. Ranks are grouped into
 * num_nodes hosts of equal size (hierarchical placement keeps traffic within a host).
 *
 * The host calls place() after every engine step with that step's load, so the component
 * keeps its own window and decides when to rebalance. It writes out->slots and sets
 * out->changed = 1 to move experts, or leaves changed = 0 to keep the current placement. A
 * placement must give every logical expert at least one slot in every layer; the host checks
 * it and refuses a placement that does not, naming the component. */
typedef struct sy_placement_state {
  uint32_t struct_size;
  int32_t num_layers; /* MoE layers */
  int32_t num_experts;
  int32_t num_ranks;
  int32_t num_nodes; /* divides num_ranks */
  int32_t slots_per_rank;
  const double* step_load; /* [num_layers, num_experts] tokens routed to each expert this step */
  const int32_t* current;  /* [num_layers, num_ranks * slots_per_rank] expert id of each slot */
  uint64_t step;
} sy_placement_state;

typedef struct sy_placement_decision {
  uint32_t struct_size;
  int32_t* slots;  /* host-owned [num_layers, num_ranks * slots_per_rank], preset to current */
  int32_t changed; /* written by the scheduler: 1 when slots holds a new placement */
} sy_placement_decision;

typedef struct sy_scheduler_vtable {
  uint32_t struct_size;
  /* Decides one step. `state` is borrowed; `out` points at host-owned arrays. NULL in a
   * placement-only scheduler (1.3). */
  sy_error* (*schedule)(void* self, const sy_sched_state* state, sy_sched_decision* out);
  /* 1.3. Observes one step's load and may move experts (see above). `state` is borrowed;
   * `out` points at host-owned arrays. NULL in a batch-only scheduler. */
  sy_error* (*place)(void* self, const sy_placement_state* state, sy_placement_decision* out);
} sy_scheduler_vtable;

/* ---- Communication (1.3) ----------------------------------------------------------------- */

/* The group a comm component joins: this process's place among the ranks, and an out-of-band
 * all-gather over the host's bootstrap connection (to rank 0) for exchanging addresses, IPC
 * handles and ids before any data moves. Borrowed for the connect call only. */
typedef struct sy_comm_group {
  uint32_t struct_size;
  int32_t rank;
  int32_t world_size;
  int32_t local_rank;       /* index among the ranks on this host */
  int32_t local_world_size; /* ranks on this host */
  int32_t node;             /* index of this host, 0 .. num_nodes - 1 */
  int32_t num_nodes;
  /* How long one collective may wait for a peer before failing with SY_UNAVAILABLE: a rank
   * that died must not hang the others. */
  int64_t timeout_ms;
  /* A text unique to this group (the same on every rank), for naming shared resources. */
  const char* group_id;
  void* self;
  /* Collective: gathers `bytes` bytes (the same count on every rank) from every rank into
   * out[world_size * bytes], rank r's at offset r * bytes. `data` and `out` are borrowed. */
  sy_error* (*all_gather)(void* self, const void* data, size_t bytes, void* out);
} sy_comm_group;

/* All-to-all-v over rows: rank p receives send_counts[p] rows of this rank's `send`, starting
 * at row send_displs[p]; this rank receives recv_counts[p] rows from rank p into `recv` at row
 * recv_displs[p]. send and recv are contiguous tensors whose rows (every dimension but the
 * first) have the same size and dtype; counts and displacements have world_size entries, in
 * rows, and must agree between ranks (my send_counts[p] is p's recv_counts[me]) — exchange
 * counts first with an all-to-all of fixed counts. NULL displacements mean packed in rank
 * order. Everything is borrowed for the call. */
typedef struct sy_comm_all_to_all_args {
  uint32_t struct_size;
  const sy_tensor* send;
  const int64_t* send_counts;
  const int64_t* send_displs;
  sy_tensor* recv;
  const int64_t* recv_counts;
  const int64_t* recv_displs;
} sy_comm_all_to_all_args;

/* A communication backend for expert parallelism. Every function but the optional ones is
 * collective: all ranks call it, in the same order. On a CUDA device the data functions are
 * ordered on ctx->stream (they may return before the data has moved); on the CPU they have
 * finished when they return. A peer that fails or times out gives SY_UNAVAILABLE naming it. */
typedef struct sy_comm_vtable {
  uint32_t struct_size;
  /* Joins the group; called once per instance, before anything else. */
  sy_error* (*connect)(void* self, const sy_exec_context* ctx, const sy_comm_group* group);
  sy_error* (*all_to_all)(void* self, const sy_exec_context* ctx,
                          const sy_comm_all_to_all_args* args);
  /* Sums `data` (contiguous f32 or i64, the same shape on every rank) over ranks in place. */
  sy_error* (*all_reduce_sum)(void* self, const sy_exec_context* ctx, sy_tensor* data);
  /* Optional (NULL, or *out set to NULL, when the backend has none): memory on ctx->device of
   * at least `bytes` that peers write into directly, so an all_to_all whose recv lies in it
   * skips a copy. Collective (the same bytes on every rank). The component owns it; it stays
   * valid until the next registered_buffer call or destroy. */
  sy_error* (*registered_buffer)(void* self, const sy_exec_context* ctx, size_t bytes, void** out);
  /* 1.5. Optional (NULL, or *bytes set to 0, when the backend has none): device memory of
   * *bytes bytes on every rank (the same size everywhere), which kernels of every rank read and
   * write with plain loads, stores and system-scope atomics, so the host can run its own
   * one-sided exchanges. Writes world_size entries to peers: rank r's memory as mapped in this
   * process (peers[rank] is this rank's own). Not collective. The component owns the memory,
   * zeroed at connect and valid until destroy; no collective of the component touches it. */
  sy_error* (*peer_memory)(void* self, const sy_exec_context* ctx, void** peers, size_t* bytes);
} sy_comm_vtable;

typedef struct sy_component_desc {
  uint32_t struct_size;
  int32_t kind;            /* sy_component_kind */
  const char* name;        /* unique within its kind, e.g. "softmax_topk" */
  const char* description; /* one line */
  sy_config_schema config;
  /* 0 when the component cannot run here (no GPU, no NVLink, ...), else a preference; the
   * host picks the highest for "<kind>.auto". Must not fail. */
  int32_t (*score)(const sy_host* host);
  /* Creates an instance from a serialized config message of type config.root_type_id
   * (borrowed for the call). On success stores the instance in *out and returns NULL; the
   * host owns the instance and releases it with destroy(). */
  sy_error* (*create)(const sy_host* host, const sy_message* config, void** out);
  void (*destroy)(void* instance);
  /* Kind-specific functions, static: sy_router_vtable* (SY_KIND_ROUTER),
   * sy_quantizer_vtable* (SY_KIND_QUANTIZER), sy_experts_vtable* (SY_KIND_EXPERTS),
   * sy_scheduler_vtable* (SY_KIND_SCHEDULER), sy_comm_vtable* (SY_KIND_COMM). */
  const void* vtable;
} sy_component_desc;

typedef struct sy_plugin {
  uint32_t struct_size;
  uint32_t abi_major; /* SY_ABI_MAJOR the plugin was built against */
  uint32_t abi_minor; /* SY_ABI_MINOR the plugin was built against */
  const char* name;
  const char* version;
  /* Pointers, not an array of structs, so sy_component_desc can grow in later minors. */
  const sy_component_desc* const* components;
  size_t component_count;
} sy_plugin;

/* The entry point. `host` is borrowed and stays valid while the library is loaded. Returns a
 * static description (owned by the library), or NULL when the plugin cannot initialise. */
typedef const sy_plugin* (*sy_plugin_init_fn)(const sy_host* host);
#define SY_PLUGIN_INIT_SYMBOL "sy_plugin_init"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SWITCHYARD_PLUGIN_ABI_H_ */
