#include "unit.h"
void test_record_register(void) {}
