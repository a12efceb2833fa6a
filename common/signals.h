#ifndef SETTLE_COMMON_SIGNALS_H_
#define SETTLE_COMMON_SIGNALS_H_

namespace settle {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards. Call
// first thing in main, before any thread exists.
void BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives; returns its number. Needs BlockTerminationSignals().
int WaitForTerminationSignal();

}  // namespace settle

#endif  // SETTLE_COMMON_SIGNALS_H_
