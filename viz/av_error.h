// FFmpeg's text for one of its error codes (what av_strerror writes), for wm::core::Error
// messages of the video and image writers.
#pragma once

extern "C" {
#include <libavutil/error.h>
}

#include <string>

namespace wm::viz {

inline std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

}  // namespace wm::viz
