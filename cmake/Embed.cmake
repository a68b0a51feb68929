# Turn a file into a C array, so the corral binary needs nothing on disk.
#
#   cmake -DIN=scripts/corral/cli.lua -DOUT=build/generated/cli_lua.h
#         -DNAME=cli_lua -P Embed.cmake
#
# OUT defines `static const unsigned char NAME[]` (the bytes, no trailing
# NUL) and `NAME_len`.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR nbytes "${nhex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
set(line "")                              # 16 bytes a line (no {n} in
foreach(i RANGE 15)                       # CMake's regular expressions)
  string(APPEND line "0x[0-9a-f][0-9a-f],")
endforeach()
string(REGEX REPLACE "(${line})" "\\1\n  " bytes "${bytes}")
file(RELATIVE_PATH rel ${CMAKE_CURRENT_LIST_DIR}/.. ${IN})
set(text "/* Generated from ${rel} by cmake/Embed.cmake: do not edit. */\n")
string(APPEND text "static const unsigned char ${NAME}[] = {\n  ${bytes}0x00\n};\n")
string(APPEND text "static const size_t ${NAME}_len = ${nbytes};\n")
# Only rewrite when the content changed, so main.c is not rebuilt for nothing.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE ${OUT} "${text}")
