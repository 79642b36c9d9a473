# switchyard_add_plugin(<target> SOURCES <files...> [SCHEMAS <files.capnp...>]
#                       [SHARED_SCHEMAS <switchyard/x.capnp...>]
#                       [LINK_LIBRARIES <libs...>] [OUTPUT_DIRECTORY <dir>])
#
# SCHEMAS are the plugin's own (relative to its folder); SHARED_SCHEMAS name Switchyard's
# schemas the plugin reads, such as switchyard/routing_trace.capnp.
#
# Builds one plugin library exactly as the host expects it: a MODULE with hidden symbols
# (only sy_plugin_init is exported, by SY_EXPORT_PLUGIN), its config schemas compiled in,
# linked against the header-only SDK and Cap'n Proto. In-tree plugins and vendor plugins
# built against the installed SDK use this same function.
#
# SWITCHYARD_SCHEMA_DIR must name the folder that holds switchyard/annotations.capnp.

function(_switchyard_capnp_generate out_sources src_prefix output_dir)
  set(CAPNPC_SRC_PREFIX ${src_prefix})
  set(CAPNPC_OUTPUT_DIR ${output_dir})
  set(CAPNPC_IMPORT_DIRS ${SWITCHYARD_SCHEMA_DIR})
  file(MAKE_DIRECTORY ${output_dir})
  capnp_generate_cpp(sources headers ${ARGN})
  set(${out_sources} ${sources} PARENT_SCOPE)
endfunction()

function(switchyard_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY" "SOURCES;SCHEMAS;SHARED_SCHEMAS;LINK_LIBRARIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "switchyard_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})

  set(generated_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_capnp)
  # Each plugin carries its own copy of the annotations schema: it shares no library with the
  # host beyond libc, libstdc++ and Cap'n Proto.
  set(shared switchyard/annotations.capnp ${ARG_SHARED_SCHEMAS})
  list(TRANSFORM shared PREPEND ${SWITCHYARD_SCHEMA_DIR}/)
  _switchyard_capnp_generate(annotation_sources ${SWITCHYARD_SCHEMA_DIR} ${generated_dir} ${shared})
  target_sources(${target} PRIVATE ${annotation_sources})
  if(ARG_SCHEMAS)
    _switchyard_capnp_generate(config_sources ${CMAKE_CURRENT_SOURCE_DIR} ${generated_dir}
                               ${ARG_SCHEMAS})
    target_sources(${target} PRIVATE ${config_sources})
  endif()
  target_include_directories(${target} PRIVATE ${generated_dir})
  target_link_libraries(${target} PRIVATE Switchyard::sdk ${ARG_LINK_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  # Every plugin of the build, for tests that load whatever is on the search path.
  set_property(GLOBAL APPEND PROPERTY SWITCHYARD_PLUGIN_TARGETS ${target})
endfunction()
