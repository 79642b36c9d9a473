# sy_add_test(<name> SOURCES <files...> LINK <libs...> [DEPENDS <targets...>])
#
# A GoogleTest executable whose tests CTest discovers when it runs them (PRE_TEST), so test
# binaries that need a GPU are never executed at build time. DEPENDS names targets the test
# needs built first (plugins it loads, the CLI it drives).
function(sy_add_test name)
  if(NOT SY_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;LINK;DEPENDS")
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LINK} GTest::gtest_main GTest::gmock sy_warnings)
  target_compile_definitions(${name} PRIVATE
    SY_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}"
    SY_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES ENVIRONMENT "SWITCHYARD_PLUGIN_PATH=")
endfunction()
