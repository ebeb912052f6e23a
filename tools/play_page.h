// The page `wm play` serves, compiled into the binary from tools/play_page.html (nothing is
// read from disk at run time).
#pragma once

#include <string>

namespace wm::tools {

const std::string& play_page_html();

}  // namespace wm::tools
