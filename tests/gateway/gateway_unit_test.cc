// The gateway's pure logic: which method each etcd path reaches, JSON in the shape etcd's
// grpc-gateway reads and writes, its error bodies and HTTP statuses, and the HTTP/1.1 framing.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "etcdserverpb/rpc.pb.h"
#include "server/gateway/http_message.h"
#include "server/gateway/json_codec.h"
#include "server/gateway/routes.h"
#include "v3electionpb/v3election.pb.h"
#include "v3lockpb/v3lock.pb.h"

namespace cairn::gateway {
namespace {

TEST(Routes, EveryRouteNamesAMethodOfTheApiWithItsStreamingShape) {
  // Linked in so that their descriptors are in the generated pool.
  (void)v3lockpb::LockRequest::descriptor();
  (void)v3electionpb::CampaignRequest::descriptor();
  size_t count = 0;
  const Route* routes = AllRoutes(&count);
  ASSERT_GE(count, 45u);
  std::set<std::string> paths;
  for (size_t i = 0; i < count; ++i) {
    const auto* method = MethodOf(routes[i]);
    ASSERT_NE(method, nullptr) << routes[i].path;
    EXPECT_TRUE(paths.insert(routes[i].path).second) << "duplicate " << routes[i].path;
    const bool server_streams = method->server_streaming();
    const bool client_streams = method->client_streaming();
    switch (routes[i].shape) {
      case CallShape::kUnary:
        EXPECT_FALSE(server_streams || client_streams) << routes[i].path;
        break;
      case CallShape::kServerStream:
        EXPECT_TRUE(server_streams && !client_streams) << routes[i].path;
        break;
      case CallShape::kBidiStream:
        EXPECT_TRUE(server_streams && client_streams) << routes[i].path;
        break;
    }
  }
}

TEST(Routes, EtcdPathsReachTheirMethods) {
  struct Case {
    const char* path;
    const char* method;
  } cases[] = {
      {"/v3/kv/range", "/etcdserverpb.KV/Range"},
      {"/v3/kv/compaction", "/etcdserverpb.KV/Compact"},
      {"/v3/kv/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke"},
      {"/v3/lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive"},
      {"/v3/maintenance/hash", "/etcdserverpb.Maintenance/Hash"},  // HashKV is shadowed in etcd too
      {"/v3/maintenance/transfer-leadership", "/etcdserverpb.Maintenance/MoveLeader"},
      {"/v3/auth/user/changepw", "/etcdserverpb.Auth/UserChangePassword"},
      {"/v3/auth/role/grant", "/etcdserverpb.Auth/RoleGrantPermission"},
      {"/v3/lock/lock", "/v3lockpb.Lock/Lock"},
      {"/v3/election/observe", "/v3electionpb.Election/Observe"},
      {"/v3/watch", "/etcdserverpb.Watch/Watch"},
  };
  for (const Case& c : cases) {
    RouteMatch m = MatchRoute("POST", c.path);
    ASSERT_EQ(m.match, Match::kRoute) << c.path;
    EXPECT_STREQ(m.route->grpc_method, c.method);
  }
}

TEST(Routes, V3betaIsServedAsV3AndQueryStringsAreIgnored) {
  RouteMatch m = MatchRoute("POST", "/v3beta/kv/put?pretty");
  ASSERT_EQ(m.match, Match::kRoute);
  EXPECT_STREQ(m.route->grpc_method, "/etcdserverpb.KV/Put");
}

TEST(Routes, UnknownPathsAndMethodsAnswerAsGrpcGatewayDoes) {
  EXPECT_EQ(MatchRoute("POST", "/v3/kv/nothing").match, Match::kNotFound);
  EXPECT_EQ(MatchRoute("POST", "/v3/kv/range/").match, Match::kNotFound);
  EXPECT_EQ(MatchRoute("GET", "/v3/kv/range").match, Match::kMethodNotAllowed);
  EXPECT_EQ(MatchRoute("PUT", "/v3/watch").match, Match::kMethodNotAllowed);
  EXPECT_EQ(MatchRoute("POST", "/v2/keys").match, Match::kNotGateway);
  EXPECT_EQ(MatchRoute("POST", "/v3").match, Match::kNotGateway);
}

TEST(JsonCodec, ReadsEtcdStyleRequestsIgnoringUnknownFields) {
  etcdserverpb::RangeRequest range;
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v","range_end":"Zm9w","limit":"5","bogus":{"x":1}})", &range).ok());
  EXPECT_EQ(range.key(), "foo");
  EXPECT_EQ(range.range_end(), "fop");
  EXPECT_EQ(range.limit(), 5);
  etcdserverpb::LeaseGrantRequest grant;
  ASSERT_TRUE(JsonToMessage(R"({"TTL":30,"ID":"77"})", &grant).ok());  // int64 as number or string
  EXPECT_EQ(grant.ttl(), 30);
  EXPECT_EQ(grant.id(), 77);
  etcdserverpb::TxnRequest txn;
  ASSERT_TRUE(JsonToMessage(
      R"({"compare":[{"key":"Zm9v","result":"EQUAL","target":"VALUE","value":"YmFy"}],
          "success":[{"request_put":{"key":"Zm9v","value":"YmF6"}}]})", &txn).ok());
  ASSERT_EQ(txn.compare_size(), 1);
  EXPECT_EQ(txn.compare(0).target(), etcdserverpb::Compare::VALUE);
  EXPECT_EQ(txn.compare(0).value(), "bar");
  EXPECT_EQ(txn.success(0).request_put().value(), "baz");
}

