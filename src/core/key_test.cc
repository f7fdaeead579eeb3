#include "core/key.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/json.h"

namespace deja {
namespace {

NormalizedRequest Normalized(std::string_view body) {
  auto n = Normalizer::Create({});
  auto r = (*n)->Normalize(Route::kChatCompletions, std::move(*json::Parse(body)), {});
  return std::move(*r);
}

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("deja_key_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(KeyTest, TenantsNamespacesAndRoutesNeverShareKeys) {
  DeploymentSecret secret{};
  secret[0] = 7;
  NormalizedRequest req = Normalized(R"({"model":"m","messages":[]})");
  TenantScope alice = ScopeForCredential(secret, "sk-alice");
  TenantScope bob = ScopeForCredential(secret, "sk-bob");
  EXPECT_EQ(alice, ScopeForCredential(secret, "sk-alice"));
  EXPECT_NE(alice, bob);
  const CacheKey k = ComputeKey(alice, "", Route::kChatCompletions, req);
  EXPECT_EQ(k, ComputeKey(alice, "", Route::kChatCompletions, req));
  EXPECT_NE(k, ComputeKey(bob, "", Route::kChatCompletions, req));
  EXPECT_NE(k, ComputeKey(alice, "ns", Route::kChatCompletions, req));
  EXPECT_NE(k, ComputeKey(alice, "", Route::kCompletions, req));
  DeploymentSecret other = secret;
  other[1] = 1;
  EXPECT_NE(alice, ScopeForCredential(other, "sk-alice"));
}

TEST(KeyTest, FramingSeparatesNamespaceFromBody) {
  DeploymentSecret secret{};
  TenantScope s = ScopeForCredential(secret, "");
  NormalizedRequest a = Normalized(R"({"a":1})");
  NormalizedRequest b = a;
  b.keyed_headers = a.canonical;
  b.canonical = "";
  EXPECT_NE(ComputeKey(s, "", Route::kChatCompletions, a),
            ComputeKey(s, "", Route::kChatCompletions, b));
}

TEST(KeyTest, GoldenKeyIsStable) {
  // A change here changes every user's keys: bump kKeySchemaVersion and update on purpose.
  DeploymentSecret secret{};
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(i);
  TenantScope s = ScopeForCredential(secret, "sk-test");
  CacheKey k =
      ComputeKey(s, "", Route::kChatCompletions,
                 Normalized(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_EQ(k.Hex().size(), 64u);
  EXPECT_EQ(k.Hex(), "87c48f8c6b90757b77606779cc803507eb9b1ac6c9f83fbbb0c15f4e1002bb6f");
}

TEST(KeyTest, CredentialFromHeaders) {
  EXPECT_EQ(CredentialFromHeaders("Bearer sk-1", ""), "sk-1");
  EXPECT_EQ(CredentialFromHeaders("bearer sk-1", "x"), "sk-1");
  EXPECT_EQ(CredentialFromHeaders("", "sk-ant"), "sk-ant");
  EXPECT_EQ(CredentialFromHeaders("", ""), "");
}

TEST(KeyTest, SecretIsCreatedOnceWithPrivateMode) {
  const std::string dir = TempDir("secret");
  EXPECT_EQ(LoadDeploymentSecret(dir).status().code(), StatusCode::kNotFound);
  auto first = LoadOrCreateDeploymentSecret(dir);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat((dir + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto again = LoadOrCreateDeploymentSecret(dir);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*first, *again);
  EXPECT_EQ(*LoadDeploymentSecret(dir), *first);
  EXPECT_NE(*first, DeploymentSecret{});
  std::filesystem::remove_all(dir);
}

TEST(KeyTest, TruncatedSecretIsDataLoss) {
  const std::string dir = TempDir("short");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/secret") << "short";
  auto s = LoadOrCreateDeploymentSecret(dir);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deja
