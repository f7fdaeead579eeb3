// GatewayOptions::Validate: every semantic, shadow and sweep limit names the field it rejects.
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "deja/gateway_options.h"

namespace deja {
namespace {

// The defaults with one change; the status of Validate.
Status With(const std::function<void(GatewayOptions&)>& change) {
  GatewayOptions o;
  change(o);
  return o.Validate();
}

void ExpectRejected(const std::function<void(GatewayOptions&)>& change, const std::string& field) {
  Status st = With(change);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << field;
  EXPECT_NE(st.message().find(field), std::string::npos) << st.message();
}

TEST(GatewayOptionsTest, DefaultsAreValid) { EXPECT_TRUE(GatewayOptions{}.Validate().ok()); }

TEST(GatewayOptionsTest, SemanticLimits) {
  ExpectRejected([](GatewayOptions& o) { o.semantic.embedder = "magic"; }, "semantic.embedder");
  ExpectRejected(
      [](GatewayOptions& o) {
        o.semantic.enabled = true;
        o.semantic.embedder = "bert";
      },
      "semantic.model_dir");
  ExpectRejected([](GatewayOptions& o) { o.semantic.threshold = 1.5; }, "semantic.threshold");
  ExpectRejected([](GatewayOptions& o) { o.semantic.max_false_hit_rate = 0; },
                 "semantic.max_false_hit_rate");
  ExpectRejected([](GatewayOptions& o) { o.semantic.max_false_hit_rate = 1.01; },
                 "semantic.max_false_hit_rate");
  ExpectRejected([](GatewayOptions& o) { o.semantic.false_hit_bound = "sometimes"; },
                 "semantic.false_hit_bound");
  ExpectRejected([](GatewayOptions& o) { o.semantic.audit_rate = -0.1; }, "semantic.audit_rate");
  ExpectRejected([](GatewayOptions& o) { o.semantic.audit_rate = 2; }, "semantic.audit_rate");
  ExpectRejected([](GatewayOptions& o) { o.semantic.verify = "vibes"; }, "semantic.verify");
  ExpectRejected([](GatewayOptions& o) { o.semantic.query_turns = 0; }, "semantic.query_turns");
  ExpectRejected([](GatewayOptions& o) { o.semantic.hnsw_threshold = 0; },
                 "semantic.hnsw_threshold");
  ExpectRejected([](GatewayOptions& o) { o.semantic.large_index = "btree"; },
                 "semantic.large_index");
  ExpectRejected([](GatewayOptions& o) { o.semantic.embedder = "remote"; }, "semantic.remote_url");
  ExpectRejected([](GatewayOptions& o) { o.semantic.remote_timeout_ms = 0; },
                 "semantic.remote_timeout_ms");
  // The edges that are allowed.
  EXPECT_TRUE(With([](GatewayOptions& o) {
                o.semantic.max_false_hit_rate = 1;
                o.semantic.false_hit_bound = "lookups";
                o.semantic.audit_rate = 0;
              }).ok());
}

TEST(GatewayOptionsTest, ShadowAndSweepIntervals) {
  ExpectRejected([](GatewayOptions& o) { o.server.shadow_report_interval_s = 0; },
                 "server.shadow_report_interval_s");
  ExpectRejected([](GatewayOptions& o) { o.store.sweep_interval_s = -1; },
                 "store.sweep_interval_s");
  EXPECT_TRUE(With([](GatewayOptions& o) { o.store.sweep_interval_s = 0; }).ok());
}

}  // namespace
}  // namespace deja
