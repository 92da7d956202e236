#include "danlu_runtime.h"
