# Read by ctest after the test lists: the longest tests' seconds as measured in CI on 2 cores, so
# that ctest starts them first. Without it a fresh machine (no cost data from an earlier run)
# starts them last, in the order they were defined, and ends on a long tail with one core idle.
# (A name that matches no test is ignored; the container test's cost is set where it is added.)
foreach(entry
    "ParticipantOutageTest.OneParticipantDownForMinutesStopsOnlyThePaymentsThatNeedIt=122"
    "ShardFaultTest.OneShardKilledAndDownForAMinuteStopsOnlyItsKeys=65"
    "ShardFaultTest.OneShardsDiskFullStopsOnlyItsKeys=22"
    "AmqpParticipantFaultTest.CoordinatorLedgerAndBrokerFaultsUnderLoadKeepEveryGuarantee=128"
    "BrokerFaultTest.BrokerStoppedAndKilledUnderLoadLosesNoPaymentResult=70"
    "ParticipantOutageTest.TwoOfSeveralParticipantsDownStopOnlyThePaymentsThatNeedThem=63"
    "Modes/PowerCutCrashPointTest.PowerCutBeforeAndAfterEverySyncOfOnePayment/\"saga\"=56"
    "PowerCutTest.PowerCutAtEverySyncOfRecovery=51"
    "PowerCutTest.PowerCutsAtRandomInstantsUnderLoad=36"
    "AmqpParticipantTest.AnAnswerLostWithTheBrokerIsNeverAVote=36"
    "Modes/PowerCutCrashPointTest.PowerCutBeforeAndAfterEverySyncOfOnePayment/\"three_phase\"=35"
    "ThreePhaseFaultTest.ACoordinatorKilledAtAnyPointLeavesParticipantsThatFinishAlike=30"
    "OutboxRelayTest.ABrokerStoppedOrKilledDelaysMessagesAndLosesNone=27"
    "PowerCutTest.PowerCutWhileAStoreReopensAfterAFullDisk=26"
    "AmqpChannelTest.ConfirmedMessagesSurviveABrokerKilledMinus9=22"
    "BenchTest.GrowthModeReportsEveryPhase=21"
    "Modes/PowerCutCrashPointTest.PowerCutBeforeAndAfterEverySyncOfOnePayment/\"two_phase\"=20"
    "PostgresFaultTest.PostgresStoppedFastStoppedImmediateAndKilledUnderLoad=18"
    "AmqpCallTest.DuplicatedCallsHaveOneEffectAndLateOnesNone=16"
    "BrokerFaultTest.RelayAndNotifierKilledUnderLoadLoseNoPaymentResult=15"
    "BankFaultTest.CoordinatorKilledAtRandomInstantsUnderLoad=40")
  string(REGEX MATCH "^(.*)=([0-9]+)$" _ "${entry}")
  set_tests_properties("${CMAKE_MATCH_1}" PROPERTIES COST ${CMAKE_MATCH_2})
endforeach()
