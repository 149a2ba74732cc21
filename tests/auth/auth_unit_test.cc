// Unit tests of server/auth: range permissions, passwords, tokens, the replicated state's changes
// and the Authority's identity and checks (including the TLS Common Name hook, which cannot be
// exercised end to end until cairnd serves TLS).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "server/auth/auth_state.h"
#include "server/auth/authority.h"
#include "server/auth/passwords.h"
#include "server/auth/permissions.h"
#include "server/auth/tokens.h"

namespace cairn::auth {
namespace {

authpb::Permission Perm(authpb::Permission::Type type, std::string key, std::string range_end = "") {
  authpb::Permission p;
  p.set_permtype(type);
  p.set_key(std::move(key));
  p.set_range_end(std::move(range_end));
  return p;
}

const std::string kFromKey(1, '\0');

// ---------------------------------------------------------------- permissions

TEST(KeyPermissions, SingleKeyCoversOnlyThatKey) {
  KeyPermissions p;
  p.Add(Perm(authpb::Permission::READ, "a"));
  p.Seal();
  EXPECT_TRUE(p.CanRead("a", ""));
  EXPECT_FALSE(p.CanRead("ab", ""));
  EXPECT_FALSE(p.CanRead("a", "b"));  // [a, b) holds more than "a"
  EXPECT_TRUE(p.CanRead("a", std::string("a\0", 2)));
  EXPECT_FALSE(p.CanWrite("a", ""));
}

TEST(KeyPermissions, PrefixRangeAndRequestsInsideOrOutside) {
  KeyPermissions p;
  p.Add(Perm(authpb::Permission::READWRITE, "foo/", "foo0"));
  p.Seal();
  EXPECT_TRUE(p.CanWrite("foo/x", ""));
  EXPECT_TRUE(p.CanRead("foo/", "foo0"));
  EXPECT_TRUE(p.CanRead("foo/a", "foo/b"));
  EXPECT_FALSE(p.CanRead("foo", ""));
  EXPECT_FALSE(p.CanRead("foo0", ""));
  EXPECT_FALSE(p.CanRead("foo/", "foo1"));
  EXPECT_FALSE(p.CanRead("foo/", kFromKey));
  EXPECT_FALSE(p.CanRead("", kFromKey));
}

TEST(KeyPermissions, FromKeyPermissionCoversEverythingAfter) {
  KeyPermissions p;
  p.Add(Perm(authpb::Permission::WRITE, "m", kFromKey));
  p.Seal();
  EXPECT_TRUE(p.CanWrite("m", ""));
  EXPECT_TRUE(p.CanWrite("zzzz", ""));
  EXPECT_TRUE(p.CanWrite("n", kFromKey));
  EXPECT_TRUE(p.CanWrite("m", "\xff\xff"));
  EXPECT_FALSE(p.CanWrite("l", ""));
  EXPECT_FALSE(p.CanWrite("a", kFromKey));
  EXPECT_FALSE(p.CanRead("m", ""));
}

TEST(KeyPermissions, AdjacentAndOverlappingRangesMergeGapsDoNot) {
  KeyPermissions p;
  p.Add(Perm(authpb::Permission::READ, "a", "c"));
  p.Add(Perm(authpb::Permission::READ, "c", "e"));     // touches [a, c)
  p.Add(Perm(authpb::Permission::READ, "d", "f"));     // overlaps
  p.Add(Perm(authpb::Permission::READ, "g", "h"));     // after a gap
  p.Add(Perm(authpb::Permission::READWRITE, "b", "x"));  // write only here
  p.Seal();
  EXPECT_TRUE(p.CanRead("a", "f"));
  EXPECT_TRUE(p.CanRead("a", "g"));  // the gap [f, g) is inside the READWRITE [b, x)
  EXPECT_TRUE(p.CanRead("a", "x"));
  EXPECT_FALSE(p.CanRead("a", "y"));
  EXPECT_FALSE(p.CanWrite("a", "c"));
  EXPECT_TRUE(p.CanWrite("b", "x"));
}

TEST(KeyPermissions, GapBetweenRangesIsNotCovered) {
  KeyPermissions p;
  p.Add(Perm(authpb::Permission::READ, "a", "c"));
  p.Add(Perm(authpb::Permission::READ, "d", "f"));
  p.Seal();
  EXPECT_TRUE(p.CanRead("a", "c"));
  EXPECT_TRUE(p.CanRead("d", "e"));
  EXPECT_FALSE(p.CanRead("a", "e"));
  EXPECT_FALSE(p.CanRead("c", ""));
  EXPECT_FALSE(p.CanRead("cz", ""));
}

TEST(KeyPermissions, NoPermissionsAllowNothing) {
  KeyPermissions p;
  p.Seal();
  EXPECT_FALSE(p.CanRead("", ""));
  EXPECT_FALSE(p.CanWrite("a", "b"));
}

// ---------------------------------------------------------------- passwords and tokens

TEST(Passwords, VerifyAcceptsOnlyTheRightPasswordAndSaltsDiffer) {
  cairnpb::PasswordHash h = HashPassword("s3cret", 1000);
  EXPECT_TRUE(VerifyPassword(h, "s3cret"));
  EXPECT_FALSE(VerifyPassword(h, "s3cret "));
  EXPECT_FALSE(VerifyPassword(h, ""));
  cairnpb::PasswordHash again = HashPassword("s3cret", 1000);
  EXPECT_NE(h.salt(), again.salt());
  EXPECT_NE(h.hash(), again.hash());
  EXPECT_EQ(h.hash().find("s3cret"), std::string::npos);
  EXPECT_FALSE(VerifyPassword(cairnpb::PasswordHash(), ""));
}

TEST(Tokens, RoundTripAndTampering) {
  const std::string key = RandomBytes(32);
  TokenClaims claims{"al.ice\n", 1000, 7};
  const std::string token = IssueToken(key, claims);
  auto back = VerifyToken(key, token, 999);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->user, "al.ice\n");
  EXPECT_EQ(back->password_revision, 7u);
  EXPECT_FALSE(VerifyToken(key, token, 1000).ok());          // expired
  EXPECT_FALSE(VerifyToken(RandomBytes(32), token, 1).ok());  // another key
  EXPECT_FALSE(VerifyToken("", token, 1).ok());
  std::string forged = token;
  forged[7] = forged[7] == '6' ? '7' : '6';  // another user name, same signature
  EXPECT_FALSE(VerifyToken(key, forged, 1).ok());
  auto bad = VerifyToken(key, "garbage", 1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(bad.status().message(), "etcdserver: invalid auth token");
}

// ---------------------------------------------------------------- the replicated state

cairnpb::AuthRequest Change(const std::string& user = "") {
  cairnpb::AuthRequest r;
  r.set_user(user);
  return r;
}

void MustApply(cairnpb::AuthState* s, const cairnpb::AuthRequest& r) {
  absl::Status st = ApplyAuthChange(s, r);
  ASSERT_TRUE(st.ok()) << st << " applying " << r.ShortDebugString();
}

cairnpb::AuthRequest AddUser(const std::string& name, const std::string& password) {
  auto r = Change();
  r.mutable_user_add()->set_name(name);
  *r.mutable_user_add()->mutable_password() = HashPassword(password, 1000);
  return r;
}
cairnpb::AuthRequest AddRole(const std::string& name) {
  auto r = Change();
  r.mutable_role_add()->set_name(name);
  return r;
}
cairnpb::AuthRequest Grant(const std::string& user, const std::string& role) {
  auto r = Change();
  r.mutable_user_grant_role()->set_user(user);
  r.mutable_user_grant_role()->set_role(role);
  return r;
}
cairnpb::AuthRequest GrantPerm(const std::string& role, authpb::Permission perm) {
  auto r = Change();
  r.mutable_role_grant_permission()->set_name(role);
  *r.mutable_role_grant_permission()->mutable_perm() = std::move(perm);
  return r;
}
cairnpb::AuthRequest Enable(const std::string& user = "") {
  auto r = Change(user);
  r.mutable_enable();
  r.set_token_key(RandomBytes(32));
  return r;
}

TEST(AuthState, EnableNeedsRootUserWithRootRole) {
  cairnpb::AuthState s;
  EXPECT_EQ(ApplyAuthChange(&s, Enable()).message(), "etcdserver: root user does not exist");
  MustApply(&s, AddUser("root", "pw"));
  EXPECT_EQ(ApplyAuthChange(&s, Enable()).message(), "etcdserver: root user does not have root role");
  MustApply(&s, Grant("root", "root"));  // the root role needs no record
  const uint64_t revision = s.revision();
  MustApply(&s, Enable());
  EXPECT_TRUE(s.enabled());
  EXPECT_EQ(s.revision(), revision);  // as etcd: enabling is not an auth revision
  // Once enabled, changes need root.
  EXPECT_EQ(ApplyAuthChange(&s, AddRole("x")).message(), "etcdserver: user name is empty");
  EXPECT_EQ(ApplyAuthChange(&s, [] { auto r = AddRole("x"); r.set_user("nobody"); return r; }()).message(),
            "etcdserver: user name not found");
  auto as_root = AddRole("x");
  as_root.set_user("root");
  MustApply(&s, as_root);
  EXPECT_EQ(s.revision(), revision + 1);
}

TEST(AuthState, UserAndRoleLifecycleWithEtcdErrors) {
  cairnpb::AuthState s;
  MustApply(&s, AddUser("bob", "pw"));
  MustApply(&s, AddUser("alice", "pw"));
  EXPECT_EQ(ApplyAuthChange(&s, AddUser("bob", "x")).message(), "etcdserver: user name already exists");
  EXPECT_EQ(ApplyAuthChange(&s, AddUser("", "x")).message(), "etcdserver: user name is empty");
  ASSERT_EQ(s.users_size(), 2);
  EXPECT_EQ(s.users(0).name(), "alice");  // kept sorted
  MustApply(&s, AddRole("r"));
  EXPECT_EQ(ApplyAuthChange(&s, AddRole("r")).message(), "etcdserver: role name already exists");
  EXPECT_EQ(ApplyAuthChange(&s, AddRole("")).message(), "etcdserver: role name is empty");
  EXPECT_EQ(ApplyAuthChange(&s, Grant("alice", "nope")).message(), "etcdserver: role name not found");
  EXPECT_EQ(ApplyAuthChange(&s, Grant("carol", "r")).message(), "etcdserver: user name not found");
  MustApply(&s, Grant("alice", "r"));
  const uint64_t revision = s.revision();
  MustApply(&s, Grant("alice", "r"));  // again: nothing changes
  EXPECT_EQ(s.revision(), revision);
  MustApply(&s, GrantPerm("r", Perm(authpb::Permission::READ, "k")));
  MustApply(&s, GrantPerm("r", Perm(authpb::Permission::WRITE, "k")));  // same range: type replaced
  ASSERT_EQ(FindRole(s, "r")->keypermission_size(), 1);
  EXPECT_EQ(FindRole(s, "r")->keypermission(0).permtype(), authpb::Permission::WRITE);
  auto revoke = Change();
  revoke.mutable_role_revoke_permission()->set_role("r");
  revoke.mutable_role_revoke_permission()->set_key("other");
  EXPECT_EQ(ApplyAuthChange(&s, revoke).message(), "etcdserver: permission is not granted to the role");
  auto revoke_role = Change();
  revoke_role.mutable_user_revoke_role()->set_name("bob");
  revoke_role.mutable_user_revoke_role()->set_role("r");
  EXPECT_EQ(ApplyAuthChange(&s, revoke_role).message(), "etcdserver: role is not granted to the user");
  // Deleting a role takes it from its users.
  auto del_role = Change();
  del_role.mutable_role_delete()->set_role("r");
  MustApply(&s, del_role);
  EXPECT_EQ(FindUser(s, "alice")->roles_size(), 0);
  EXPECT_EQ(ApplyAuthChange(&s, del_role).message(), "etcdserver: role name not found");
  auto del_user = Change();
  del_user.mutable_user_delete()->set_name("bob");
  MustApply(&s, del_user);
  EXPECT_EQ(ApplyAuthChange(&s, del_user).message(), "etcdserver: user name not found");
}

TEST(AuthState, RootCannotBeRemovedWhileEnabled) {
  cairnpb::AuthState s;
  MustApply(&s, AddUser("root", "pw"));
  MustApply(&s, AddRole("root"));
  MustApply(&s, Grant("root", "root"));
  MustApply(&s, Enable());
  auto del = Change("root");
  del.mutable_user_delete()->set_name("root");
  EXPECT_EQ(ApplyAuthChange(&s, del).message(), "etcdserver: invalid auth management");
  auto del_role = Change("root");
  del_role.mutable_role_delete()->set_role("root");
  EXPECT_EQ(ApplyAuthChange(&s, del_role).message(), "etcdserver: invalid auth management");
  auto revoke = Change("root");
  revoke.mutable_user_revoke_role()->set_name("root");
  revoke.mutable_user_revoke_role()->set_role("root");
  EXPECT_EQ(ApplyAuthChange(&s, revoke).message(), "etcdserver: invalid auth management");
  auto disable = Change("root");
  disable.mutable_disable();
  MustApply(&s, disable);
  MustApply(&s, del);  // allowed once disabled
}

// ---------------------------------------------------------------- Authority

// An AuthContext as gRPC builds it for a TLS peer whose client certificate verified.
class FakeTlsContext final : public grpc::AuthContext {
 public:
  FakeTlsContext(bool authenticated, std::string cn) : authenticated_(authenticated), cn_(std::move(cn)) {}
  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {cn_}; }
  std::string GetPeerIdentityPropertyName() const override { return "x509_common_name"; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    if (name == "x509_common_name") return {cn_};
    return {};
  }
  grpc::AuthPropertyIterator begin() const override { return Empty(); }
  grpc::AuthPropertyIterator end() const override { return Empty(); }
  void AddProperty(const std::string&, const grpc::string_ref&) override {}
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  struct EmptyIterator : grpc::AuthPropertyIterator {};
  static grpc::AuthPropertyIterator Empty() { return EmptyIterator(); }
  bool authenticated_;
  std::string cn_;
};

class AuthorityTest : public ::testing::Test {
 protected:
  AuthorityTest() : authority_(Options()) {}