TEST(JsonCodec, BlankBodyIsAnEmptyRequestAndMalformedJsonIsInvalidArgument) {
  etcdserverpb::RangeRequest range;
  EXPECT_TRUE(JsonToMessage("  \n", &range).ok());
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v")", &range).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JsonToMessage(R"({"limit":"many"})", &range).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JsonToMessage("[1,2]", &range).code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonCodec, ReadsTheFirstValueOfABodyAsJsonpbDoes) {
  // Found by tests/compat/test_differential_gateway.py against etcd 3.4.
  etcdserverpb::RangeRequest range;
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v"} garbage)", &range).ok());  // what follows is ignored
  EXPECT_EQ(range.key(), "foo");
  range.Clear();
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v"}{"key":"YmFy"})", &range).ok());
  EXPECT_EQ(range.key(), "foo");
  range.Clear();
  EXPECT_TRUE(JsonToMessage(" null ", &range).ok());  // an empty request
  EXPECT_EQ(range.ByteSizeLong(), 0u);
  EXPECT_EQ(JsonToMessage("[]", &range).message(),
            "json: cannot unmarshal array into Go value of type map[string]json.RawMessage");
  EXPECT_EQ(JsonToMessage("123", &range).message(),
            "json: cannot unmarshal number into Go value of type map[string]json.RawMessage");
  EXPECT_EQ(JsonToMessage("garbage", &range).code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonCodec, NullMembersAreAbsentEvenInAOneof) {
  // {"target":"CREATE","create_revision":"7","lease":null}: protobuf's parser alone set the
  // oneof to lease 0, losing create_revision; jsonpb leaves lease out.
  etcdserverpb::Compare compare;
  ASSERT_TRUE(JsonToMessage(R"({"target":"CREATE","key":"eno=","createRevision":7,"lease":null,"x":null})",
                            &compare).ok());
  EXPECT_EQ(compare.target_union_case(), etcdserverpb::Compare::kCreateRevision);
  EXPECT_EQ(compare.create_revision(), 7);
  etcdserverpb::TxnRequest txn;
  ASSERT_TRUE(JsonToMessage(R"({"success":[{"request_put":null,"request_range":{"key":"Zm9v","limit":null}}]})",
                            &txn).ok());
  ASSERT_EQ(txn.success_size(), 1);
  EXPECT_TRUE(txn.success(0).has_request_range());
  EXPECT_EQ(txn.success(0).request_range().key(), "foo");
}

