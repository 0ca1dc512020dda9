# cmake --install: libdiffsamp (shared, with soname, and static), the public headers, the
# diffsamp program, a pkg-config module (diffsamp) and a CMake package (find_package(diffsamp),
# imported targets diffsamp::diffsamp and diffsamp::diffsamp_static with their link
# dependencies). tests/cli_install.sh builds a program against an installed copy both ways.
include(CMakePackageConfigHelpers)
set(DIFFSAMP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/diffsamp)

install(TARGETS diffsamp_shared diffsamp_static EXPORT diffsampTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS diffsamp RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
file(GLOB DIFFSAMP_PUBLIC_HEADERS ${CMAKE_SOURCE_DIR}/include/*.h)
install(FILES ${DIFFSAMP_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT diffsampTargets NAMESPACE diffsamp:: DESTINATION ${DIFFSAMP_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/diffsampConfig.cmake.in
  ${CMAKE_BINARY_DIR}/diffsampConfig.cmake INSTALL_DESTINATION ${DIFFSAMP_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/diffsampConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/diffsampConfig.cmake ${CMAKE_BINARY_DIR}/diffsampConfigVersion.cmake
        DESTINATION ${DIFFSAMP_CMAKE_DIR})

# pkg-config: the shared library by default; `pkg-config --static` adds what the static
# library needs.
set(DIFFSAMP_PC_CFLAGS "")
set(DIFFSAMP_PC_LIBS_PRIVATE "-lpng -lz ${LAPACKE_LIB} ${OPENBLAS_LIB} ${OpenMP_C_FLAGS} -lpthread -lm")
if(DIFFSAMP_HAVE_MPI)
  list(JOIN MPI_C_LIBRARIES " " DIFFSAMP_PC_MPI_LIBS)
  string(PREPEND DIFFSAMP_PC_LIBS_PRIVATE "${DIFFSAMP_PC_MPI_LIBS} ")
endif()
if(DIFFSAMP_HAVE_CUDA)
  set(DIFFSAMP_PC_CFLAGS "-DDIFFSAMP_HAVE_CUDA=1")
  string(PREPEND DIFFSAMP_PC_LIBS_PRIVATE "-L${CUDAToolkit_LIBRARY_DIR} -lcublas -lcurand -lcudart ")
endif()
# The prefix is found from the .pc file's own place, so `cmake --install --prefix P` works.
file(RELATIVE_PATH DIFFSAMP_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${CMAKE_SOURCE_DIR}/cmake/diffsamp.pc.in ${CMAKE_BINARY_DIR}/diffsamp.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/diffsamp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