  AuthorityOptions Options() {
    AuthorityOptions o;
    o.token_ttl_seconds = 60;
    o.now_unix = [this] { return now_; };
    o.lease_keys = [](int64_t lease) {
      return lease == 7 ? std::vector<std::string>{"app/1", "secret"} : std::vector<std::string>{"app/2"};
    };
    return o;
  }

  void SetUp() override {
    MustApply(&state_, AddUser("root", "rootpw"));
    MustApply(&state_, Grant("root", "root"));
    MustApply(&state_, AddUser("alice", "alicepw"));
    MustApply(&state_, AddRole("app"));
    MustApply(&state_, GrantPerm("app", Perm(authpb::Permission::READWRITE, "app/", "app0")));
    MustApply(&state_, GrantPerm("app", Perm(authpb::Permission::READ, "shared")));
    MustApply(&state_, Grant("alice", "app"));
    auto bob = Change();
    bob.mutable_user_add()->set_name("bob");
    bob.mutable_user_add()->mutable_options()->set_no_password(true);
    MustApply(&state_, bob);
    Reload();
  }

  void Reload() { ASSERT_TRUE(authority_.Load(state_.SerializeAsString()).ok()); }
  void EnableAuth() {
    MustApply(&state_, Enable());
    Reload();
  }

  absl::StatusOr<Caller> WithToken(const std::string& token, const grpc::AuthContext* tls = nullptr) {
    metadata_storage_ = token;
    std::multimap<grpc::string_ref, grpc::string_ref> md;
    md.emplace("token", grpc::string_ref(metadata_storage_));
    return authority_.Identify(md, tls);
  }

