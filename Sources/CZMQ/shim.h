// libzmq (Debian libzmq3-dev). Only Sources/Transport may import this module.
#include <zmq.h>
