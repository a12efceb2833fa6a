#include "common/json_log.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace settle {
namespace {

// Relaxed: the level is an independent setting; a racing reader may see either value.
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

constexpr const char* kLevelNames[] = {"debug", "info", "warning", "error"};

}  // namespace

bool SetLogLevel(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kLevelNames[i]) {
      g_min_level.store(i, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void Log(LogLevel level, std::string_view msg,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = "{\"ts\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  line += "\",\"level\":\"";
  line += kLevelNames[static_cast<int>(level)];
  line += "\",\"msg\":";
  AppendJsonString(&line, msg);
  for (const auto& [key, value] : fields) {
    line.push_back(',');
    AppendJsonString(&line, key);
    line.push_back(':');
    AppendJsonString(&line, value);
  }
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace settle
