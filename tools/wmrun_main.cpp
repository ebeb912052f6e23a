// wmrun: the torchrun-style launcher. It arrives with the distributed-training issue; until
// then it says so and fails, rather than pretending to launch anything.
#include <iostream>

int main() {
  std::cerr << "wmrun: error: not yet implemented (the launcher arrives with distributed "
               "training); run 'wm ...' directly for single-process work"
            << std::endl;
  return 2;
}
