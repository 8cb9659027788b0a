// (in progress)
#include "filters/content/relays.hpp"
