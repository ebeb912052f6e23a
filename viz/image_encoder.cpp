#include "viz/image_encoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
}

#include <algorithm>

#include "core/error.h"
#include "viz/av_error.h"

namespace wm::viz {

struct ImageEncoder::State {
  ImageFormat format = ImageFormat::kPng;
  int height = 0, width = 0;
  AVCodecContext* codec = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;  // JPEG: RGB to full-range YUV 4:2:0

  [[noreturn]] void fail(const std::string& what, int code) const {
    throw core::Error(std::string(format == ImageFormat::kPng ? "PNG" : "JPEG") + " encoder (" + std::to_string(height) + "x" +
                      std::to_string(width) + "): " + what + (code ? ": " + av_error_text(code) : ""));
  }
  ~State() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
  }
};

ImageEncoder::ImageEncoder(ImageFormat format, int height, int width, int quality) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.format = format;
  s.height = height;
  s.width = width;
  if (height < 1 || width < 1) s.fail("the frame size must be positive", 0);
  const AVCodec* encoder = avcodec_find_encoder(format == ImageFormat::kPng ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG);
  if (!encoder) s.fail("this FFmpeg build has no such encoder", 0);
  s.codec = avcodec_alloc_context3(encoder);
  s.frame = av_frame_alloc();
  s.packet = av_packet_alloc();
  if (!s.codec || !s.frame || !s.packet) s.fail("out of memory", 0);
  s.codec->width = width;
  s.codec->height = height;
  s.codec->time_base = AVRational{1, 25};
  if (format == ImageFormat::kPng) {
    s.codec->pix_fmt = AV_PIX_FMT_RGB24;
    s.codec->compression_level = 1;  // speed over a few bytes: the frames are small
  } else {
    s.codec->pix_fmt = AV_PIX_FMT_YUVJ420P;
    s.codec->flags |= AV_CODEC_FLAG_QSCALE;
    s.codec->global_quality = FF_QP2LAMBDA * std::clamp(quality, 2, 31);
    s.sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUVJ420P, SWS_BILINEAR, nullptr, nullptr, nullptr);
    if (!s.sws) s.fail("cannot convert RGB to YUV at this size", 0);
  }
  int rc = avcodec_open2(s.codec, encoder, nullptr);
  if (rc < 0) s.fail("cannot open", rc);
  s.frame->format = s.codec->pix_fmt;
  s.frame->width = width;
  s.frame->height = height;
  rc = av_frame_get_buffer(s.frame, 0);
  if (rc < 0) s.fail("cannot allocate a frame", rc);
}

ImageEncoder::~ImageEncoder() = default;

const char* ImageEncoder::mime_type() const { return state_->format == ImageFormat::kPng ? "image/png" : "image/jpeg"; }

std::string ImageEncoder::encode(const uint8_t* rgb) {
  State& s = *state_;
  int rc = av_frame_make_writable(s.frame);
  if (rc < 0) s.fail("frame not writable", rc);
  if (s.format == ImageFormat::kPng) {
    for (int y = 0; y < s.height; ++y) {
      std::copy_n(rgb + static_cast<size_t>(y) * s.width * 3, static_cast<size_t>(s.width) * 3, s.frame->data[0] + static_cast<size_t>(y) * s.frame->linesize[0]);
    }
  } else {
    const uint8_t* source[1] = {rgb};
    const int stride[1] = {s.width * 3};
    sws_scale(s.sws, source, stride, 0, s.height, s.frame->data, s.frame->linesize);
  }
  rc = avcodec_send_frame(s.codec, s.frame);
  if (rc < 0) s.fail("cannot encode the frame", rc);
  rc = avcodec_receive_packet(s.codec, s.packet);
  if (rc < 0) s.fail("no image came out", rc);
  std::string bytes(reinterpret_cast<const char*>(s.packet->data), static_cast<size_t>(s.packet->size));
  av_packet_unref(s.packet);
  return bytes;
}

}  // namespace wm::viz
