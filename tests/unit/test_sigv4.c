#include "unit.h"
void test_sigv4_register(void) {}
