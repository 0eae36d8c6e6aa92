# Writes a C++ source defining `NAME` (a NUL-terminated char array) with the
# bytes of INPUT, so that a binary carries a document without the source tree.
# cmake -DINPUT=file -DOUTPUT=file.cpp -DNAME=identifier -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR bytes "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," body "${hex}")
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){16})" "\\1\n" body "${body}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by embed_file.cmake; do not edit.\n"
  "#include <cstddef>\n"
  "namespace allot::driver {\n"
  "extern const char ${NAME}[] = {\n${body}'\\0'};\n"
  "extern const std::size_t ${NAME}_size = ${bytes};\n"
  "}  // namespace allot::driver\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
