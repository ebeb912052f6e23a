#include "dataloader/ffmpeg_util.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include "core/error.h"

namespace wm::dataloader {

bool quiet_ffmpeg_logging() {
  av_log_set_level(AV_LOG_FATAL);
  return true;
}

std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

void RgbConverter::convert(const AVFrame* frame, uint8_t* rgb) {
  if (!sws_ || frame->width != src_w_ || frame->height != src_h_ || frame->format != src_format_) {
    src_w_ = frame->width;
    src_h_ = frame->height;
    src_format_ = frame->format;
    crop_x_ = crop_y_ = 0;
    crop_w_ = src_w_;
    crop_h_ = src_h_;
    if (crop_) {
      // Keep the output's aspect ratio: cut the longer side of the source.
      const double want = static_cast<double>(out_w_) / out_h_;
      if (static_cast<double>(src_w_) / src_h_ > want) {
        crop_w_ = std::max(1, static_cast<int>(src_h_ * want + 0.5));
        crop_x_ = (src_w_ - crop_w_) / 2;
      } else {
        crop_h_ = std::max(1, static_cast<int>(src_w_ / want + 0.5));
        crop_y_ = (src_h_ - crop_h_) / 2;
      }
    }
    // Area averaging when shrinking (no aliasing), bicubic otherwise.
    const int flags = (out_w_ < crop_w_ || out_h_ < crop_h_) ? SWS_AREA : SWS_BICUBIC;
    sws_.reset(sws_getContext(crop_w_, crop_h_, static_cast<AVPixelFormat>(src_format_), out_w_, out_h_,
                              AV_PIX_FMT_RGB24, flags | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr));
    if (!sws_) {
      const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(src_format_));
      throw core::Error(std::string("cannot convert pixel format ") + (name ? name : "?") + " to RGB");
    }
  }
  // Point the source planes at the crop window (chroma planes offset by their subsampling).
  const uint8_t* planes[4] = {nullptr, nullptr, nullptr, nullptr};
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(src_format_));
  for (int p = 0; p < 4 && frame->data[p]; ++p) {
    int component = 0;  // a component stored in this plane: its step and subsampling apply
    while (component < desc->nb_components - 1 && desc->comp[component].plane != p) ++component;
    const bool chroma = component == 1 || component == 2;
    const int x = chroma ? (crop_x_ >> desc->log2_chroma_w) : crop_x_;
    const int y = chroma ? (crop_y_ >> desc->log2_chroma_h) : crop_y_;
    planes[p] = frame->data[p] + static_cast<ptrdiff_t>(y) * frame->linesize[p] +
                static_cast<ptrdiff_t>(x) * desc->comp[component].step;
  }
  uint8_t* out_planes[1] = {rgb};
  const int out_strides[1] = {out_w_ * 3};
  sws_scale(sws_.get(), planes, frame->linesize, 0, crop_h_, out_planes, out_strides);
}

}  // namespace wm::dataloader
