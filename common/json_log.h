#ifndef SETTLE_COMMON_JSON_LOG_H_
#define SETTLE_COMMON_JSON_LOG_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace settle {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sets the lowest level written; "debug", "info", "warning" or "error". Returns false on an
// unknown name. Thread-safe.
bool SetLogLevel(std::string_view name);

// Writes one JSON object on one line to stderr: {"ts":...,"level":...,"msg":..., fields...}.
// Field values are strings; pass "txn" for a transaction id so logs can be joined on it.
// Thread-safe: each line is written whole.
void Log(LogLevel level, std::string_view msg,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});

}  // namespace settle

#endif  // SETTLE_COMMON_JSON_LOG_H_
