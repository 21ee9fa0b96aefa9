#include "unit.h"
void test_http_register(void) {}
