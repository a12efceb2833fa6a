#ifndef SETTLE_TESTS_UNIT_ENGINE_COORDINATOR_FIXTURE_H_
#define SETTLE_TESTS_UNIT_ENGINE_COORDINATOR_FIXTURE_H_

// The engine harness (fakes only) as a GoogleTest fixture, for the coordinator's tests.

#include "gtest/gtest.h"
#include "tests/unit/engine/engine_harness.h"

namespace settle::engine {

class CoordinatorTest : public ::testing::Test, public EngineHarness {};

}  // namespace settle::engine

#endif  // SETTLE_TESTS_UNIT_ENGINE_COORDINATOR_FIXTURE_H_
