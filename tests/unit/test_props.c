#include "unit.h"
void test_props_register(void) {}
