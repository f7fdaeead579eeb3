// The semantic index following the store at once (GatewayDeps::removals, as `deja serve` wires it):
// entries the store deletes, purges, expires or evicts leave the index without another lookup.
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semantic/semantic_cache.h"
#include "server/gateway.h"
#include "server/gateway_test_util.h"
#include "server/semantic_gateway_test_util.h"
#include "server/semantic_setup.h"

namespace deja::server {
namespace {

using testing::ChatBody;
using testing::ClientResponse;
using ::testing::HasSubstr;

class GatewaySemanticRemovalTest : public testing::SemanticGatewayFixture {
 protected:
  GatewayOptions Options() {
    GatewayOptions o = SemanticOptions();
    o.server.admin_token = "t";
    return o;
  }
  // GET /deja/stats' semantic.removed.<cause>.
  double Removed(std::string_view cause) { return Semantic("removed", cause); }
  CacheKey KeyOf(const ClientResponse& r) { return *CacheKey::FromHex(r.Header("X-Deja-Key")); }
  ClientResponse Admin(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    return testing::Call(client_, server_->port(), method, path, body,
                         {{"X-Deja-Admin-Token", "t"}});
  }
};

TEST_F(GatewaySemanticRemovalTest, DeletePurgeAndExpiryLeaveTheIndexAtOnce) {
  Start(Options());
  ClientResponse a = Chat(ChatBody("What is the capital city of France?"));
  ClientResponse b = Chat(ChatBody("How many legs does a spider have?"));
  ClientResponse c =
      Chat(ChatBody("Who wrote the novel Moby Dick?"), {{"X-Deja-Namespace", "ns1"}});
  ClientResponse d =
      Chat(ChatBody("Who discovered the antibiotic penicillin?"), {{"X-Deja-TTL", "10"}});
  ClientResponse e = Chat(ChatBody("Which planet is the largest in our solar system?"));
  EXPECT_TRUE(semantic_->Contains(KeyOf(a)));
  EXPECT_TRUE(semantic_->Contains(KeyOf(b)));
  EXPECT_TRUE(semantic_->Contains(KeyOf(c)));
  EXPECT_TRUE(semantic_->Contains(KeyOf(d)));
  EXPECT_TRUE(semantic_->Contains(KeyOf(e)));
  ASSERT_EQ(semantic_->size(), 5u);

  // Deleted behind the gateway's back: the store tells the index.
  ASSERT_TRUE(store_->Delete(KeyOf(a)).ok());
  EXPECT_FALSE(semantic_->Contains(KeyOf(a)));
  EXPECT_EQ(semantic_->size(), 4u);
  EXPECT_EQ(Removed("deleted"), 1);
  // Deleted by the admin API: heard once (the admin's own removal finds it gone).
  EXPECT_EQ(Admin("DELETE", "/deja/entries/" + b.Header("X-Deja-Key")).code, 200);
  EXPECT_FALSE(semantic_->Contains(KeyOf(b)));
  EXPECT_EQ(Removed("deleted"), 2);
  // Purged by namespace through the admin API.
  ClientResponse purge = Admin("POST", "/deja/purge", R"({"namespace":"ns1"})");
  EXPECT_EQ(purge.code, 200) << purge.body;
  EXPECT_FALSE(semantic_->Contains(KeyOf(c)));
  EXPECT_EQ(Removed("purged"), 1);
  // Expired, then swept (serve sweeps every store.sweep_interval_s).
  clock_.Advance(11'000);
  StatusOr<int64_t> swept = store_->SweepExpired();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1);
  EXPECT_FALSE(semantic_->Contains(KeyOf(d)));
  EXPECT_EQ(Removed("expired"), 1);

  EXPECT_TRUE(semantic_->Contains(KeyOf(e)));
  EXPECT_EQ(semantic_->size(), 1u);
  EXPECT_EQ(Removed("evicted"), 0);
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr("deja_semantic_index_removals_total{cause=\"deleted\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("deja_semantic_index_removals_total{cause=\"purged\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("deja_semantic_index_removals_total{cause=\"expired\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("deja_semantic_stale_removed_total 0\n"));
}

TEST_F(GatewaySemanticRemovalTest, EvictionRemovesTheIndexEntry) {
  // One answer's stored size, measured through the gateway, then a fresh store capped at 2.5.
  Start(Options());
  Chat(ChatBody("What is the capital city of France?"));
  StatusOr<StoreStats> one = store_->Stats();
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->entries, 1);
  Stop();
  std::filesystem::remove_all(dir_);

  GatewayOptions o = Options();
  o.store.max_bytes = one->bytes * 5 / 2;
  Start(o);
  ClientResponse first = Chat(ChatBody("What is the capital city of Spain?"));
  clock_.Advance(1000);
  ClientResponse second = Chat(ChatBody("How many legs does a spider have?"));
  clock_.Advance(1000);
  ASSERT_EQ(semantic_->size(), 2u);
  // A third answer does not fit: the least recently used (the first) is evicted from the store
  // and, at once, from the index.
  ClientResponse third = Chat(ChatBody("Who painted the Mona Lisa portrait?"));
  EXPECT_EQ(store_->Peek(KeyOf(first)).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(semantic_->Contains(KeyOf(first)));
  EXPECT_TRUE(semantic_->Contains(KeyOf(second)));
  EXPECT_TRUE(semantic_->Contains(KeyOf(third)));
  EXPECT_EQ(Removed("evicted"), 1);
  EXPECT_THAT(Metrics(), HasSubstr("deja_semantic_index_removals_total{cause=\"evicted\"} 1\n"));
}

TEST_F(GatewaySemanticRemovalTest, AStoppedGatewayNoLongerListens) {
  Start(Options());
  ClientResponse a = Chat(ChatBody("What is the capital city of France?"));
  ASSERT_EQ(semantic_->size(), 1u);
  // The gateway detaches when destroyed; the index (kept here) hears nothing more.
  server_->Stop(1000);
  server_.reset();
  gateway_.reset();
  ASSERT_TRUE(store_->Delete(KeyOf(a)).ok());
  EXPECT_TRUE(semantic_->Contains(KeyOf(a)));
}

}  // namespace
}  // namespace deja::server
