# STRASSENTILE_SANITIZE=address,undefined instruments every target (CI runs the tests this way).
if(STRASSENTILE_SANITIZE)
  set(_san "-fsanitize=${STRASSENTILE_SANITIZE}")
  add_compile_options(${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(${_san})
  message(STATUS "strassentile: sanitizers ${STRASSENTILE_SANITIZE}")
endif()
