# Configures and builds a sanitized tree (the server and the unit tests
# only) in its own directory, so the normal build is never touched:
#   cmake -DSOURCE=<checkout> -DBINARY=<dir> -DSANITIZE=<list> -DCC=<compiler>
#         -DTARGETS=<a;b> -P build.cmake
foreach(v SOURCE BINARY SANITIZE CC TARGETS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "build.cmake: -D${v}= is required")
  endif()
endforeach()
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${BINARY} -DSCOPEBOX_SANITIZE=${SANITIZE}
          -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=${CC}
  OUTPUT_QUIET
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring ${BINARY} with SCOPEBOX_SANITIZE=${SANITIZE} failed")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BINARY} -j 2 --target ${TARGETS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building ${TARGETS} in ${BINARY} failed")
endif()
