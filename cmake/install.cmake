# What `cmake --install <build> [--prefix P]` installs (README, "Install"):
#   bin/groved, bin/grovectl (grovectl/CMakeLists.txt installs it)
#   lib/libgrove.so and lib/libgrove.a: libgrove, the core, the protobuf
#     messages, every transport built and the client library in one library,
#     so that `-lgrove` alone links a program that embeds a node
#   include/grove/: the public headers, and the generated grove/version.h
#   lib/pkgconfig/grove.pc, lib/cmake/grove/ (find_package(grove): grove::grove,
#     grove::grove_static)
#   lib/systemd/system/groved.service, lib/sysusers.d/groved.conf
#   share/man/man1/groved.1 and grovectl.1, share/doc/groved/groved.conf.example
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
include(CheckCCompilerFlag)

# A fuzz build instruments the core for libFuzzer: nothing in it is for installing.
if(GROVE_FUZZ)
  return()
endif()

set(grove_deploy_dir ${CMAKE_SOURCE_DIR}/deploy)

install(TARGETS groved RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# libgrove is built from the objects of the libraries groved links, which are
# compiled position-independent for it. Without semantic interposition, calls
# inside the library stay direct (and inlinable), as they are in groved.
set(grove_parts grove_core grove_proto)
foreach(part grove_transport_http grove_transport_grpc grove_transport_nng grove_client)
  if(TARGET ${part})
    list(APPEND grove_parts ${part})
  endif()
endforeach()
set_property(TARGET ${grove_parts} PROPERTY POSITION_INDEPENDENT_CODE ON)
check_c_compiler_flag(-fno-semantic-interposition GROVE_HAVE_NO_SEMANTIC_INTERPOSITION)
if(GROVE_HAVE_NO_SEMANTIC_INTERPOSITION)
  set_property(TARGET ${grove_parts} APPEND PROPERTY COMPILE_OPTIONS -fno-semantic-interposition)
endif()
set(grove_objects)
foreach(part ${grove_parts})
  list(APPEND grove_objects $<TARGET_OBJECTS:${part}>)
endforeach()

# What the parts link, as pkg-config modules: grove.pc's Requires.private, and
# one imported target for both libraries. nng ships a CMake package, no .pc.
set(grove_pc_requires sqlite3 libprotobuf-c)
set(grove_pc_libs "-lpthread -lm")
set(grove_nng_lib)
set(grove_mbedtls_libs)
if(TARGET grove_transport_http)
  list(APPEND grove_pc_requires libmicrohttpd libcurl)
  pkg_check_modules(GROVE_GNUTLS QUIET gnutls)
  if(GROVE_GNUTLS_FOUND) # an https client certificate's names (transport_http/http_auth.c)
    list(APPEND grove_pc_requires gnutls)
  endif()
endif()
if(TARGET grove_transport_grpc)
  list(APPEND grove_pc_requires grpc)
endif()
if(TARGET grove_transport_nng)
  find_package(nng CONFIG QUIET)
  if(TARGET nng::nng)
    set(grove_nng_lib nng::nng)
  else()
    set(grove_nng_lib nng)
  endif()
  # mbedTLS: groved's TLS engine for nng+tls+tcp (transport_nng/nng_tls_engine.c).
  set(grove_mbedtls_libs mbedtls)
  set(grove_pc_libs "-lnng -lmbedtls ${grove_pc_libs}")
endif()
# mbedTLS's X.509 parser: client certificates' names (core/cert_names.c).
list(APPEND grove_mbedtls_libs mbedx509 mbedcrypto)
set(grove_pc_libs "${grove_pc_libs} -lmbedx509 -lmbedcrypto")
pkg_check_modules(GROVE_DEPS REQUIRED IMPORTED_TARGET ${grove_pc_requires})
set(grove_deps PkgConfig::GROVE_DEPS ${grove_nng_lib} ${grove_mbedtls_libs} Threads::Threads m)

set(grove_public_include_dirs $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
                              $<BUILD_INTERFACE:${GROVE_GENERATED_INCLUDE_DIR}>
                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

add_library(grove SHARED ${grove_objects})
add_dependencies(grove ${grove_parts})
target_include_directories(grove PUBLIC ${grove_public_include_dirs})
target_link_libraries(grove PRIVATE ${grove_deps})
# The soname changes with every release that may break the ABI: each minor
# release while the major version is 0.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(grove_soversion ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(grove_soversion ${PROJECT_VERSION_MAJOR})
endif()
set_target_properties(grove PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${grove_soversion}
                                       LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/grove.map)
# Only grove_* is exported (grove.map); the transports' internals stay inside.
# A dependency missing from grove_deps fails this link, not an embedder's.
target_link_options(grove PRIVATE -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/grove.map)
if(NOT GROVE_SANITIZE AND NOT GROVE_TSAN)
  target_link_options(grove PRIVATE -Wl,--no-undefined)
endif()

add_library(grove_static STATIC ${grove_objects})
add_dependencies(grove_static ${grove_parts})
target_include_directories(grove_static PUBLIC ${grove_public_include_dirs})
target_link_libraries(grove_static PRIVATE ${grove_deps})
set_target_properties(grove_static PROPERTIES OUTPUT_NAME grove)

install(TARGETS grove EXPORT grove-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS grove_static EXPORT grove-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The public headers of what libgrove holds: not the fault-injecting shim
# (tests and grove-sim only), nor a transport or client this build left out.
file(GLOB_RECURSE grove_headers CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}/include
     ${CMAKE_SOURCE_DIR}/include/grove/*.h)
list(REMOVE_ITEM grove_headers grove/transport_faults.h)
foreach(part http grpc nng)
  if(NOT TARGET grove_transport_${part})
    list(REMOVE_ITEM grove_headers grove/transport_${part}.h)
  endif()
endforeach()
if(NOT TARGET grove_client)
  list(REMOVE_ITEM grove_headers grove/client.h)
endif()
foreach(header ${grove_headers})
  get_filename_component(dir ${header} DIRECTORY)
  install(FILES ${CMAKE_SOURCE_DIR}/include/${header}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${dir})
endforeach()
install(FILES ${GROVE_GENERATED_INCLUDE_DIR}/grove/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/grove)

# grove_install_configured(TEMPLATE DESTINATION): installs TEMPLATE with its
# @VARIABLES@ replaced, at install time, so that the paths it names follow
# `cmake --install --prefix`. Besides the variables set here, GROVE_PREFIX is
# the install prefix, GROVE_BINDIR, GROVE_LIBDIR, GROVE_INCLUDEDIR and
# GROVE_SYSCONFDIR full paths under it (a prefix of /usr keeps its
# configuration in /etc, as GNUInstallDirs has it).
function(grove_install_configured template destination)
  get_filename_component(name ${template} NAME)
  string(REGEX REPLACE "\\.in$" "" name ${name})
  set(GROVE_PREFIX @GROVE_PREFIX@)
  set(GROVE_BINDIR @GROVE_BINDIR@)
  set(GROVE_LIBDIR @GROVE_LIBDIR@)
  set(GROVE_INCLUDEDIR @GROVE_INCLUDEDIR@)
  set(GROVE_SYSCONFDIR @GROVE_SYSCONFDIR@)
  set(staged ${CMAKE_BINARY_DIR}/install/${name}.in)
  configure_file(${template} ${staged} @ONLY)
  install(CODE "
    set(GROVE_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    set(GROVE_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set(GROVE_LIBDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}\")
    set(GROVE_INCLUDEDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_INCLUDEDIR}\")
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(GROVE_SYSCONFDIR /etc)
    else()
      set(GROVE_SYSCONFDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}\")
    endif()
    set(file \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${destination}/${name}\")
    message(STATUS \"Installing: \${file}\")
    configure_file(\"${staged}\" \"\${file}\" @ONLY)
  ")
endfunction()

# pkg-config: `pkg-config --cflags --libs grove` (add --static for libgrove.a).
list(JOIN grove_pc_requires " " GROVE_PC_REQUIRES_PRIVATE)
set(GROVE_PC_LIBS_PRIVATE ${grove_pc_libs})
grove_install_configured(${CMAKE_CURRENT_LIST_DIR}/grove.pc.in ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake: find_package(grove) gives grove::grove (shared) and, when the
# dependencies' -dev packages are there, grove::grove_static.
set(grove_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/grove)
set(GROVE_CONFIG_PC_MODULES ${GROVE_PC_REQUIRES_PRIVATE})
set(GROVE_CONFIG_NEEDS_NNG_PACKAGE OFF)
if(grove_nng_lib STREQUAL "nng::nng")
  set(GROVE_CONFIG_NEEDS_NNG_PACKAGE ON)
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/grove-config.cmake.in
                              ${CMAKE_BINARY_DIR}/install/grove-config.cmake
                              INSTALL_DESTINATION ${grove_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/install/grove-config-version.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(EXPORT grove-targets NAMESPACE grove:: DESTINATION ${grove_cmake_dir})
install(EXPORT grove-static-targets NAMESPACE grove:: DESTINATION ${grove_cmake_dir})
install(FILES ${CMAKE_BINARY_DIR}/install/grove-config.cmake
              ${CMAKE_BINARY_DIR}/install/grove-config-version.cmake
        DESTINATION ${grove_cmake_dir})

# systemd: the unit, and the user it runs as (systemd-sysusers creates it).
# Units go under lib/ whatever the libdir: /usr/lib/systemd/system for a
# prefix of /usr, /usr/local/lib/systemd/system for /usr/local.
if(GROVE_WITH_SYSTEMD)
  set(GROVED_SERVICE_TYPE notify)
else()
  set(GROVED_SERVICE_TYPE simple)
endif()
grove_install_configured(${grove_deploy_dir}/groved.service.in lib/systemd/system)
install(FILES ${grove_deploy_dir}/groved.sysusers
        DESTINATION lib/sysusers.d RENAME groved.conf)

# Man pages (roff, written by hand from --help and docs/).
install(FILES ${CMAKE_SOURCE_DIR}/man/groved.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
if(TARGET grovectl)
  install(FILES ${CMAKE_SOURCE_DIR}/man/grovectl.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/service/groved.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR})
