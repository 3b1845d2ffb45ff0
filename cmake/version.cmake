# The version of this build, from project(VERSION): generated into
# <build>/include/grove/version.h (GROVE_VERSION and its parts) for groved,
# grovectl, the library and, once installed, the programs built against it.
set(GROVE_GENERATED_INCLUDE_DIR ${CMAKE_BINARY_DIR}/include)
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.h.in
               ${GROVE_GENERATED_INCLUDE_DIR}/grove/version.h @ONLY)
include_directories(${GROVE_GENERATED_INCLUDE_DIR})
