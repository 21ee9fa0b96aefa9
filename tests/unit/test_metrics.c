#include "unit.h"
void test_metrics_register(void) {}
