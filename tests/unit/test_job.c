#include "unit.h"
void test_job_register(void) {}
