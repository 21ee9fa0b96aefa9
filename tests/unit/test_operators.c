#include "unit.h"
void test_operators_register(void) {}
