# The cuda backend's tests on the CPU emulator: cuda/*.cu and kernels/*.cu compiled as
# C++ against an emulation of the CUDA runtime, cuBLAS and the device language (this
# folder), linked with the host sources into diffsamp_emu, so that the backend's code
# runs, and its tests can fail, on machines without a GPU. This checks the code's logic
# (indexing, barriers, argument orders, every output written); it is not a GPU result.
if(NOT DIFFSAMP_CUDA_EMU OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
  return()
endif()
enable_language(CXX)
set(EMU_DIR ${CMAKE_SOURCE_DIR}/tests/cuda_emu)

file(GLOB EMU_CU_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cuda/*.cu
     ${CMAKE_SOURCE_DIR}/kernels/*.cu)
set(EMU_GENERATED)
foreach(src ${EMU_CU_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  get_filename_component(dir ${src} DIRECTORY)
  get_filename_component(dir ${dir} NAME)
  set(out ${CMAKE_BINARY_DIR}/cuda_emu/${dir}_${name}.cpp)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${src} -DOUT=${out} -P ${EMU_DIR}/translate.cmake
    DEPENDS ${src} ${EMU_DIR}/translate.cmake VERBATIM)
  list(APPEND EMU_GENERATED ${out})
endforeach()
set_source_files_properties(${EMU_GENERATED} PROPERTIES
  COMPILE_OPTIONS "-include;${EMU_DIR}/emu_device.h")

# With MPI, NCCL too (emu_nccl.cpp: its collectives over MPI), so that --shard-data's
# NCCL merge runs under mpirun.
set(EMU_NCCL)
if(DIFFSAMP_HAVE_MPI)
  set(EMU_NCCL ${EMU_DIR}/emu_nccl.cpp)
endif()
add_library(diffsamp_emu STATIC ${DIFFSAMP_HOST_SOURCES} ${EMU_GENERATED}
            ${EMU_DIR}/emu_fiber.cpp ${EMU_DIR}/emu_runtime.cpp ${EMU_DIR}/emu_cublas.cpp ${EMU_NCCL})
if(DIFFSAMP_HAVE_MPI)
  target_compile_definitions(diffsamp_emu PRIVATE DIFFSAMP_HAVE_NCCL=1)
endif()
set_target_properties(diffsamp_emu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                      CXX_EXTENSIONS OFF)
# The emulator's cuda_runtime.h, cublas_v2.h and nvtx3 come before any toolkit's.
target_include_directories(diffsamp_emu BEFORE PUBLIC ${EMU_DIR}/include)
target_include_directories(diffsamp_emu PUBLIC ${CMAKE_SOURCE_DIR}/include
  PRIVATE ${DIFFSAMP_HOST_INCLUDE_DIRS} ${CMAKE_SOURCE_DIR}/cuda ${CMAKE_SOURCE_DIR}/kernels ${EMU_DIR}
          ${CBLAS_INCLUDE_DIR} ${LAPACKE_INCLUDE_DIR})
target_compile_definitions(diffsamp_emu PUBLIC DIFFSAMP_HAVE_CUDA=1
  PRIVATE DIFFSAMP_VERSION="${PROJECT_VERSION}" DIFFSAMP_GIT_REV="${DIFFSAMP_GIT_REV}")
target_compile_options(diffsamp_emu PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>)
target_link_libraries(diffsamp_emu PUBLIC ${DIFFSAMP_HOST_LIBS})

add_executable(test_backend_ops_emu ${CMAKE_SOURCE_DIR}/tests/test_backend_ops.c
               ${CMAKE_SOURCE_DIR}/tests/testutil.c)
set_target_properties(test_backend_ops_emu PROPERTIES LINKER_LANGUAGE CXX)
target_include_directories(test_backend_ops_emu PRIVATE ${DIFFSAMP_HOST_INCLUDE_DIRS} ${CMAKE_SOURCE_DIR}/tests
                           ${CMOCKA_INCLUDE_DIR} ${CBLAS_INCLUDE_DIR})
target_link_libraries(test_backend_ops_emu PRIVATE diffsamp_emu ${CMOCKA_LIB})

# The backend conformance test on the cuda backend: one ctest test per cmocka test (they
# run in parallel), with the threads of each block in order and reversed (a race between
# threads then changes the results). A skip fails here. test_many_components (66,000
# components: 4 million emulated blocks) is left to GPUs.
file(STRINGS ${CMAKE_SOURCE_DIR}/tests/test_backend_ops.c EMU_TEST_LINES
     REGEX "cmocka_unit_test\\(test_")
foreach(line ${EMU_TEST_LINES})
  string(REGEX MATCH "test_[a-z0-9_]+" t "${line}")
  if(t STREQUAL "test_many_components")
    continue()
  endif()
  foreach(order forward reverse)
    add_test(NAME cuda_emu_${order}_${t} COMMAND test_backend_ops_emu)
    set_tests_properties(cuda_emu_${order}_${t} PROPERTIES
      ENVIRONMENT "DIFFSAMP_TEST_BACKEND=cuda;DIFFSAMP_TEST_FILTER=${t};DIFFSAMP_EMU_ORDER=${order};OPENBLAS_NUM_THREADS=1;DIFFSAMP_BIN=$<TARGET_FILE:diffsamp>;DIFFSAMP_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
      FAIL_REGULAR_EXPRESSION "skipped|SKIPPED|0 test\\(s\\) run"
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  endforeach()
endforeach()

# The diffsamp program on the emulator, and a test of whole sample runs on it.
get_target_property(EMU_CLI_SOURCES diffsamp SOURCES)
add_executable(diffsamp_cuda_emu ${EMU_CLI_SOURCES})
set_target_properties(diffsamp_cuda_emu PROPERTIES LINKER_LANGUAGE CXX)
target_include_directories(diffsamp_cuda_emu PRIVATE ${DIFFSAMP_HOST_INCLUDE_DIRS} ${CBLAS_INCLUDE_DIR})
target_link_libraries(diffsamp_cuda_emu PRIVATE diffsamp_emu)
add_test(NAME cli_cuda_emu COMMAND sh ${EMU_DIR}/cli_cuda_emu.sh)
set_tests_properties(cli_cuda_emu PROPERTIES
  ENVIRONMENT "DIFFSAMP_BIN=$<TARGET_FILE:diffsamp>;DIFFSAMP_EMU_BIN=$<TARGET_FILE:diffsamp_cuda_emu>;OPENBLAS_NUM_THREADS=1"
  FAIL_REGULAR_EXPRESSION "skipped"
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR})

# Device faults at the K-th operation (DIFFSAMP_EMU_FAIL_AT): refused cleanly, resumable.
add_test(NAME cli_cuda_emu_faults COMMAND sh ${EMU_DIR}/cli_cuda_emu_faults.sh)
set_tests_properties(cli_cuda_emu_faults PROPERTIES
  ENVIRONMENT "DIFFSAMP_BIN=$<TARGET_FILE:diffsamp>;DIFFSAMP_EMU_BIN=$<TARGET_FILE:diffsamp_cuda_emu>;OPENBLAS_NUM_THREADS=1"
  FAIL_REGULAR_EXPRESSION "skipped"
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR})

# --shard-data on the cuda backend under mpirun (a build with MPI): the merge staged
# through the host.
if(DIFFSAMP_HAVE_MPI)
  add_test(NAME cli_cuda_emu_mpi_data COMMAND sh ${EMU_DIR}/cli_cuda_emu_mpi_data.sh)
  set_tests_properties(cli_cuda_emu_mpi_data PROPERTIES
    ENVIRONMENT "DIFFSAMP_BIN=$<TARGET_FILE:diffsamp>;DIFFSAMP_EMU_BIN=$<TARGET_FILE:diffsamp_cuda_emu>;MPIEXEC=${MPIEXEC_EXECUTABLE};OPENBLAS_NUM_THREADS=1"
    FAIL_REGULAR_EXPRESSION "skipped"
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endif()

# The benchmark program on the emulator, with --small shapes: a smoke test of its checks
# and tables before it runs on a GPU.
add_executable(bench_cuda_denoise_emu ${CMAKE_SOURCE_DIR}/bench/bench_cuda_denoise.c)
set_target_properties(bench_cuda_denoise_emu PROPERTIES LINKER_LANGUAGE CXX)
target_include_directories(bench_cuda_denoise_emu PRIVATE ${DIFFSAMP_HOST_INCLUDE_DIRS}
                           ${CMAKE_SOURCE_DIR}/tests ${CBLAS_INCLUDE_DIR})
target_link_libraries(bench_cuda_denoise_emu PRIVATE diffsamp_emu)
add_test(NAME bench_cuda_emu COMMAND bench_cuda_denoise_emu --small --reps 2 --samples 40)
set_tests_properties(bench_cuda_emu PROPERTIES
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
  PASS_REGULAR_EXPRESSION "CPU emulator.*Full run: 40 samples, d = 96, N = 500, Heun 18 steps, 35 NFE: .* 0 non-finite values"
  FAIL_REGULAR_EXPRESSION "FAILED")
