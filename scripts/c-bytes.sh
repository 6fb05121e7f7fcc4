# c-bytes.sh — sourced by the embed-*.sh scripts: c_bytes TYPE NAME FILE prints
# `static const TYPE NAME[] = { the file's bytes in hex, 0x00 };` (the
# trailing NUL lets text be used as a C string; lengths are given apart).
c_bytes() {
	echo "static const $1 $2[] = {"
	od -An -v -tx1 "$3" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
	echo "0x00};"
}
