#include "unit.h"
void test_conf_register(void) {}
