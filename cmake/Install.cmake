# `cmake --install` and find_package(strassentile): headers, the libraries with their exported targets
# (strassentile::core always; strassentile::torch and strassentile::cuda when built), the CLI and the
# exact-algorithm data.
include(CMakePackageConfigHelpers)
set(STRASSENTILE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/strassentile)
set(STRASSENTILE_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/strassentile/fmm)

install(TARGETS strassentile_core EXPORT strassentileTargets)
install(EXPORT strassentileTargets NAMESPACE strassentile:: DESTINATION ${STRASSENTILE_INSTALL_CMAKEDIR})
set(STRASSENTILE_COMPONENTS core)
if(TARGET strassentile_torch)
  set_target_properties(strassentile_torch PROPERTIES EXPORT_NAME torch)
  install(TARGETS strassentile_torch EXPORT strassentileTorchTargets
          LIBRARY DESTINATION ${STRASSENTILE_TORCH_LIB_DESTINATION})
  install(EXPORT strassentileTorchTargets NAMESPACE strassentile:: DESTINATION ${STRASSENTILE_INSTALL_CMAKEDIR})
  list(APPEND STRASSENTILE_COMPONENTS torch)
endif()
if(TARGET strassentile_cuda)
  set_target_properties(strassentile_cuda PROPERTIES EXPORT_NAME cuda)
  install(TARGETS strassentile_cuda EXPORT strassentileCudaTargets)
  install(EXPORT strassentileCudaTargets NAMESPACE strassentile:: DESTINATION ${STRASSENTILE_INSTALL_CMAKEDIR})
  list(APPEND STRASSENTILE_COMPONENTS cuda)
endif()

install(DIRECTORY include/strassentile DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY data/fmm/ DESTINATION ${STRASSENTILE_INSTALL_DATADIR})
if(TARGET strassentile)
  install(TARGETS strassentile)
endif()

configure_package_config_file(cmake/strassentileConfig.cmake.in
  ${PROJECT_BINARY_DIR}/strassentileConfig.cmake
  INSTALL_DESTINATION ${STRASSENTILE_INSTALL_CMAKEDIR}
  PATH_VARS STRASSENTILE_INSTALL_DATADIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/strassentileConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/strassentileConfig.cmake ${PROJECT_BINARY_DIR}/strassentileConfigVersion.cmake
        DESTINATION ${STRASSENTILE_INSTALL_CMAKEDIR})

if(STRASSENTILE_WITH_PYTHON)
  # Inside the wheel, beside the op library (strassentile/lib): python/strassentile/_library.py points the
  # library at it on load.
  install(DIRECTORY data/fmm/ DESTINATION strassentile/data/fmm COMPONENT python)
endif()
