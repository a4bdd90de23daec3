# libtorch's CMake files ship inside the torch Python package: when Python_EXECUTABLE names a Python with torch
# (the presets use the checkout's .venv), add its prefix so that find_package(Torch) needs no CMAKE_PREFIX_PATH.
if(Python_EXECUTABLE AND NOT Torch_DIR)
  execute_process(COMMAND ${Python_EXECUTABLE} -c "import torch; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _torch_rc
                  ERROR_QUIET)
  if(_torch_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
  endif()
endif()
