# cairn_raft: the consensus state machine (pure: no threads, no I/O, no clock) and MemoryStorage.
add_library(cairn_raft STATIC
  ${CMAKE_CURRENT_LIST_DIR}/storage.cc
  ${CMAKE_CURRENT_LIST_DIR}/memory_storage.cc
  ${CMAKE_CURRENT_LIST_DIR}/log.cc
  ${CMAKE_CURRENT_LIST_DIR}/progress.cc
  ${CMAKE_CURRENT_LIST_DIR}/raft.cc
  ${CMAKE_CURRENT_LIST_DIR}/handle_vote.cc
  ${CMAKE_CURRENT_LIST_DIR}/replication.cc
  ${CMAKE_CURRENT_LIST_DIR}/handle_append.cc
  ${CMAKE_CURRENT_LIST_DIR}/read_index.cc
  ${CMAKE_CURRENT_LIST_DIR}/transfer.cc
  ${CMAKE_CURRENT_LIST_DIR}/conf_change.cc
  ${CMAKE_CURRENT_LIST_DIR}/raw_node.cc)
target_link_libraries(cairn_raft PUBLIC cairn_api absl::status absl::statusor absl::synchronization)
