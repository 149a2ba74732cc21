// JSON exactly as Go's encoding/json writes etcd's generated structs, which is what
// `etcdctl -w json` prints: proto field names as keys in declaration order, empty values
// omitted (omitempty), bytes as base64, enums as numbers, 64-bit integers as plain numbers,
// oneofs as {"<Oneof>":{"<Field>":...}}. Fields that etcd 3.4 does not know are left out
// so the output matches etcdctl 3.4 against any server.
// Pure functions; thread-safe.
#ifndef CAIRN_TOOLS_CTL_JSON_WRITER_H_
#define CAIRN_TOOLS_CTL_JSON_WRITER_H_

#include <string>
#include <utility>
#include <vector>

namespace google::protobuf {
class Message;
}

namespace cairn::ctl {

// Go-json encoding of a string (escapes <, >, & and control characters like encoding/json).
std::string JsonString(const std::string& s);
// The message as a JSON object.
std::string MessageJson(const google::protobuf::Message& m);
// The message's members without the surrounding braces (for Go structs that embed a
// header and add fields of their own); empty when nothing is set.
std::string MessageJsonMembers(const google::protobuf::Message& m);

// Builds an object from already-encoded members: {"k":v,...}.
class JsonObject {
 public:
  JsonObject& Raw(const std::string& key, const std::string& json);
  JsonObject& Members(const std::string& members);  // appends "a":1,"b":2 text as is
  std::string str() const;

 private:
  std::vector<std::string> parts_;
};

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_JSON_WRITER_H_
