# Helpers for deja's three kinds of target. Each layer directory calls deja_library() once and
# deja_tests() once; benchmarks call deja_benchmark().

# deja_library(NAME DEPS ...): every *.cc in the directory except *_test.cc and *_test_util.cc
# becomes a static library.
function(deja_library name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_test(_util)?\\.cc$")
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# deja_tests(NAME DEPS ...): every *_test.cc (and *_test_util.cc) in the directory goes into one
# GoogleTest binary,
# registered with CTest test by test.
function(deja_tests name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  if(NOT DEJA_BUILD_TESTS)
    return()
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc
       ${CMAKE_CURRENT_SOURCE_DIR}/*_test_util.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    DEJA_SHARED_DIR="${DEJA_SHARED_DIR}"
    DEJA_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    DEJA_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
endfunction()

# deja_benchmark(NAME SOURCES ... DEPS ...): a Google Benchmark binary in bench/.
function(deja_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(NOT DEJA_BUILD_BENCH)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
  target_compile_definitions(${name} PRIVATE DEJA_SHARED_DIR="${DEJA_SHARED_DIR}")
endfunction()
