# Sanitizer builds, as Redis's `make SANITIZER=`: configure with
#   -DSCOPEBOX_SANITIZE=address,undefined   or   -DSCOPEBOX_SANITIZE=thread
# and the server, its core library, the unit tests and the fuzz targets are
# built with them. The wasm side (dynscope's side module, the worker
# runtime) is not: emcc has its own sanitizers, and the workers are separate
# processes the server only talks to through pipes. The ctest label
# `sanitize` (tests/sanitize) builds such trees beside the normal one and
# runs the API and e2e suites against them.
set(SCOPEBOX_SANITIZE "" CACHE STRING
    "Sanitizers for the server, unit tests and fuzz targets: address,undefined | thread (empty: none)")

set(SCOPEBOX_SANITIZE_FLAGS)
if(SCOPEBOX_SANITIZE)
  string(REPLACE "," ";" sanitizers "${SCOPEBOX_SANITIZE}")
  foreach(s IN LISTS sanitizers)
    if(NOT s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "SCOPEBOX_SANITIZE=${SCOPEBOX_SANITIZE}: '${s}' is not one of address, undefined, thread")
    endif()
  endforeach()
  if("thread" IN_LIST sanitizers AND "address" IN_LIST sanitizers)
    message(FATAL_ERROR "SCOPEBOX_SANITIZE=${SCOPEBOX_SANITIZE}: thread and address cannot be combined "
                        "(use address,undefined or thread)")
  endif()
  # Frame pointers for whole stacks in reports; no recovery, so the first
  # report ends the process and fails the test that caused it; assert()s
  # checked whatever the build type (RelWithDebInfo defines NDEBUG).
  set(SCOPEBOX_SANITIZE_FLAGS -fsanitize=${SCOPEBOX_SANITIZE} -fno-omit-frame-pointer
      -fno-sanitize-recover=all -UNDEBUG)
  message(STATUS "sanitizers: ${SCOPEBOX_SANITIZE}")
endif()

# Applies SCOPEBOX_SANITIZE to one native target (a no-op without it).
function(scopebox_sanitize target)
  if(SCOPEBOX_SANITIZE)
    target_compile_options(${target} PRIVATE ${SCOPEBOX_SANITIZE_FLAGS})
    target_link_options(${target} PRIVATE -fsanitize=${SCOPEBOX_SANITIZE})
  endif()
endfunction()
