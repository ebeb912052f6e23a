// Small RAII and error helpers around the FFmpeg C API, shared by the video reader and the
// image-folder reader (and, through the same pattern, the writer in viz/).
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace wm::dataloader {

// FFmpeg prints its own warnings to stderr; wm reports failures itself, one line each, so
// only fatal messages stay. Returns true (for use in member initializers); idempotent.
bool quiet_ffmpeg_logging();

// "Invalid data found when processing input" for an AVERROR code.
std::string av_error_text(int code);

struct FormatContextCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextFreer {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsFreer {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextCloser>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using SwsPtr = std::unique_ptr<SwsContext, SwsFreer>;

// Scales any decoded frame to RGB24 at (out_height, out_width): resize, with an optional
// centre crop of the source to the output's aspect ratio first (no stretching).
class RgbConverter {
 public:
  RgbConverter(int out_height, int out_width, bool center_crop) : out_h_(out_height), out_w_(out_width), crop_(center_crop) {}
  void convert(const AVFrame* frame, uint8_t* rgb);

 private:
  int out_h_, out_w_;
  bool crop_;
  SwsPtr sws_;
  int src_w_ = 0, src_h_ = 0, src_format_ = -1;
  int crop_x_ = 0, crop_y_ = 0, crop_w_ = 0, crop_h_ = 0;
};

}  // namespace wm::dataloader
