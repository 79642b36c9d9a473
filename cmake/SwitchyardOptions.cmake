# Build options and the project's warning and sanitizer flags.
option(SY_BUILD_TESTS "Build the test suites" ON)
set(SY_ENABLE_CUDA "AUTO" CACHE STRING "Build CUDA code: ON, OFF or AUTO (when nvcc is found)")
set_property(CACHE SY_ENABLE_CUDA PROPERTY STRINGS AUTO ON OFF)
option(SY_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

# Project code is warning-clean; third-party headers come in as SYSTEM includes.
add_library(sy_warnings INTERFACE)
target_compile_options(sy_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>
  # GCC 12 reports false positives inside libstdc++ at -O3 (GCC bugs 105651, 105329).
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-array-bounds -Wno-restrict -Wno-stringop-overflow>)

if(SY_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX,C>:-fsanitize=address,undefined>
                      $<$<COMPILE_LANGUAGE:CXX,C>:-fno-sanitize-recover=undefined>
                      $<$<COMPILE_LANGUAGE:CXX,C>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
endif()

# ccache with paths relative to the source tree, so every clone (CI's included) shares the
# cache: the build folder sits inside the tree, so relative paths are the same in each.
find_program(SY_CCACHE ccache)
if(SY_CCACHE)
  set(sy_ccache_launcher ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}
      CCACHE_NOHASHDIR=1 ${SY_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${sy_ccache_launcher})
  set(CMAKE_C_COMPILER_LAUNCHER ${sy_ccache_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${sy_ccache_launcher})
endif()
