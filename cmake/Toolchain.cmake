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
# Fuzz builds instrument the parser code for coverage feedback (plyr_module does it for whole modules, see
# PLYR_FUZZ_MODULES; plyr_fuzz_instrument_sources for single files). clang 14 cannot instrument coroutine TUs
# ("Cannot represent a difference across sections"), so the Asio/Beast code stays uninstrumented.
set(PLYR_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
set(PLYR_FUZZ_MODULES core atproto_syntax atproto_data atproto_crypto atproto_lexicon atproto_identity atproto_xrpc)
function(plyr_fuzz_instrument_sources)
  if(PLYR_FUZZ)
    set_source_files_properties(${ARGN} PROPERTIES COMPILE_OPTIONS "${PLYR_FUZZ_FLAGS}")
  endif()
endfunction()
# Asio and Beast are compiled once (src/net/asio_impl.cpp) instead of in every TU that includes them.
target_compile_definitions(plyr_options INTERFACE BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
                                                  BOOST_ASIO_NO_DEPRECATED)

# plyr_module(name SOURCES ... DEPS ...): one CMake library per module folder.
function(plyr_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(plyr_${name} STATIC ${M_SOURCES})
  target_include_directories(plyr_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(plyr_${name} PUBLIC plyr_options ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  if(PLYR_FUZZ AND name IN_LIST PLYR_FUZZ_MODULES)
    target_compile_options(plyr_${name} PRIVATE ${PLYR_FUZZ_FLAGS})
  endif()
endfunction()