TEST(JsonCodec, RefusesWhatJsonpbRefusesInGosWords) {
  etcdserverpb::RangeRequest range;
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v","sort_order":"BOGUS"})", &range).message(),
            "unknown value \"BOGUS\" for enum etcdserverpb.RangeRequest_SortOrder");
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v","keys_only":"true"})", &range).message(),
            "json: cannot unmarshal string into Go value of type bool");
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v","limit":1.5})", &range).message(),
            "json: cannot unmarshal number 1.5 into Go value of type int64");
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v","limit":"1e3"})", &range).message(),
            "json: cannot unmarshal number 1e3 into Go value of type int64");
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v","limit":99999999999999999999})", &range).message(),
            "json: cannot unmarshal number 99999999999999999999 into Go value of type int64");
  EXPECT_EQ(JsonToMessage(R"({"key":123})", &range).message(),
            "json: cannot unmarshal number into Go value of type []uint8");
  etcdserverpb::TxnRequest txn;
  EXPECT_EQ(JsonToMessage(R"({"compare":{"key":"Zm9v"}})", &txn).message(),
            "json: cannot unmarshal object into Go value of type []json.RawMessage");
  EXPECT_EQ(JsonToMessage(R"({"success":[{"request_put":"x"}]})", &txn).message(),
            "json: cannot unmarshal string into Go value of type map[string]json.RawMessage");
  etcdserverpb::WatchRequest watch;
  EXPECT_EQ(JsonToMessage(R"({"create_request":{"key":"Zm9v","filters":["NOPUT","BOGUS"]}})", &watch).message(),
            "unknown value \"BOGUS\" for enum etcdserverpb.WatchCreateRequest_FilterType");
}

TEST(JsonCodec, Base64AsGosDecoderReadsIt) {
  etcdserverpb::RangeRequest range;
  const auto error = [&](const char* json) { return std::string(JsonToMessage(json, &range).message()); };
  EXPECT_EQ(error(R"({"key":"Zm9"})"), "illegal base64 data at input byte 0");  // padding required
  EXPECT_EQ(error(R"({"key":"Zm9v-_"})"), "illegal base64 data at input byte 4");  // not URL-safe
  EXPECT_EQ(error(R"({"key":"Zm9v=="})"), "illegal base64 data at input byte 4");
  EXPECT_EQ(error(R"({"key":"Zg=x"})"), "illegal base64 data at input byte 2");
  EXPECT_EQ(error(R"({"key":"Zg==Zg=="})"), "illegal base64 data at input byte 4");
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v\r\nYmFy","range_end":"Zg=\n="})", &range).ok());
  EXPECT_EQ(range.key(), "foobar");
  EXPECT_EQ(range.range_end(), "f");
  ASSERT_TRUE(JsonToMessage(R"({"key":[102,111,111]})", &range).ok());  // Go reads an array as bytes
  EXPECT_EQ(range.key(), "foo");
  EXPECT_EQ(error(R"({"key":[102,256]})"), "json: cannot unmarshal number 256 into Go value of type uint8");
}

TEST(JsonCodec, FieldNamesAndSyntaxAsJsonpb) {
  etcdserverpb::RangeRequest range;
  // Both names given: the lowerCamel one is taken, wherever it stands; escapes in names decoded.
  ASSERT_TRUE(JsonToMessage(R"({"countOnly":false,"ke\u0079":"Zm9v","count_only":true})", &range).ok());
  EXPECT_FALSE(range.count_only());
  EXPECT_EQ(range.key(), "foo");
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v",})", &range).message(),
            "invalid character '}' looking for beginning of object key string");
  EXPECT_EQ(JsonToMessage("{'key':'Zm9v'}", &range).message(),
            "invalid character '\\'' looking for beginning of object key string");
  EXPECT_EQ(JsonToMessage(R"({"key":"Zm9v")", &range).message(), "unexpected EOF");
  EXPECT_EQ(JsonToMessage(R"({"limit":12x})", &range).message(), "invalid character 'x' after object key:value pair");
  EXPECT_EQ(JsonToMessage(R"({"limit":"12x"})", &range).message(), "invalid character 'x' after top-level value");
  EXPECT_EQ(JsonToMessage(R"({"limit":"abc"})", &range).message(), "invalid character 'a' looking for beginning of value");
  EXPECT_EQ(JsonToMessage("tru", &range).message(), "unexpected EOF");
  EXPECT_EQ(JsonToMessage(R"({"sort_order":true})", &range).message(),
            "json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder");
  // Two members of one oneof: refused (etcd keeps one of them, which one by Go's map order).
  etcdserverpb::RequestOp op;
  EXPECT_EQ(JsonToMessage(R"({"request_put":{"key":"eA=="},"request_range":{"key":"Zm9v"}})", &op).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonCodec, AcceptsWhatJsonpbAccepts) {
  etcdserverpb::RangeRequest range;
  // An enum by number, known or not; an integer quoted with blanks; base64 split over lines.
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v\n","sort_order":2,"sort_target":9,"limit":" 12 "})", &range).ok());
  EXPECT_EQ(range.key(), "foo");
  EXPECT_EQ(range.sort_order(), etcdserverpb::RangeRequest::DESCEND);
  EXPECT_EQ(static_cast<int>(range.sort_target()), 9);
  EXPECT_EQ(range.limit(), 12);
  range.Clear();
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v","countOnly":true,"maxModRevision":"-9223372036854775808"})", &range).ok());
  EXPECT_TRUE(range.count_only());
  EXPECT_EQ(range.max_mod_revision(), INT64_MIN);
  etcdserverpb::PutRequest put;
  ASSERT_TRUE(JsonToMessage(R"({"key":"Zm9v","value":"","lease":"-7","prev_kv":false})", &put).ok());
  EXPECT_EQ(put.lease(), -7);
}

