# Finds the external tools the build and the tests run, and fails early with
# the reason when one is missing or too old (docker/install-deps.sh installs
# them all).

# Debian's interpreter: its headers are the ones python3.11-dev ships, and its
# dist-packages hold python3-pytest. A pyenv or venv python3 first on PATH
# must not win.
find_program(SCOPEBOX_PYTHON NAMES python3.11 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT SCOPEBOX_PYTHON)
  find_program(SCOPEBOX_PYTHON NAMES python3.11 REQUIRED)
endif()
set(Python3_EXECUTABLE ${SCOPEBOX_PYTHON})
find_package(Python3 3.11 EXACT REQUIRED COMPONENTS Interpreter Development.Module)

# Node >= 20: the worker sandbox relies on Node's permission model, which
# Node 18 lacks. install-deps.sh puts a suitable node first on PATH or in
# /opt/scopebox/node.
find_program(SCOPEBOX_NODE NAMES node PATHS /opt/scopebox/node/bin NO_DEFAULT_PATH)
if(NOT SCOPEBOX_NODE)
  find_program(SCOPEBOX_NODE NAMES node REQUIRED)
endif()
execute_process(COMMAND ${SCOPEBOX_NODE} -p "process.versions.node"
                OUTPUT_VARIABLE SCOPEBOX_NODE_VERSION OUTPUT_STRIP_TRAILING_WHITESPACE)
if(SCOPEBOX_NODE_VERSION VERSION_LESS 20)
  message(FATAL_ERROR "node ${SCOPEBOX_NODE_VERSION} at ${SCOPEBOX_NODE}: "
                      "scopebox needs Node >= 20 (run docker/install-deps.sh)")
endif()

find_program(SCOPEBOX_EMCC NAMES emcc REQUIRED)

set(SCOPEBOX_NODE_MODULES ${CMAKE_SOURCE_DIR}/node_modules)
if(NOT EXISTS ${SCOPEBOX_NODE_MODULES}/pyodide/pyodide.mjs)
  message(FATAL_ERROR "node_modules/pyodide is missing: run docker/install-deps.sh (npm ci)")
endif()
