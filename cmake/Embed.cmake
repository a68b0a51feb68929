# Turns a Lua source file into a C header holding it as a char array, so
# the module carries its Lua half and needs nothing on package.path.
#
#   cmake -DIN=bindings/lio.lua -DOUT=build/gen/lio_lua.h -DNAME=lio_lua
#         -P Embed.cmake
#
# The header defines `static const char NAME[]` (NUL-terminated) and
# `NAME_len`, the length without the NUL.

file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)"
       "\\1\n" bytes "${bytes}")
get_filename_component(src ${IN} NAME)
file(WRITE ${OUT}.tmp
"/* Generated from ${src} by cmake/Embed.cmake: do not edit. */\n"
"static const char ${NAME}[] = {\n${bytes}0x00};\n"
"#define ${NAME}_len ((size_t)${len})\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
# newer than its source, even unchanged: else make runs this again at
# every build (what includes it recompiles once for a touched file)
file(TOUCH ${OUT})
