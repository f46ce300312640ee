# cairn_module(NAME SOURCES ... DEPS ...): one static library per engine stage,
# with the project's warnings and the public include dir engine/include.
option(CAIRN_SANITIZE "Build with address+undefined sanitizers" OFF)

set(CAIRN_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference
    -Wno-missing-field-initializers)

function(cairn_target_defaults target)
  target_compile_options(${target} PRIVATE ${CAIRN_WARNINGS})
  if(CAIRN_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

function(cairn_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(cairn_${name} STATIC ${M_SOURCES})
  target_include_directories(cairn_${name} PUBLIC ${CMAKE_SOURCE_DIR}/engine/include
                                                  ${CMAKE_SOURCE_DIR}/engine)
  target_link_libraries(cairn_${name} PUBLIC ${M_DEPS})
  cairn_target_defaults(cairn_${name})
  add_library(cairn::${name} ALIAS cairn_${name})
endfunction()

# cairn_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s])
function(cairn_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  cairn_target_defaults(${name})
  target_compile_definitions(${name} PRIVATE
      CAIRN_BINARY="$<TARGET_FILE:cairn>"
      CAIRN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
