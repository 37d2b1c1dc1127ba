# Compiler flags shared by every plyr target (applied through plyr_options).
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

add_library(plyr_options INTERFACE)
target_compile_options(plyr_options INTERFACE -Wall -Wextra -Wpedantic)
if(PLYR_WERROR)
  target_compile_options(plyr_options INTERFACE -Werror)
endif()
if(PLYR_SANITIZE)
  target_compile_options(plyr_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                -fno-sanitize-recover=undefined)
  target_link_options(plyr_options INTERFACE -fsanitize=address,undefined)
endif()
if(PLYR_FUZZ)
  # Every library is instrumented for coverage feedback; only the fuzz executables link libFuzzer's main.
  target_compile_options(plyr_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  target_link_options(plyr_options INTERFACE -fsanitize=address,undefined)
endif()
# Asio and Beast are compiled once (src/net/asio_impl.cpp) instead of in every TU that includes them.
target_compile_definitions(plyr_options INTERFACE BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
                                                  BOOST_ASIO_NO_DEPRECATED)

# plyr_module(name SOURCES ... DEPS ...): one CMake library per module folder.
function(plyr_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(plyr_${name} STATIC ${M_SOURCES})
  target_include_directories(plyr_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(plyr_${name} PUBLIC plyr_options ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
endfunction()
