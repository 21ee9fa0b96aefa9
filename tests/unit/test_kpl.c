#include "unit.h"
void test_kpl_register(void) {}
