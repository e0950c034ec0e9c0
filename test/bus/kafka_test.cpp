// The bus suite against a real Kafka cluster: GALE_KAFKA_BROKERS=127.0.0.1:9092 (scripts/services
// up). Skipped when the variable is not set.
#include "test/bus/bus_suite.h"

namespace gale::bus::test {

INSTANTIATE_TEST_SUITE_P(Kafka, BusTest, ::testing::Values(Target::kKafka), TargetName);

}  // namespace gale::bus::test
