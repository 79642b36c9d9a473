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
#define SY_ABI_MINOR 0

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
  /* Kind-specific functions: sy_router_vtable* for SY_KIND_ROUTER. Static. */
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
