// A service instance as stored by `cairnctl service register`: key
// /services/<name>/<id>, value a small JSON object
//   {"name":"web","id":"1","address":"10.0.0.5:8080","meta":{"zone":"a"}}
// attached to a lease that the registering process keeps alive.
// Pure value type; thread-compatible.
#ifndef CAIRN_TOOLS_CTL_SERVICE_RECORD_H_
#define CAIRN_TOOLS_CTL_SERVICE_RECORD_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace cairn::ctl {

inline constexpr char kServicesPrefix[] = "/services/";

struct ServiceInstance {
  std::string name;
  std::string id;
  std::string address;
  std::map<std::string, std::string> meta;

  std::string Key() const { return std::string(kServicesPrefix) + name + "/" + id; }
  std::string ToJson() const;
  // "k=v,k2=v2" (sorted by key), or "" without metadata.
  std::string MetaText() const;
  // Parses ToJson()'s format (any JSON object with string members is accepted; unknown
  // members are ignored). Name and id fall back to the key's path when absent.
  static absl::StatusOr<ServiceInstance> Parse(const std::string& key, const std::string& json);
};

}  // namespace cairn::ctl

#endif  // CAIRN_TOOLS_CTL_SERVICE_RECORD_H_
