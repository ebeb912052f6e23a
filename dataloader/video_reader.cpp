#include "dataloader/video_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace wm::dataloader {

namespace {

FormatContextPtr open_format(const std::filesystem::path& path) {
  AVFormatContext* raw = nullptr;
  const int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    throw core::Error(path.string() + ": cannot open as a video (" + std::to_string(ec ? 0 : size) +
                      " bytes; a truncated file often loses its index): " + av_error_text(rc));
  }
  FormatContextPtr format(raw);
  const int info_rc = avformat_find_stream_info(raw, nullptr);
  if (info_rc < 0) throw core::Error(path.string() + ": cannot read stream information: " + av_error_text(info_rc));
  return format;
}

}  // namespace

VideoReader::VideoReader(const std::filesystem::path& path, const FrameSourceOptions& options)
    : options_(options),
      quiet_(quiet_ffmpeg_logging()),
      packet_(av_packet_alloc()),
      frame_(av_frame_alloc()),
      converter_(1, 1, false) {
  info_.path = path.string();
  index_packets();
  open_decoder();
  info_.height = options_.height > 0 ? options_.height : info_.source_height;
  info_.width = options_.width > 0 ? options_.width : info_.source_width;
  converter_ = RgbConverter(info_.height, info_.width, options_.center_crop);
  last_rgb_.resize(static_cast<size_t>(info_.height) * info_.width * 3);
}

void VideoReader::fail(const std::string& what, int code) const {
  throw core::Error(info_.path + ": " + what + (code != 0 ? ": " + av_error_text(code) : ""));
}

void VideoReader::index_packets() {
  FormatContextPtr format = open_format(info_.path);
  stream_ = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream_ < 0) fail("has no video stream", 0);
  const AVStream* stream = format->streams[stream_];
  info_.codec = avcodec_get_name(stream->codecpar->codec_id);
  if (avcodec_find_decoder(stream->codecpar->codec_id) == nullptr) {
    fail("codec '" + info_.codec + "' is not supported by this FFmpeg build", 0);
  }
  info_.source_width = stream->codecpar->width;
  info_.source_height = stream->codecpar->height;

  bool timestamps = true;
  int64_t last_position = 0;
  int64_t packets = 0;  // discarded ones included, to compare with the container's count
  while (true) {
    const int rc = av_read_frame(format.get(), packet_.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      fail("cannot read past frame " + std::to_string(pts_.size()) + " (byte " + std::to_string(last_position) + ")", rc);
    }
    if (packet_->stream_index == stream_) ++packets;
    // Packets an edit list cuts (AV_PKT_FLAG_DISCARD) never come out of the decoder.
    if (packet_->stream_index == stream_ && !(packet_->flags & AV_PKT_FLAG_DISCARD)) {
      const int64_t pts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
      timestamps = timestamps && pts != AV_NOPTS_VALUE;
      pts_.push_back(pts);
      if (packet_->pos >= 0) last_position = packet_->pos + packet_->size;
    }
    av_packet_unref(packet_.get());
  }
  if (pts_.empty()) fail("holds no video frames", 0);
  if (stream->nb_frames > 0 && packets < stream->nb_frames) {
    fail("is truncated: its index lists " + std::to_string(stream->nb_frames) + " frames but the data ends after frame " +
             std::to_string(packets) + " (byte " + std::to_string(last_position) + ")",
         0);
  }
  if (!timestamps) {
    for (size_t i = 0; i < pts_.size(); ++i) pts_[i] = static_cast<int64_t>(i);
  }
  std::sort(pts_.begin(), pts_.end());
  has_timestamps_ = timestamps;

  // Frame rate: the container's, else measured from the timestamps, else 25 (raw streams).
  const AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  const double time_base = timestamps ? av_q2d(stream->time_base) : 0.0;
  info_.source_fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
  if (info_.source_fps <= 0 && timestamps && pts_.size() > 1) {
    info_.source_fps = static_cast<double>(pts_.size() - 1) / (static_cast<double>(pts_.back() - pts_.front()) * time_base);
  }
  if (info_.source_fps <= 0) info_.source_fps = 25.0;
  info_.source_frames = static_cast<int64_t>(pts_.size());

  // Output frame k shows the source frame nearest its time k / fps.
  const auto n = static_cast<int64_t>(pts_.size());
  if (options_.fps <= 0) {
    info_.fps = info_.source_fps;
    output_to_source_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) output_to_source_[i] = i;
  } else {
    info_.fps = options_.fps;
    auto seconds = [&](int64_t i) {
      return timestamps ? static_cast<double>(pts_[i] - pts_[0]) * time_base : static_cast<double>(i) / info_.source_fps;
    };
    const double duration = seconds(n - 1) + 1.0 / info_.source_fps;
    const auto frames = std::max<int64_t>(1, std::llround(duration * options_.fps));
    int64_t i = 0;
    for (int64_t k = 0; k < frames; ++k) {
      const double t = static_cast<double>(k) / options_.fps + 0.5 / info_.source_fps;
      while (i + 1 < n && seconds(i + 1) <= t) ++i;
      output_to_source_.push_back(i);
    }
  }
  info_.frames = static_cast<int64_t>(output_to_source_.size());
}

