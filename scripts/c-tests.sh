#!/usr/bin/env bash
# The C API's tests, from the test command (scripts/check.sh): the API test, the C and C++
# examples and the README's C program, compiled with gcc/g++ with warnings as errors and run
# plainly, under ASan+UBSan and (when installed) under valgrind; then a build through
# pkg-config and a static link. Expects the workspace tests to have run first (they check
# that include/ringbus.h is fresh); builds libringbus.so/.a (debug) with the same features.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same features as check.sh's workspace tests, so nothing is built twice.
cargo build --locked -p ringbus-ffi --features ringbus-core/fault-injection
mkdir -p target/c
CWARN=(-Wall -Wextra -Werror -pedantic -Iffi/include)
LIBS=(-Ltarget/debug -lringbus)
gcc -std=c11 "${CWARN[@]}" ffi/tests/c/api_test.c "${LIBS[@]}" -o target/c/api_test
g++ -std=c++17 "${CWARN[@]}" ffi/tests/c/header_cpp.cpp "${LIBS[@]}" -o target/c/header_cpp
gcc -std=c11 "${CWARN[@]}" ffi/examples/producer.c "${LIBS[@]}" -o target/c/producer
gcc -std=c11 "${CWARN[@]}" ffi/examples/consumer.c "${LIBS[@]}" -o target/c/consumer
g++ -std=c++17 "${CWARN[@]}" ffi/examples/ingest.cpp "${LIBS[@]}" -lpthread -o target/c/ingest
SAN=(-g -fsanitize=address,undefined -fno-omit-frame-pointer)
gcc -std=c11 "${SAN[@]}" "${CWARN[@]}" ffi/tests/c/api_test.c "${LIBS[@]}" -o target/c/api_test_asan
gcc -std=c11 "${SAN[@]}" "${CWARN[@]}" ffi/examples/producer.c "${LIBS[@]}" -o target/c/producer_asan
gcc -std=c11 "${SAN[@]}" "${CWARN[@]}" ffi/examples/consumer.c "${LIBS[@]}" -o target/c/consumer_asan
g++ -std=c++17 "${SAN[@]}" "${CWARN[@]}" ffi/examples/ingest.cpp "${LIBS[@]}" -lpthread -o target/c/ingest_asan
export LD_LIBRARY_PATH="$PWD/target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
target/c/header_cpp
# expect <output file> <line>: the program's output must contain the line.
expect() { grep -qxF "$2" "$1" || { echo "expected \"$2\" in:"; cat "$1"; exit 1; }; }
for suffix in "" _asan; do
  rm -rf target/c/data
  "target/c/api_test$suffix" target/c/data
  # The producer/consumer pair: a second run of each continues where the first left off.
  "target/c/producer$suffix" target/c/data 5000 > target/c/out && expect target/c/out "published 5000 readings, checksum 12497500"
  "target/c/consumer$suffix" target/c/data > target/c/out && expect target/c/out "consumed 5000 readings, checksum 12497500"
  "target/c/producer$suffix" target/c/data 1000 > target/c/out && expect target/c/out "published 1000 readings, checksum 499500"
  "target/c/consumer$suffix" target/c/data > target/c/out && expect target/c/out "consumed 1000 readings, checksum 499500"
  "target/c/ingest$suffix" 20000 > target/c/out && expect target/c/out "ingest: ok"
done
if command -v valgrind >/dev/null; then
  VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
  rm -rf target/c/data && "${VG[@]}" target/c/api_test target/c/data
  "${VG[@]}" target/c/producer target/c/data 200 > target/c/out && expect target/c/out "published 200 readings, checksum 19900"
  "${VG[@]}" target/c/consumer target/c/data > target/c/out && expect target/c/out "consumed 200 readings, checksum 19900"
else
  echo "SKIPPED valgrind: not installed (Debian: apt-get install -y valgrind)"
fi
# pkg-config from the build tree, and a static link.
PKG_CONFIG_PATH="$(dirname "$(ffi/make-pc.sh debug)")" && export PKG_CONFIG_PATH
if command -v pkg-config >/dev/null; then
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror ffi/examples/consumer.c $(pkg-config --cflags --libs ringbus) -o target/c/consumer_pc
  target/c/consumer_pc target/c/data > target/c/out && expect target/c/out "consumed 0 readings, checksum 0"
else
  echo "SKIPPED the pkg-config build: pkg-config is not installed (Debian: apt-get install -y pkg-config)"
fi
cc -std=c11 -Wall -Wextra -Werror -Iffi/include ffi/examples/producer.c target/debug/libringbus.a \
  -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o target/c/producer_static
! ldd target/c/producer_static | grep -q libringbus || { echo "producer_static links libringbus dynamically"; exit 1; }
target/c/producer_static target/c/data 10 > target/c/out && expect target/c/out "published 10 readings, checksum 45"
# The README's C program compiles and runs.
awk '/^## From C and C\+\+/{f=1} f&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' README.md > target/c/readme.c
gcc -std=c11 "${CWARN[@]}" target/c/readme.c "${LIBS[@]}" -o target/c/readme
target/c/readme > target/c/out && expect target/c/out '{"sensor":17,"celsius":21.5} at offset 0'
