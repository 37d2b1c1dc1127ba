# Every external dependency comes from a Debian 12 package (docs/dependencies.md).
find_package(Boost 1.81.0 EXACT CONFIG REQUIRED COMPONENTS json url system)
find_package(tl-expected CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
if(PLYR_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()

# Media (docs/dependencies.md §11-12): FFmpeg 5.1 libraries, TagLib, Chromaprint, libebur128, libvips, all through
# pkg-config. The media sandbox child (src/media) links them; the server process never decodes.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PLYR_FFMPEG REQUIRED IMPORTED_TARGET libavformat>=59 libavcodec>=59 libavutil>=57 libswresample>=4)
pkg_check_modules(PLYR_TAGLIB REQUIRED IMPORTED_TARGET taglib>=1.13)
pkg_check_modules(PLYR_CHROMAPRINT REQUIRED IMPORTED_TARGET libchromaprint>=1.5)
pkg_check_modules(PLYR_EBUR128 REQUIRED IMPORTED_TARGET libebur128>=1.2)
pkg_check_modules(PLYR_VIPS REQUIRED IMPORTED_TARGET vips>=8.14)
