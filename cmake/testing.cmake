# scopebox_add_pytest(<name> <file...> LABEL <label> [ENV VAR=value...]
#                     [TIMEOUT seconds] [ARGS pytest-arg...] [WORKING_DIRECTORY dir])
# registers one ctest that runs pytest (Debian's, ${SCOPEBOX_PYTEST}) over
# the files, with the label every suite has (ctest -L <label>) and the
# environment it needs (SCOPEBOX_SERVER and the like). Properties a suite
# needs beyond these (fixtures, RUN_SERIAL) are set after the call.
function(scopebox_add_pytest name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "LABEL;TIMEOUT;WORKING_DIRECTORY" "ENV;ARGS")
  if(NOT arg_LABEL)
    message(FATAL_ERROR "scopebox_add_pytest(${name}): every suite has a LABEL")
  endif()
  if(NOT arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "scopebox_add_pytest(${name}): no test file")
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 900)
  endif()
  if(NOT arg_WORKING_DIRECTORY)
    set(arg_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  add_test(NAME ${name}
           COMMAND ${SCOPEBOX_PYTEST} ${arg_ARGS} ${arg_UNPARSED_ARGUMENTS}
           WORKING_DIRECTORY ${arg_WORKING_DIRECTORY})
  set_tests_properties(${name} PROPERTIES LABELS ${arg_LABEL} TIMEOUT ${arg_TIMEOUT})
  if(arg_ENV)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${arg_ENV}")
  endif()
endfunction()
