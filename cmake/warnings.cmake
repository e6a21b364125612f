# Warnings on every C target (the server's list, server/CMakeLists.txt, made
# the whole tree's): the native targets get them through add_compile_options,
# the commands that call a compiler themselves (emcc for dynscope's side
# module, clang for the fuzz targets) add ${SCOPEBOX_WARNINGS}.
# -DSCOPEBOX_WERROR=ON makes them errors; the test build (docker/build.sh
# test) turns it on, so a warning fails the build the tests come from.
option(SCOPEBOX_WERROR "Compiler warnings are errors (docker/build.sh test turns this on)" OFF)

set(SCOPEBOX_WARNINGS -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
    -Wmissing-prototypes -Wno-missing-field-initializers)
if(SCOPEBOX_WERROR)
  list(APPEND SCOPEBOX_WARNINGS -Werror)
endif()
add_compile_options(${SCOPEBOX_WARNINGS})
