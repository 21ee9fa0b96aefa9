#include "unit.h"
void test_chain_register(void) {}