void VideoReader::open_decoder() {
  format_ = open_format(info_.path);
  const AVStream* stream = format_->streams[stream_];
  const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
  codec_.reset(avcodec_alloc_context3(decoder));
  avcodec_parameters_to_context(codec_.get(), stream->codecpar);
  codec_->thread_count = std::max(1, options_.decoder_threads);
  codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  codec_->err_recognition |= AV_EF_EXPLODE;  // corrupt data is an error, not a smeared frame
  codec_->pkt_timebase = stream->time_base;
  const int rc = avcodec_open2(codec_.get(), decoder, nullptr);
  if (rc < 0) fail("cannot open the " + info_.codec + " decoder", rc);
  draining_ = false;
  decoded_index_ = -1;
  sequential_count_ = 0;
}

int64_t VideoReader::source_index_of(const AVFrame* frame) const {
  if (!has_timestamps_) return sequential_count_;
  const int64_t pts = frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp : frame->pts;
  if (pts == AV_NOPTS_VALUE) return decoded_index_ + 1;
  const auto it = std::lower_bound(pts_.begin(), pts_.end(), pts);
  if (it == pts_.end()) return static_cast<int64_t>(pts_.size()) - 1;
  return it - pts_.begin();
}

bool VideoReader::decode_next() {
  while (true) {
    int rc = avcodec_receive_frame(codec_.get(), frame_.get());
    if (rc == 0) {
      decoded_index_ = source_index_of(frame_.get());
      ++sequential_count_;
      if (frame_->decode_error_flags != 0 || (frame_->flags & AV_FRAME_FLAG_CORRUPT)) {
        fail("frame " + std::to_string(decoded_index_) + " is corrupt", 0);
      }
      return true;
    }
    if (rc == AVERROR_EOF) return false;
    if (rc != AVERROR(EAGAIN)) fail("cannot decode frame " + std::to_string(decoded_index_ + 1), rc);
    if (draining_) return false;
    rc = av_read_frame(format_.get(), packet_.get());
    if (rc == AVERROR_EOF) {
      avcodec_send_packet(codec_.get(), nullptr);  // flush the frames the decoder holds
      draining_ = true;
      continue;
    }
    if (rc < 0) fail("cannot read the packet after frame " + std::to_string(decoded_index_), rc);
    if (packet_->stream_index != stream_) {
      av_packet_unref(packet_.get());
      continue;
    }
    const int64_t position = packet_->pos;
    rc = avcodec_send_packet(codec_.get(), packet_.get());
    av_packet_unref(packet_.get());
    if (rc < 0 && rc != AVERROR(EAGAIN)) {
      fail("corrupt data after frame " + std::to_string(decoded_index_) + " (byte " + std::to_string(position) + ")", rc);
    }
  }
}

bool VideoReader::read(uint8_t* rgb) {
  if (position_ >= info_.frames) return false;
  const int64_t target = output_to_source_[position_];
  if (target != last_rgb_index_) {
    while (decoded_index_ < target) {
      if (!decode_next()) {
        fail("ends early: frame " + std::to_string(target) + " of " + std::to_string(info_.source_frames) +
                 " could not be decoded (the file is truncated or damaged)",
             0);
      }
    }
    converter_.convert(frame_.get(), last_rgb_.data());
    last_rgb_index_ = target;
  }
  std::memcpy(rgb, last_rgb_.data(), last_rgb_.size());
  ++position_;
  return true;
}

void VideoReader::seek(int64_t index) {
  if (index < 0 || index > info_.frames) {
    throw core::Error(info_.path + ": cannot seek to frame " + std::to_string(index) + " of " + std::to_string(info_.frames));
  }
  position_ = index;
  if (index == info_.frames) return;
  const int64_t target = output_to_source_[index];
  if (target == last_rgb_index_ || (target > decoded_index_ && target - decoded_index_ <= 8)) return;  // decode forward
  last_rgb_index_ = -1;
  if (has_timestamps_ && av_seek_frame(format_.get(), stream_, pts_[target], AVSEEK_FLAG_BACKWARD) >= 0) {
    avcodec_flush_buffers(codec_.get());
    draining_ = false;
    decoded_index_ = -1;
    return;
  }
  open_decoder();  // no usable index: decode again from the start
}

}  // namespace wm::dataloader