TEST(JsonCodec, WritesProtoFieldNamesInt64AsStringsBytesAsBase64AndOmitsDefaults) {
  etcdserverpb::RangeResponse r;
  r.mutable_header()->set_cluster_id(15118495548433857066ull);
  r.mutable_header()->set_revision(2);
  auto* kv = r.add_kvs();
  kv->set_key("foo");
  kv->set_value("bar");
  kv->set_create_revision(2);
  r.set_count(1);
  EXPECT_EQ(MessageToJson(r),
            R"({"header":{"cluster_id":"15118495548433857066","revision":"2"},)"
            R"("kvs":[{"key":"Zm9v","create_revision":"2","value":"YmFy"}],"count":"1"})");
  etcdserverpb::LeaseTimeToLiveResponse ttl;
  ttl.set_id(77);
  ttl.set_grantedttl(30);
  EXPECT_EQ(MessageToJson(ttl), R"({"ID":"77","grantedTTL":"30"})");
  EXPECT_EQ(MessageToJson(etcdserverpb::AlarmResponse()), "{}");
}

TEST(JsonCodec, ErrorBodiesAndStatusesMatchGrpcGateway) {
  EXPECT_EQ(ErrorJson(5, "etcdserver: requested lease not found"),
            R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})");
  EXPECT_EQ(ErrorJson(3, "a \"quoted\"\nline"), R"({"error":"a \"quoted\"\nline","message":"a \"quoted\"\nline","code":3})");
  EXPECT_EQ(StreamErrorJson(16, "etcdserver: invalid auth token"),
            R"({"error":{"grpc_code":16,"http_code":401,"message":"etcdserver: invalid auth token","http_status":"Unauthorized"}})");
  struct {
    int code, http;
  } map[] = {{0, 200},  {1, 408},  {2, 500},  {3, 400},  {4, 504},  {5, 404},  {6, 409},  {7, 403},  {8, 429},
             {9, 412},  {10, 409}, {11, 400}, {12, 501}, {13, 500}, {14, 503}, {15, 500}, {16, 401}, {99, 500}};
  for (auto m : map) EXPECT_EQ(HttpStatusForGrpcCode(m.code), m.http) << m.code;
}

TEST(JsonCodec, StreamResultWrapsTheMessage) {
  etcdserverpb::WatchResponse w;
  w.set_created(true);
  EXPECT_EQ(StreamResultJson(w), R"({"result":{"created":true}})");
}

TEST(JsonCodec, SplitsConsecutiveValuesOfAStreamBody) {
  auto values = SplitJsonValues(R"( {"ID":77}{"a":"}{\"x"}
 {"b":[{"c":1}]} )");
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], R"({"ID":77})");
  EXPECT_EQ(values[1], R"({"a":"}{\"x"})");
  EXPECT_EQ(values[2], R"({"b":[{"c":1}]})");
  EXPECT_TRUE(SplitJsonValues("  ").empty());
  auto cut = SplitJsonValues(R"({"x":1}{"create_request": {"key":"Zm9v")");
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_EQ(cut[1], R"({"create_request": {"key":"Zm9v")");  // left for the parser to refuse
}

