# Installs the SDK for out-of-tree plugins (the CLI, plugins and Lua library install from
# their own folders):
#   include/switchyard/*.h(pp)            the C ABI and the C++ SDK
#   share/switchyard/schemas/switchyard/  annotations.capnp for plugin config schemas
#   lib/cmake/Switchyard/                 find_package(Switchyard) -> Switchyard::sdk,
#                                         switchyard_add_plugin()
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/switchyard
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/switchyard
        DESTINATION ${CMAKE_INSTALL_DATADIR}/switchyard/schemas FILES_MATCHING PATTERN "*.capnp")
install(TARGETS switchyard_sdk EXPORT SwitchyardTargets)

set(SY_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Switchyard)
install(EXPORT SwitchyardTargets NAMESPACE Switchyard:: DESTINATION ${SY_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/SwitchyardConfig.cmake.in
  ${PROJECT_BINARY_DIR}/SwitchyardConfig.cmake
  INSTALL_DESTINATION ${SY_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_DATADIR SY_PLUGIN_DIR_REL)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/SwitchyardConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/SwitchyardConfig.cmake
              ${PROJECT_BINARY_DIR}/SwitchyardConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/SwitchyardPlugin.cmake
        DESTINATION ${SY_CMAKE_DIR})
