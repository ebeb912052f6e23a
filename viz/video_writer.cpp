#include "viz/video_writer.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>

#include "core/error.h"
#include "viz/av_error.h"
#include "core/file_io.h"
#include "viz/palette.h"

namespace wm::viz {

namespace {

std::string default_codec(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".avi") return "mpeg4";
  if (ext == ".hevc" || ext == ".h265" || ext == ".265") return "libx265";
  if (ext == ".png") return "png";  // one image (image2 muxer)
  if (ext == ".apng") return "apng";
  if (ext == ".gif") return "gif";  // palette frames (median cut of the first frame)
  // H.264 where this FFmpeg build has x264; MPEG-4 part 2 (built into libavcodec) otherwise.
  return avcodec_find_encoder_by_name("libx264") ? "libx264" : "mpeg4";
}

}  // namespace

struct VideoWriter::State {
  std::filesystem::path path, tmp;
  int height = 0, width = 0;
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;  // RGB to the codec's pixel format; none for palette frames
  std::vector<PaletteColor> palette;  // pal8 (GIF): chosen from the first frame, kept for all
  int64_t frames = 0;
  bool closed = false;

  [[noreturn]] void fail(const std::string& what, int code) const {
    throw core::Error(path.string() + ": " + what + (code ? ": " + av_error_text(code) : ""));
  }

  // Sends a frame (or nullptr to flush) and writes every packet the encoder returns.
  void encode(AVFrame* input) {
    int rc = avcodec_send_frame(codec, input);
    if (rc < 0) fail("cannot encode frame " + std::to_string(frames), rc);
    while ((rc = avcodec_receive_packet(codec, packet)) == 0) {
      // Every frame lasts one tick; without it mp4's edit list cuts the last frame.
      if (packet->duration == 0) packet->duration = 1;
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      rc = av_interleaved_write_frame(format, packet);
      if (rc < 0) fail("cannot write to the file", rc);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) fail("encoder failed", rc);
  }

  ~State() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
    if (format) {
      if (!(format->oformat->flags & AVFMT_NOFILE)) avio_closep(&format->pb);
      avformat_free_context(format);
    }
    std::error_code ec;
    if (!closed) std::filesystem::remove(tmp, ec);
  }
};