TEST(JsonCodec, TakesOnlyCompleteObjectsFromABodyStillArriving) {
  std::vector<absl::string_view> out;
  const std::string body = R"( {"a":{"b":"}"}} {"c":1}{"d":)";
  const size_t consumed = TakeCompleteJsonObjects(body, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], R"({"a":{"b":"}"}})");
  EXPECT_EQ(out[1], R"({"c":1})");
  EXPECT_EQ(body.substr(consumed), R"({"d":)");
  out.clear();
  EXPECT_EQ(TakeCompleteJsonObjects(R"({"x":"")", &out), 0u);  // inside a string, escaped quote
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(TakeCompleteJsonObjects("12", &out), 0u);  // a scalar may still grow
}

TEST(HttpMessage, ParsesARequestHead) {
  std::string raw =
      "POST /v3/kv/range?x=1 HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 12\r\nAuthorization: tok.1\r\n"
      "Expect: 100-continue\r\n\r\nrest";
  size_t end = FindHeadEnd(raw);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(raw.substr(end), "rest");
  auto head = ParseRequestHead(raw.substr(0, end));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->method, "POST");
  EXPECT_EQ(head->path, "/v3/kv/range");
  EXPECT_EQ(head->content_length, 12u);
  EXPECT_EQ(head->authorization, "tok.1");
  EXPECT_TRUE(head->expect_continue);
  EXPECT_TRUE(head->keep_alive);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n"), std::string::npos);
  // No header is no token; an empty header is an empty token, which etcd refuses as invalid.
  auto none = ParseRequestHead("POST /v3/kv/range HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->authorization.has_value());
  auto empty = ParseRequestHead("POST /v3/kv/range HTTP/1.1\r\nAuthorization: \r\n\r\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->authorization, "");
}

TEST(HttpMessage, ConnectionHandlingAndMalformedHeads) {
  auto v10 = ParseRequestHead("GET /health HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(v10.ok());
  EXPECT_FALSE(v10->keep_alive);
  auto close = ParseRequestHead("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(close.ok());
  EXPECT_FALSE(close->keep_alive);
  EXPECT_FALSE(ParseRequestHead("GARBAGE\r\n\r\n").ok());
  EXPECT_FALSE(ParseRequestHead("GET /x HTTP/2.0\r\n\r\n").ok());
  EXPECT_FALSE(ParseRequestHead("GET x HTTP/1.1\r\n\r\n").ok());
  EXPECT_FALSE(ParseRequestHead("POST /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n").ok());
  EXPECT_FALSE(ParseRequestHead("POST /x HTTP/1.1\r\nNoColon\r\n\r\n").ok());
  EXPECT_FALSE(
      ParseRequestHead("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").ok());
}

TEST(HttpMessage, DecodesChunkedBodiesArrivingInPieces) {
  const std::string wire = "4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  ChunkedDecoder decoder;
  std::string input, body;
  ChunkedDecoder::Progress p = ChunkedDecoder::Progress::kNeedMore;
  for (char c : wire) {  // one byte at a time: every state must wait for more correctly
    input.push_back(c);
    p = decoder.Feed(&input, &body);
    if (p != ChunkedDecoder::Progress::kNeedMore) break;
  }
  ASSERT_EQ(p, ChunkedDecoder::Progress::kDone);
  EXPECT_EQ(body, "{\"a\":1}");
  ChunkedDecoder bad;
  std::string junk = "zz\r\n", out;
  EXPECT_EQ(bad.Feed(&junk, &out), ChunkedDecoder::Progress::kMalformed);
}

TEST(HttpMessage, FramesResponsesAndChunks) {
  EXPECT_EQ(Response(404, "text/plain; charset=utf-8", "Not Found\n", true),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\nNot Found\n");
  EXPECT_EQ(ResponseHead(200, "application/json", std::nullopt, false),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Chunk("0123456789abcdefX"), "11\r\n0123456789abcdefX\r\n");
  EXPECT_EQ(Chunk(""), "0\r\n\r\n");
}

}  // namespace
}  // namespace cairn::gateway
