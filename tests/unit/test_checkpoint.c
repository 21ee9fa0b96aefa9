#include "unit.h"
void test_checkpoint_register(void) {}
