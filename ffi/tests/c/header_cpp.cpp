// The header compiles as C++17 and survives double inclusion.
#include "ringbus.h"
#include "ringbus.h"

int main() {
    return rb_version() == RB_VERSION ? 0 : 1;
}
