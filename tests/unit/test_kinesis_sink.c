#include "unit.h"
void test_kinesis_sink_register(void) {}