VideoWriter::VideoWriter(const std::filesystem::path& path, int height, int width, VideoWriterOptions options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  av_log_set_level(AV_LOG_FATAL);  // encoder statistics and warnings off; errors are ours
  s.path = path;
  s.height = height;
  s.width = width;
  s.tmp = path.parent_path() / ("." + path.stem().string() + ".tmp" + path.extension().string());
  if (!path.parent_path().empty()) core::ensure_directory(path.parent_path());
  const std::string codec_name = options.codec.empty() ? default_codec(path) : options.codec;

  int rc = avformat_alloc_output_context2(&s.format, nullptr, nullptr, s.tmp.c_str());
  if (rc < 0 || !s.format) s.fail("no container format for this file extension", rc);
  const AVCodec* encoder = avcodec_find_encoder_by_name(codec_name.c_str());
  if (!encoder) s.fail("encoder '" + codec_name + "' is not in this FFmpeg build", 0);
  s.stream = avformat_new_stream(s.format, nullptr);
  s.codec = avcodec_alloc_context3(encoder);
  s.codec->width = width;
  s.codec->height = height;
  s.codec->time_base = av_inv_q(av_d2q(options.fps, 100000));
  s.codec->framerate = av_d2q(options.fps, 100000);
  s.codec->gop_size = 12;
  const bool x26x = codec_name == "libx264" || codec_name == "libx265";
  std::string pixel_format = options.pixel_format;
  if (pixel_format.empty()) {
    pixel_format = codec_name == "apng" || codec_name == "png" ? "rgb24"
                   : codec_name == "gif"                      ? "pal8"
                                                              : (x26x && options.quality == 0 ? "yuv444p" : "yuv420p");
  }
  s.codec->pix_fmt = av_get_pix_fmt(pixel_format.c_str());
  if (s.codec->pix_fmt == AV_PIX_FMT_NONE) s.fail("unknown pixel format '" + pixel_format + "'", 0);
  if (x26x) {
    av_opt_set(s.codec->priv_data, "crf", std::to_string(options.quality).c_str(), 0);
    av_opt_set(s.codec->priv_data, "preset", "veryfast", 0);
    if (codec_name == "libx265") av_opt_set(s.codec->priv_data, "x265-params", "log-level=error", 0);
  } else if (codec_name == "mpeg4") {
    s.codec->flags |= AV_CODEC_FLAG_QSCALE;
    s.codec->global_quality = FF_QP2LAMBDA * std::clamp(options.quality, 1, 31);
  }
  if (s.format->oformat->flags & AVFMT_GLOBALHEADER) s.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if ((rc = avcodec_open2(s.codec, encoder, nullptr)) < 0) s.fail("cannot open encoder " + codec_name, rc);
  avcodec_parameters_from_context(s.stream->codecpar, s.codec);
  s.stream->time_base = s.codec->time_base;
  if (!(s.format->oformat->flags & AVFMT_NOFILE) && (rc = avio_open(&s.format->pb, s.tmp.c_str(), AVIO_FLAG_WRITE)) < 0) {
    s.fail("cannot create " + s.tmp.string(), rc);
  }
  if ((rc = avformat_write_header(s.format, nullptr)) < 0) s.fail("cannot write the container header", rc);

  s.frame = av_frame_alloc();
  s.frame->format = s.codec->pix_fmt;
  s.frame->width = width;
  s.frame->height = height;
  if ((rc = av_frame_get_buffer(s.frame, 0)) < 0) s.fail("cannot allocate a frame", rc);
  s.packet = av_packet_alloc();
  if (s.codec->pix_fmt == AV_PIX_FMT_PAL8) return;
  s.sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, s.codec->pix_fmt,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr);
  if (!s.sws) s.fail("cannot convert RGB to " + pixel_format, 0);
}

VideoWriter::~VideoWriter() = default;

void VideoWriter::write(const uint8_t* rgb) {
  State& s = *state_;
  if (s.closed) s.fail("write after close", 0);
  int rc = av_frame_make_writable(s.frame);
  if (rc < 0) s.fail("frame buffer", rc);
  if (s.codec->pix_fmt == AV_PIX_FMT_PAL8) {
    const size_t row_pixels = static_cast<size_t>(s.width);
    if (s.palette.empty()) s.palette = median_cut_palette(rgb, row_pixels * static_cast<size_t>(s.height));
    for (int y = 0; y < s.height; ++y) {
      map_to_palette(rgb + static_cast<size_t>(y) * row_pixels * 3, row_pixels, s.palette, s.frame->data[0] + static_cast<size_t>(y) * s.frame->linesize[0]);
    }
    auto* entries = reinterpret_cast<uint32_t*>(s.frame->data[1]);  // 256 x ARGB, native endian
    for (size_t e = 0; e < 256; ++e) {
      const PaletteColor c = e < s.palette.size() ? s.palette[e] : PaletteColor{0, 0, 0};
      entries[e] = (0xFFu << 24) | (uint32_t{c[0]} << 16) | (uint32_t{c[1]} << 8) | c[2];
    }
  } else {
    const uint8_t* src[1] = {rgb};
    const int stride[1] = {s.width * 3};
    sws_scale(s.sws, src, stride, 0, s.height, s.frame->data, s.frame->linesize);
  }
  s.frame->pts = s.frames++;
  s.encode(s.frame);
}

void VideoWriter::close() {
  State& s = *state_;
  if (s.closed) return;
  s.encode(nullptr);
  const int rc = av_write_trailer(s.format);
  if (rc < 0) s.fail("cannot finish the container", rc);
  if (!(s.format->oformat->flags & AVFMT_NOFILE)) avio_closep(&s.format->pb);
  std::error_code ec;
  std::filesystem::rename(s.tmp, s.path, ec);
  if (ec) s.fail("cannot rename " + s.tmp.string() + " into place: " + ec.message(), 0);
  s.closed = true;
}

int64_t VideoWriter::frames_written() const { return state_->frames; }

}  // namespace wm::viz
