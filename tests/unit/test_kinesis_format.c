#include "unit.h"
void test_kinesis_format_register(void) {}
