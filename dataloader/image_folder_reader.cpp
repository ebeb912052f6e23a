#include "dataloader/image_folder_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace wm::dataloader {

namespace {

// "frame2" < "frame10": digit runs compare as numbers.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i_end = i, j_end = j;
      while (i_end < a.size() && std::isdigit(static_cast<unsigned char>(a[i_end]))) ++i_end;
      while (j_end < b.size() && std::isdigit(static_cast<unsigned char>(b[j_end]))) ++j_end;
      const std::string x = a.substr(i, i_end - i), y = b.substr(j, j_end - j);
      const size_t xs = x.find_first_not_of('0'), ys = y.find_first_not_of('0');
      const std::string xv = xs == std::string::npos ? "" : x.substr(xs), yv = ys == std::string::npos ? "" : y.substr(ys);
      if (xv.size() != yv.size()) return xv.size() < yv.size();
      if (xv != yv) return xv < yv;
      i = i_end;
      j = j_end;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

}  // namespace

ImageFolderReader::ImageFolderReader(const std::filesystem::path& dir, const FrameSourceOptions& options)
    : frame_(av_frame_alloc()), packet_(av_packet_alloc()), converter_(1, 1, false) {
  quiet_ffmpeg_logging();
  info_.path = dir.string();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_image_file(entry.path())) files_.push_back(entry.path());
  }
  if (files_.empty()) throw core::Error(dir.string() + ": no image files (jpg, jpeg, png, bmp) in this folder");
  std::sort(files_.begin(), files_.end(),
            [](const auto& a, const auto& b) { return natural_less(a.filename().string(), b.filename().string()); });

  decode_file(files_.front());
  info_.source_width = frame_->width;
  info_.source_height = frame_->height;
  info_.source_fps = options.image_fps;
  info_.source_frames = static_cast<int64_t>(files_.size());
  info_.height = options.height > 0 ? options.height : info_.source_height;
  info_.width = options.width > 0 ? options.width : info_.source_width;
  info_.fps = options.fps > 0 ? options.fps : options.image_fps;
  const auto n = static_cast<int64_t>(files_.size());
  const auto frames = options.fps > 0 ? std::max<int64_t>(1, std::llround(n / options.image_fps * options.fps)) : n;
  for (int64_t k = 0; k < frames; ++k) {
    const double source = static_cast<double>(k) * options.image_fps / info_.fps;  // nearest source image
    output_to_file_.push_back(std::min<int64_t>(n - 1, static_cast<int64_t>(std::floor(source + 0.5))));
  }
  info_.frames = frames;
  converter_ = RgbConverter(info_.height, info_.width, options.center_crop);
}

void ImageFolderReader::decode_file(const std::filesystem::path& file) {
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, file.c_str(), nullptr, nullptr);
  if (rc < 0) throw core::Error(file.string() + ": cannot open as an image: " + av_error_text(rc));
  FormatContextPtr format(raw);
  avformat_find_stream_info(raw, nullptr);
  const int stream = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream < 0) throw core::Error(file.string() + ": not an image");
  const AVCodec* decoder = avcodec_find_decoder(raw->streams[stream]->codecpar->codec_id);
  info_.codec = avcodec_get_name(raw->streams[stream]->codecpar->codec_id);
  if (decoder == nullptr) throw core::Error(file.string() + ": codec '" + info_.codec + "' is not supported by this FFmpeg build");
  CodecContextPtr codec(avcodec_alloc_context3(decoder));
  avcodec_parameters_to_context(codec.get(), raw->streams[stream]->codecpar);
  codec->err_recognition |= AV_EF_EXPLODE;
  if ((rc = avcodec_open2(codec.get(), decoder, nullptr)) < 0) throw core::Error(file.string() + ": " + av_error_text(rc));
  while ((rc = av_read_frame(raw, packet_.get())) >= 0) {
    if (packet_->stream_index == stream) {
      rc = avcodec_send_packet(codec.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (rc < 0) throw core::Error(file.string() + ": corrupt image: " + av_error_text(rc));
      break;
    }
    av_packet_unref(packet_.get());
  }
  avcodec_send_packet(codec.get(), nullptr);
  rc = avcodec_receive_frame(codec.get(), frame_.get());
  if (rc < 0) throw core::Error(file.string() + ": cannot decode the image: " + av_error_text(rc));
}

bool ImageFolderReader::read(uint8_t* rgb) {
  if (position_ >= info_.frames) return false;
  const auto& file = files_[output_to_file_[position_]];
  decode_file(file);
  if (frame_->width != info_.source_width || frame_->height != info_.source_height) {
    throw core::Error(file.string() + ": image is " + std::to_string(frame_->width) + "x" + std::to_string(frame_->height) +
                      " but the folder's first image is " + std::to_string(info_.source_width) + "x" +
                      std::to_string(info_.source_height));
  }
  converter_.convert(frame_.get(), rgb);
  ++position_;
  return true;
}

void ImageFolderReader::seek(int64_t index) {
  if (index < 0 || index > info_.frames) {
    throw core::Error(info_.path + ": cannot seek to frame " + std::to_string(index) + " of " + std::to_string(info_.frames));
  }
  position_ = index;
}

}  // namespace wm::dataloader
