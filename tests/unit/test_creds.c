#include "unit.h"
void test_creds_register(void) {}
