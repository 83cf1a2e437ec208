#include "common/frame.h"
int main(void) { return 0; }
