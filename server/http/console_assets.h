#ifndef SETTLE_SERVER_HTTP_CONSOLE_ASSETS_H_
#define SETTLE_SERVER_HTTP_CONSOLE_ASSETS_H_

// The operator's console (server/http/console/: HTML, CSS and ES modules), embedded in the
// coordinator at build time by embed_assets.cmake; served by the HTTP port under /console/.

#include <string_view>
#include <vector>

namespace settle::http {

struct ConsoleAsset {
  std::string_view name;  // "console.js"
  std::string_view body;  // Static storage.
};

// Every file of the console. Immutable; thread-safe.
const std::vector<ConsoleAsset>& ConsoleAssets();

}  // namespace settle::http

#endif  // SETTLE_SERVER_HTTP_CONSOLE_ASSETS_H_
