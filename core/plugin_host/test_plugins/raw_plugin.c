/* Plugins written against the raw C ABI that the loader must refuse, one per SY_TEST_VARIANT_*:
 * abi_major (another major version), abi_minor_newer (a minor newer than the host),
 * init_null (sy_plugin_init returns NULL), null_create (a component without create()). */
#include "switchyard/plugin_abi.h"

static int32_t score(const sy_host* host) {
  (void)host;
  return 1;
}

static void destroy(void* instance) { (void)instance; }

static const sy_router_vtable kVtable = {sizeof(sy_router_vtable), 0, 0};

static const sy_component_desc kComponent = {
    sizeof(sy_component_desc),
    SY_KIND_ROUTER,
    "raw",
    "a component with no create()",
    {0, 0, 0},
    score,
    0 /* create */,
    destroy,
    &kVtable,
};
static const sy_component_desc* const kComponents[] = {&kComponent};

SY_EXPORT const sy_plugin* sy_plugin_init(const sy_host* host) {
  (void)host;
  static sy_plugin plugin = {
      sizeof(sy_plugin), SY_ABI_MAJOR, SY_ABI_MINOR, "test.raw", "0.0.1", kComponents, 1};
#if defined(SY_TEST_VARIANT_abi_major)
  plugin.abi_major = SY_ABI_MAJOR + 1;
#elif defined(SY_TEST_VARIANT_abi_minor_newer)
  plugin.abi_minor = SY_ABI_MINOR + 1;
#elif defined(SY_TEST_VARIANT_init_null)
  return 0;
#endif
  return &plugin;
}
