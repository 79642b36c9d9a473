/* A shared library that is not a Switchyard plugin: it exports no sy_plugin_init. */
__attribute__((visibility("default"))) int some_other_function(void) { return 42; }