  int64_t now_ = 1000;
  cairnpb::AuthState state_;
  Authority authority_;
  std::string metadata_storage_;
};

TEST_F(AuthorityTest, DisabledAllowsEverythingAndIssuesNoTokens) {
  EXPECT_FALSE(authority_.enabled());
  EXPECT_TRUE(authority_.CheckKeys("", "secret", "", true).ok());
  EXPECT_EQ(authority_.Authenticate("alice", "alicepw").status().message(),
            "etcdserver: authentication is not enabled");
}

TEST_F(AuthorityTest, AuthenticateChecksPasswordsAndTokensIdentify) {
  EnableAuth();
  EXPECT_EQ(authority_.Authenticate("alice", "nope").status().message(),
            "etcdserver: authentication failed, invalid user ID or password");
  EXPECT_EQ(authority_.Authenticate("nobody", "x").status().message(),
            "etcdserver: authentication failed, invalid user ID or password");
  auto bob = authority_.Authenticate("bob", "");
  EXPECT_EQ(bob.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(bob.status().message(), "auth: authentication failed, password was given for no password user");
  auto token = authority_.Authenticate("alice", "alicepw");
  ASSERT_TRUE(token.ok()) << token.status();
  auto caller = WithToken(*token);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->user, "alice");
  now_ += 61;  // past the TTL
  EXPECT_EQ(WithToken(*token).status().message(), "etcdserver: invalid auth token");
}

TEST_F(AuthorityTest, PasswordChangeAndDeletionInvalidateTokens) {
  EnableAuth();
  auto token = authority_.Authenticate("alice", "alicepw");
  ASSERT_TRUE(token.ok());
  auto change = Change("root");
  change.mutable_user_change_password()->set_name("alice");
  *change.mutable_user_change_password()->mutable_password() = HashPassword("new", 1000);
  MustApply(&state_, change);
  Reload();
  EXPECT_FALSE(WithToken(*token).ok());
  EXPECT_FALSE(authority_.Authenticate("alice", "alicepw").ok());
  token = authority_.Authenticate("alice", "new");
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(WithToken(*token).ok());
  auto del = Change("root");
  del.mutable_user_delete()->set_name("alice");
  MustApply(&state_, del);
  Reload();
  EXPECT_EQ(WithToken(*token).status().message(), "etcdserver: invalid auth token");
}

TEST_F(AuthorityTest, KeyChecksFollowRolesAndRootBypasses) {
  EnableAuth();
  EXPECT_EQ(authority_.CheckKeys("", "app/x", "", false).message(), "etcdserver: user name is empty");
  EXPECT_TRUE(authority_.CheckKeys("alice", "app/x", "", true).ok());
  EXPECT_TRUE(authority_.CheckKeys("alice", "app/", "app0", false).ok());
  EXPECT_TRUE(authority_.CheckKeys("alice", "shared", "", false).ok());
  EXPECT_EQ(authority_.CheckKeys("alice", "shared", "", true).message(), "etcdserver: permission denied");
  EXPECT_EQ(authority_.CheckKeys("alice", "", kFromKey, false).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(authority_.CheckKeys("nobody", "app/x", "", false).message(), "etcdserver: permission denied");
  EXPECT_TRUE(authority_.CheckKeys("root", "", kFromKey, true).ok());
}

TEST_F(AuthorityTest, TlsCommonNameIsTheUserWhenNoTokenIsSent) {
  EnableAuth();
  std::multimap<grpc::string_ref, grpc::string_ref> none;
  FakeTlsContext verified(true, "alice");
  auto caller = authority_.Identify(none, &verified);
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->user, "alice");
  // An unverified peer's certificate names nobody.
  FakeTlsContext unverified(false, "root");
  caller = authority_.Identify(none, &unverified);
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->user, "");
  // A token wins over the certificate; a bad token fails even with a good certificate.
  auto token = authority_.Authenticate("root", "rootpw");
  ASSERT_TRUE(token.ok());
  caller = WithToken(*token, &verified);
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->user, "root");
  EXPECT_FALSE(WithToken("garbage", &verified).ok());
}

TEST_F(AuthorityTest, AuthorizationHeaderIsAcceptedToo) {
  EnableAuth();
  auto token = authority_.Authenticate("alice", "alicepw");
  ASSERT_TRUE(token.ok());
  std::multimap<grpc::string_ref, grpc::string_ref> md;
  md.emplace("authorization", grpc::string_ref(*token));
  auto caller = authority_.Identify(md, nullptr);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->user, "alice");
}

TEST_F(AuthorityTest, ReloadSeesDisable) {
  EnableAuth();
  EXPECT_TRUE(authority_.enabled());
  auto disable = Change("root");
  disable.mutable_disable();
  MustApply(&state_, disable);
  Reload();
  EXPECT_FALSE(authority_.enabled());
  EXPECT_TRUE(authority_.CheckKeys("", "secret", "", true).ok());
}

}  // namespace
}  // namespace cairn::auth
