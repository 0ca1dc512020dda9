# Turns a .cu file into C++ for the CUDA emulator: each launch
# `kernel<<<grid, block>>>(args)` becomes `ds_emu_launch(kernel, "kernel", grid, block)(args)`
# (one launch per line, as in kernels/*.cu); a #line keeps messages on the original file.
# Usage: cmake -DIN=file.cu -DOUT=file.cpp -P translate.cmake
file(READ "${IN}" text)
string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_]*)<<<([^\n]*)>>>\\("
       "ds_emu_launch(\\1, \"\\1\", \\2)(" text "${text}")
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
